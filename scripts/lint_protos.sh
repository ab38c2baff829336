#!/usr/bin/env bash
# Lint protos/ with buf STANDARD rules, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
BUF=build/tools/node_modules/.bin/buf
if [ ! -x "$BUF" ]; then
  mkdir -p build/tools
  npm install --prefix build/tools --silent --no-audit --no-fund @bufbuild/buf@1.75 >/dev/null
fi
googleapis=$("$PY" -c 'import google.api, pathlib; print(pathlib.Path(google.api.__path__[0]).parent.parent)')
rm -rf build/third_party/googleapis && mkdir -p build/third_party/googleapis/google/api
cp "$googleapis"/google/api/{annotations,http,httpbody}.proto build/third_party/googleapis/google/api/
"$BUF" lint --path protos/phonos
echo "buf lint: protos/ clean (STANDARD)"
