# Two commands on a fresh machine: `make app` (the planner UI) and `make test`.
# Both create ./.venv (or use the active virtual environment) and install what they need.
PYTHON ?= python3
VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: app test lint bench validate fit-stacks install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[app,dev]"
	touch $(STAMP)

install: $(STAMP)

app: $(STAMP)
	$(PY) -m streamlit run app.py --server.headless true

test: $(STAMP)
	$(PY) -m ruff check simulator tests benchmarks app.py
	$(VENV)/bin/lint-imports
	$(PY) -m mypy simulator
	$(PY) -m pytest

validate: $(STAMP)
	$(PY) benchmarks/validate_training.py
	$(PY) benchmarks/validate_inference.py
	$(PY) benchmarks/validate_cluster.py
	$(PY) benchmarks/validate_kernels.py
	$(PY) benchmarks/validate_collectives.py

# refit each stack's compute scale and step overhead on the shipped published runs and rewrite the error bands
# (workloads/stacks/*.yaml, workloads/stacks/error_bands.csv); tests/test_validation.py checks they are current
fit-stacks: $(STAMP)
	$(PY) -m simulator.validation.bands

bench: $(STAMP)
	$(PY) benchmarks/bench_search.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_serving.py
	$(PY) benchmarks/bench_cluster.py
	$(PY) benchmarks/bench_startup.py

clean:
	rm -rf .venv build *.egg-info .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
