#!/usr/bin/env bash
# The whole test suite, as `make test` and CI run it.  Installs what the tests need
# beyond the Python venv and node_modules (which `make install` provides): Debian's
# chromium for the browser tests.  Under CI=true a missing service fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

step() { printf '\n== %s\n' "$*"; }

step "contract artifacts are fresh"
$PY scripts/compile_contracts.py --check

step "ruff"
.venv/bin/ruff check ledger app scripts tests

step "mypy (ledger/)"
.venv/bin/mypy

step "browser test prerequisites"
bash scripts/install_browser.sh

step "pytest"
$PY -m pytest "$@"
