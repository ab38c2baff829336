#!/usr/bin/env bash
# Install everything phonos needs into ./.venv (idempotent; a no-op when up to date).
#   scripts/install.sh         runtime + dev tools
# System packages (Debian), each named by a command that shows it is installed:
#   hmmer (jackhmmer: AlphaFold2 MSA search; hmmsearch: templates), nghttp2-client (h2load) and wrk (benches),
#   postgresql (the server the PostgreSQL tests start in a temporary directory, tests/postgres.py; not
#   run as a system service; Debian keeps its binaries off PATH, so its initdb is looked for where they are),
#   prometheus (promtool checks deploy/ in the tests; bench/metrics_load.py scrapes with it),
#   chromium (the dashboard's browser tests drive it through Playwright; Playwright's own browser
#   download is never used).
# npm packages: the dashboard's 3D viewer (3Dmol.js) and axios (the seed's Node example client,
#   examples/node_client.js), from package-lock.json into ./node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for pair in jackhmmer:hmmer h2load:nghttp2-client wrk:wrk promtool:prometheus chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null); then
    echo "error: could not install the system packages ${missing[*]} (Debian/Ubuntu apt-get needed)" >&2
    exit 1
  fi
fi

# The dashboard serves these files from node_modules at run time: no CDN, no build step.
npm_stamp=node_modules/.phonos-lock-sha256
npm_want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$npm_stamp" ] || [ "$(cat "$npm_stamp")" != "$npm_want" ]; then
  if command -v npm >/dev/null 2>&1; then
    npm ci --no-audit --no-fund --silent
    echo "$npm_want" > "$npm_stamp"
  else
    echo "error: npm not found; the dashboard's 3D viewer is installed with it (Debian package npm)" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.phonos-installed
want=$(cat requirements.txt requirements-dev.txt constraints.txt pyproject.toml clients/python/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, from its pinned local CPU wheel; the constraints keep every later install from replacing it.
  .venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
  .venv/bin/python -m pip install -q -c constraints.txt -r requirements-dev.txt
  # setuptools warns of every editable install that same-named folders may shadow it ("Editable installation",
  # 9 lines each): this checkout is the package, so the warning is noise in the first command's output.
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -c constraints.txt --no-deps -e .
  # The client package (SDK + the users' `phonos` verbs); its one dependency, httpx, is in requirements.txt.
  PYTHONWARNINGS=ignore .venv/bin/python -m pip install -q -c constraints.txt --no-deps -e clients/python
  .venv/bin/python - <<'PY'
import numpy, torch
assert numpy.__version__.startswith("1."), f"numpy {numpy.__version__}: the Triton python stub needs numpy < 2"
assert torch.__version__.startswith("2.13.0"), f"torch {torch.__version__} replaced the pinned 2.13.0"
PY
  echo "$want" > "$stamp"
fi
