# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   set up .venv and write the perturbation demo to trustkit-demo/
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,bench,crepe,basicpitch,folk,scale,hf,quality]"
	$(BIN)/python -m pip install --quiet --no-deps "basic-pitch==0.4.0" "tinysoundfont==0.3.7" "hearbaseline==2021.1.1"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/trustkit demo --out trustkit-demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_perturbations.py
	$(BIN)/python benchmarks/bench_sensitivity.py
	$(BIN)/python benchmarks/bench_sensitivity.py --workers
	$(BIN)/python benchmarks/bench_transfer.py
	$(BIN)/python benchmarks/bench_fidelity.py
	$(BIN)/python benchmarks/bench_musicnn.py
	$(BIN)/python benchmarks/bench_layers.py
	$(BIN)/python benchmarks/bench_demo.py

lint: $(STAMP)
	$(BIN)/ruff check trustkit tests benchmarks examples tools

clean:
	rm -rf $(VENV) trustkit-demo .pytest_cache
