#!/usr/bin/env bash
# Installs what the browser tests (tests/e2e) need, if missing: Debian's chromium
# (apt-get) and the Python playwright package in the project's venv.  Playwright drives
# the system chromium, so no browser is downloaded by playwright itself.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV_PY="${VENV_PY:-.venv/bin/python}"

if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then
    echo "installing chromium (apt-get)"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium
fi

if ! "$VENV_PY" -c "import playwright.sync_api" >/dev/null 2>&1; then
    echo "installing playwright into the venv"
    "$VENV_PY" -m pip install --quiet "playwright>=1.45"
fi
echo "browser tests ready: $(command -v chromium || echo /usr/bin/chromium), playwright installed"
