# Two commands on a fresh machine (see README.md):
#   make demo   # .venv + install from this repository, export resnet18 to ncnn, benchmark it, write its card
#   make test   # the whole test suite, slow tests included (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP  := $(VENV)/.zoo-installed
# llama-cpp-python (the llm extra) ships only an sdist: its wheel is built once per machine into a
# folder this Makefile owns, portable (-DGGML_NATIVE=OFF: runs on Intel and AMD CI hosts alike), and
# every install takes it from there. A wheel dropped in ../shared/wheels/ (24 MB) skips the build.
WHEELS := .cache/wheels
LLAMA  := llama-cpp-python==0.3.36
LLAMA_WHEEL := $(WHEELS)/.llama-cpp-python-0.3.36
FIND_LINKS := --find-links $(WHEELS) $(addprefix --find-links ,$(wildcard ../shared/wheels))

.PHONY: demo test test-fast install arm-emulation lint clean-cache

install: $(STAMP)

$(LLAMA_WHEEL):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	mkdir -p $(WHEELS)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
		$(BIN)/python -m pip wheel -q --no-deps -w $(WHEELS) $(FIND_LINKS) '$(LLAMA)'
	touch $@

$(STAMP): pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS)) $(LLAMA_WHEEL)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned in the export extra; pinning it on the command line as well keeps pip from
	# ever resolving a multi-GB CUDA build.
	$(BIN)/python -m pip install -q $(FIND_LINKS) 'torch==2.13.0' -e '.[export,eval,onnx,video,dev,llm]' $(addprefix -e ,$(PLUGINS))
	touch $@

demo: $(STAMP)
	$(BIN)/zoo bench resnet18 --weights random --dtype fp32 --threads 1,2

arm-emulation: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/setup-arm-emulation.sh

test: $(STAMP) arm-emulation
	$(BIN)/python -m pytest --runslow

test-fast: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check zoo plugins tests benchmarks
	$(BIN)/mypy zoo
