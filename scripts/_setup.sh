# Shared by quickstart.sh and test.sh: create .venv with python3 (3.11+) and install the project.
# Re-installs only when pyproject.toml changed, so a second run starts at once.
set -euo pipefail
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: hotline_eval needs Python 3.11 or newer as '$PY' (set PYTHON=/path/to/python3.11)" >&2
  exit 2
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
setup_project() {  # $1: the extras to install, e.g. "" or "[dev]"
  local stamp=".venv/.installed$1"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$1"
    touch "$stamp"
  fi
}
