#!/usr/bin/env bash
# Install what is needed, then start Triton + job service + gateway (`phonos serve`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
exec .venv/bin/phonos serve "$@"
