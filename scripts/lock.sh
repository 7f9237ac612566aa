#!/usr/bin/env bash
# Update the lock files after a change to pyproject.toml (or tools/duckdb14/pyproject.toml), keeping every
# version that still fits. `./scripts/lock.sh --upgrade` moves everything to the newest versions allowed;
# `--upgrade-package duckdb` just one. Run ./scripts/test.sh afterwards and commit uv.lock.
cd "$(dirname "$0")/.."
source scripts/_setup.sh
step "uv lock $* (uv.lock)"
"$UV" lock "$@"
step "uv lock $* (tools/duckdb14/uv.lock)"
"$UV" lock --project tools/duckdb14 "$@"
