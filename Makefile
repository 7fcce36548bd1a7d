# Ledgerline — the two set-up commands of the README are `make run` and `make test`.
# Each installs what it needs (a Python venv in .venv, the pinned npm toolchain in
# node_modules) and is safe to run again.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
export LEDGERLINE_INSTANCE ?= $(CURDIR)/instance

.PHONY: install run demo test lint typecheck contracts bench bench-quick clean-instance

install: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

## The demo on the embedded default: SQLite, an in-process chain, in-process Celery.
run: install
	$(PY) scripts/demo.py

## Everything CI runs: lint, types, and the whole test suite (SQLite and PostgreSQL,
## eth-tester and a Hardhat node, Redis, Celery workers, SMTP/SMPP servers, browser).
test: install
	bash scripts/test.sh

lint:
	$(VENV)/bin/ruff check ledger app scripts tests
	$(VENV)/bin/ruff format --check ledger app scripts tests

typecheck:
	$(VENV)/bin/mypy

contracts: install
	$(PY) scripts/compile_contracts.py

## Every scripts/bench_*.py at full size: bench/results.json and bench/results.md.
bench: install
	$(PY) scripts/run_benchmarks.py

bench-quick: install
	$(PY) scripts/run_benchmarks.py --quick

clean-instance:
	rm -rf instance
