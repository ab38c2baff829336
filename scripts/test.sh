#!/usr/bin/env bash
# Install what is needed, then run every check CI runs: codegen drift, buf lint, ruff, the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
echo "== generated code matches protos/"
.venv/bin/python scripts/gen_protos.py --check
.venv/bin/python scripts/gen_openapi.py --check
echo "== buf lint"
scripts/lint_protos.sh
echo "== ruff"
.venv/bin/ruff check .
echo "== mypy"
.venv/bin/mypy jobservice gateway launcher phonos_config phonos_common clients/python/phonos_client
echo "== pytest"
# Two workers (pytest-xdist), each running whole test files: a file's module fixtures (a job service, a Triton, a
# browser) stay shared within it; each worker has its own session fixtures. One process kept one of CI's two cores
# idle through model runs (torch on one thread), process start-ups and waits.
exec .venv/bin/python -m pytest -q -p no:cacheprovider --durations=15 -n 2 --dist loadfile "$@"
