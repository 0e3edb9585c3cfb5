# Two entry points for a newcomer: `make demo` and `make test`. Both create or reuse .venv.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV) || python3 -m venv $(VENV)

# torch==2.13.0 first: a local CPU build; a bare `torch` requirement would pull a multi-GB CUDA build.
# The sweep extra (Ray, pyarrow) is part of the test environment so that the tests exercise the ray executor.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev,sweep]'
	touch $(STAMP)

# the digits demo: a mesh target and Speck, reference + timed engine each; writes build/demo/{mesh,speck}/report.html
demo: $(STAMP)
	$(BIN)/spikemesh demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check spikemesh tests benchmarks scripts

clean:
	rm -rf build dist *.egg-info
