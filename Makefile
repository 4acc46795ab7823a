# Two commands on a fresh machine: `make app` (the planner UI) and `make test`.
# Both create ./.venv (or use the active virtual environment) and install what they need.
PYTHON ?= python3
VENV ?= $(if $(VIRTUAL_ENV),$(VIRTUAL_ENV),.venv)
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: app notebooks test lint bench validate wheel-check fit-stacks fuzz install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[app,dev]"
	touch $(STAMP)

install: $(STAMP)

# the notebooks in JupyterLab (installed on first use: the notebooks extra) on http://localhost:8888
notebooks: $(STAMP)
	$(PY) -m pip install --quiet -e ".[notebooks]"
	$(PY) -m jupyterlab --ip localhost notebooks/

PORT ?= 8501
HOST ?= localhost

# the planner UI on http://$(HOST):$(PORT); `make app PORT=8600`, `make app HOST=0.0.0.0` to share it on a network
app: $(STAMP)
	$(PY) -m streamlit run app.py --server.headless true --server.port $(PORT) --server.address $(HOST) \
	  --browser.gatherUsageStats false --server.maxUploadSize 50

test: $(STAMP)
	$(PY) -m ruff check simulator tests benchmarks app.py
	$(VENV)/bin/lint-imports
	$(PY) -m mypy simulator
	$(PY) -m pytest

# the API fuzz tests (tests/test_api_fuzz.py) at 5,000 examples per entry point, not a few hundred as in `make test`:
# about 15 minutes on 2 cores; the statistics show each entry point's example count
FUZZ_EXAMPLES ?= 5000
fuzz: $(STAMP)
	API_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/test_api_fuzz.py -q -p no:warnings --hypothesis-show-statistics

# every part; the summary lines go into the README's validation block
validate: $(STAMP)
	$(PY) -m simulator validate --readme README.md

# build the wheel, install it into a fresh virtual environment and use it from outside the checkout: the shipped
# profiles, workloads and validation data must travel inside the wheel (.ci/run calls this after `make test`)
wheel-check: $(STAMP)
	rm -rf build/wheel-check && mkdir -p build/wheel-check
	$(PY) -m pip wheel --quiet --no-deps --wheel-dir build/wheel-check/dist .
	$(PYTHON) -m venv build/wheel-check/venv
	build/wheel-check/venv/bin/python -m pip install --quiet build/wheel-check/dist/*.whl
	cd build/wheel-check && PATH="$$PWD/venv/bin:$$PATH" sh -ec '\
	  cd /tmp && simulator list hardware >/dev/null && \
	  simulator train --model llama3.1-70b --hardware h100-sxm-80gb --gpus 64 --tp 8 --pp 2 --seq-len 8192 \
	    --global-batch 256 --json >/dev/null && \
	  simulator validate training kernels collectives >/dev/null && \
	  simulator validate cluster --seeds 1 >/dev/null && echo "wheel check: installed wheel plans and validates"'

# refit each stack's compute scale and step overhead on the shipped published runs and rewrite the error bands
# (workloads/stacks/*.yaml, workloads/stacks/error_bands.csv); tests/test_validation.py checks they are current
fit-stacks: $(STAMP)
	$(PY) -m simulator.validation.bands

# every benchmark; their result lines go into the README's Speed block (benchmarks/run_all.py)
bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf .venv build *.egg-info .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
