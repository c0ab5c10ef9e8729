#!/usr/bin/env bash
# Creates .venv with the Lambda runtime's Python minor version and installs the project.
# Idempotent: re-runs pip only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."
want="3.13"
venv=".venv"
stamp="$venv/.installed"

find_python() {
  local c
  for c in "python$want" python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c "import sys; assert sys.version_info[:2] == ($want)" 2>/dev/null; then
      command -v "$c"; return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    local v
    v=$(pyenv versions --bare 2>/dev/null | grep -E "^${want//./\\.}(\.[0-9]+)?$" | sort -V | tail -n 1 || true)
    if [ -n "$v" ]; then echo "$(pyenv root)/versions/$v/bin/python$want"; return 0; fi
  fi
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  py=$(find_python) || { echo "error: Python $want not found (the Lambda runtime is python$want); install it (e.g. 'pyenv install $want') and re-run." >&2; exit 1; }
  "$py" -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$venv/bin/pip" install -q --upgrade pip 2>/dev/null || true
  "$venv/bin/pip" install -q -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
  "$venv/bin/python" -c "import openflow_autopilot, openflow_sandbox, moto, fakesnow, psycopg" 
  touch "$stamp"
fi

# PostgreSQL server binaries for the sandbox: use what is on the machine, else Debian's package.
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's postgresql package (server binaries for the sandbox)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "error: PostgreSQL server binaries (initdb, pg_ctl) not found; install PostgreSQL 13+ and re-run." >&2
    exit 1
  fi
fi
