#!/usr/bin/env bash
# Set up .venv with the dev tools, a DuckDB 1.4 client (to prove analysts' 1.x tools can open the
# published file), then run ruff and the whole test suite. Extra arguments go to pytest.
cd "$(dirname "$0")/.."
source scripts/_setup.sh
setup_project "[dev]"
if [ ! -f .venv-duckdb14/duckdb/__init__.py ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --target .venv-duckdb14 "duckdb==1.4.5"
fi
# the browser test needs Debian's chromium and chromium-driver; CI (root, CI=true) installs them,
# elsewhere tests/test_browser.py skips with a message when they are missing
if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ] && ! command -v chromedriver >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null \
    || echo "warning: could not install chromium; tests/test_browser.py will skip" >&2
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
