#!/usr/bin/env bash
# Set up .venv from uv.lock with every extra (dev tools, benchmark baselines), a DuckDB 1.4 client from
# tools/duckdb14/uv.lock (to prove analysts' 1.x tools can open the published file), then run ruff and the
# whole test suite. Extra arguments go to pytest: `./scripts/test.sh -m "not slow"` is the fast tier.
cd "$(dirname "$0")/.."
source scripts/_setup.sh
step "installing the project, dev tools and benchmark baselines into .venv from uv.lock"
sync_env --all-extras
step "installing the DuckDB 1.4 client into .venv-duckdb14 from tools/duckdb14/uv.lock"
[ -x .venv-duckdb14/bin/python ] || rm -rf .venv-duckdb14   # an older checkout's pip --target folder
UV_PROJECT_ENVIRONMENT=$PWD/.venv-duckdb14 sync_env --project tools/duckdb14
# the browser test needs Debian's chromium and chromium-driver; CI (root, CI=true) installs them,
# elsewhere tests/test_browser.py skips with a message when they are missing
if [ "${CI:-}" = "true" ] && [ "$(id -u)" = "0" ] && ! command -v chromedriver >/dev/null 2>&1; then
  step "installing Debian's chromium and chromium-driver for the browser test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null \
    || echo "warning: could not install chromium; tests/test_browser.py will skip" >&2
fi
step "ruff"
.venv/bin/ruff check .
step "pytest $*"
exec .venv/bin/python -m pytest "$@"
