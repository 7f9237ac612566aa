# Shared by quickstart.sh, test.sh and lock.sh: install the pinned uv, then the project's environment
# exactly as uv.lock says (`uv sync --locked`). A lock that disagrees with pyproject.toml is an error,
# never silently re-resolved: run ./scripts/lock.sh and commit uv.lock.
set -euo pipefail
UV_VERSION=0.13.9                 # the installer is pinned too: another uv could read the lock differently
PY=${PYTHON:-python3}
export UV_PYTHON_DOWNLOADS=never  # use the machine's python3, never a downloaded one
export UV_PYTHON="$PY"
export UV_NO_PROGRESS=1

step() { echo "==> $*"; }

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: hotline_eval needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi

UV=.venv-uv/bin/uv
if [ ! -x "$UV" ] || [ "$("$UV" --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  step "installing uv $UV_VERSION into .venv-uv (it installs everything else from uv.lock)"
  rm -rf .venv-uv
  "$PY" -m venv .venv-uv
  .venv-uv/bin/python -m pip install --quiet --quiet --disable-pip-version-check "uv==$UV_VERSION"  # errors only
fi

# sync_env ARGS...: install .venv from uv.lock; fails, naming the lock, when pyproject.toml changed without it
sync_env() {
  # --compile-bytecode: modules load compiled even where PYTHONDONTWRITEBYTECODE is set (about 4 s of every
  # quick start run here); compiling costs ~12 s once, when the packages are installed
  if ! "$UV" sync --locked --quiet --compile-bytecode "$@"; then
    echo "error: could not install .venv from uv.lock (above: uv's reason). If pyproject.toml changed," \
         "uv.lock is out of date: run ./scripts/lock.sh and commit uv.lock." >&2
    exit 3
  fi
}
