#!/usr/bin/env bash
# Set up .venv and materialize the whole asset graph, offline, from the bundled demo archive
# (snapshots/demo/) into data/hotline_eval.duckdb. Extra arguments go to scripts/materialize_all.py.
cd "$(dirname "$0")/.."
source scripts/_setup.sh
setup_project ""
export HOTLINE_EVAL_MODE=${HOTLINE_EVAL_MODE:-replay}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
exec .venv/bin/python scripts/materialize_all.py "$@"
