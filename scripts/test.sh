#!/usr/bin/env bash
# Set up .venv with the dev tools, a DuckDB 1.4 client (to prove analysts' 1.x tools can open the
# published file), then run ruff and the whole test suite. Extra arguments go to pytest.
cd "$(dirname "$0")/.."
source scripts/_setup.sh
setup_project "[dev]"
if [ ! -f .venv-duckdb14/duckdb/__init__.py ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --target .venv-duckdb14 "duckdb==1.4.5"
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
