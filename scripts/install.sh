#!/usr/bin/env bash
# Install everything phonos needs into ./.venv (idempotent; a no-op when up to date).
#   scripts/install.sh         runtime + dev tools
# System packages (Debian): hmmer (jackhmmer for AlphaFold2 MSA search); postgresql (the server the tests
# start in a temporary directory for the PostgreSQL store, tests/postgres.py; not run as a system service).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v jackhmmer >/dev/null 2>&1 || missing+=(hmmer)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
    || echo "warning: could not install ${missing[*]} (AlphaFold2 'search' MSA mode needs hmmer; the PostgreSQL tests need postgresql)" >&2
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.phonos-installed
want=$(cat requirements.txt requirements-dev.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, from its pinned local CPU wheel; the constraints keep every later install from replacing it.
  .venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
  .venv/bin/python -m pip install -q -c constraints.txt -r requirements-dev.txt
  .venv/bin/python -m pip install -q -c constraints.txt --no-deps -e .
  .venv/bin/python - <<'PY'
import numpy, torch
assert numpy.__version__.startswith("1."), f"numpy {numpy.__version__}: the Triton python stub needs numpy < 2"
assert torch.__version__.startswith("2.13.0"), f"torch {torch.__version__} replaced the pinned 2.13.0"
PY
  echo "$want" > "$stamp"
fi
