# The two commands a new user needs: `make test` and `make demo`. Both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch 2.13 is on local disk here; asking for it first keeps pip from pulling a CUDA wheel.
	$(BIN)/pip install --quiet "torch==2.13.0" || $(BIN)/pip install --quiet torch
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q -m "not gpu"

demo: $(STAMP)
	$(BIN)/sana-streaming verify-official tests/fixtures/official --quiet
	$(BIN)/sana-streaming dry-run --preset tiny --chunks 6

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
