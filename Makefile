# Two commands on a fresh machine (see README.md):
#   make demo   # .venv + install from this repository, export resnet18 to ncnn, benchmark it, write its card
#   make test   # the whole test suite, slow tests included (what .ci/run runs)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP  := $(VENV)/.zoo-installed

.PHONY: demo test test-fast install arm-emulation lint clean-cache

install: $(STAMP)

$(STAMP): pyproject.toml $(addsuffix pyproject.toml,$(PLUGINS))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch is pinned in the export extra; pinning it on the command line as well keeps pip from
	# ever resolving a multi-GB CUDA build.
	# each plugin with its dev extra, where it has one: what its tests need (pip warns for the others)
	$(BIN)/python -m pip install -q 'torch==2.13.0' -e '.[export,eval,onnx,video,dev]' $(foreach p,$(PLUGINS),-e '$(p:/=)[dev]')
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
