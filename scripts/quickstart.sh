#!/usr/bin/env bash
# Set up .venv from uv.lock and materialize the whole asset graph, offline, from the bundled demo archive
# (snapshots/demo/) into data/hotline_eval.duckdb. Extra arguments go to scripts/materialize_all.py.
cd "$(dirname "$0")/.."
source scripts/_setup.sh
step "installing the project into .venv from uv.lock"
sync_env --inexact   # --inexact: keep the dev tools scripts/test.sh may have added
export HOTLINE_EVAL_MODE=${HOTLINE_EVAL_MODE:-replay}
export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/.dagster_home}
step "materializing the asset graph (mode: $HOTLINE_EVAL_MODE)"
exec .venv/bin/python scripts/materialize_all.py "$@"
