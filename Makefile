# FlowCron developer commands. `make test` is the test command the README names.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
CONFIGS := $(wildcard flows/*.toml)

.PHONY: install test demo lint format flows check-flows bench dist zipapp clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,cli]'
	@touch $@

test: install
	$(PY) -m pytest

# Deploy, run and delete a flow on a real Globus account. Needs
# GLOBUS_CLIENT_ID, GLOBUS_CLIENT_SECRET and FLOWGEN_LIVE_COLLECTION (a
# collection the client may use); skips without them. Never part of `make test`.
live-test: install
	FLOWGEN_LIVE=1 $(PY) -m pytest -m live tests/live

# The main job on the embedded default: the whole FlowCron loop (flow, agent,
# job on the local executor) in seconds. `make demo DEMO_ARGS=--slurm` uses Slurm.
demo: install
	$(PY) -m flowgen.demo $(DEMO_ARGS)

lint: install
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Rebuild the committed flow JSON from every instance config in flows/.
flows: install
	@for c in $(CONFIGS); do $(VENV)/bin/flowgen build $$c || exit 1; done

# Rebuild into a temporary directory and fail with a readable diff when the
# committed JSON no longer matches what the code produces.
check-flows: install
	$(PY) -m flowgen.review.checkflows $(CONFIGS)

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# The sdist and the wheel in dist/, checked as PyPI would (twine check).
dist: install
	rm -rf dist/flowcron-*
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/flowcron-*

# The HPC agent as one file, dist/hpc-agent.pyz: copy it to a login node and
# run `python3 hpc-agent.pyz setup ...` there, with nothing installed.
zipapp: install
	$(PY) scripts/build_zipapp.py dist/hpc-agent.pyz

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache dist
