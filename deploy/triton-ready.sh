#!/bin/sh
# The Tritons' readiness probe (deploy/compose.yaml's healthcheck, deploy/kubernetes/triton.yaml's readinessProbe):
# exit 0 while at least one model of PHONOS_TRITON_LOAD_MODELS (deploy/triton-start.sh's list, same default) is
# ready, else 1. /v2/health/ready cannot say it: the server runs with --strict-readiness=false (one model that
# cannot load must not take the others down), so it was "ready" with no model loaded at all (no weights mounted).
# Model readiness is a health API, open without PHONOS_TRITON_API_SECRET.
#   triton-ready.sh [HTTP base URL, default http://127.0.0.1:8000]
set -u
base=${1:-http://127.0.0.1:8000}
for model in ${PHONOS_TRITON_LOAD_MODELS:-esmfold alphafold2 diffdock}; do
  if curl -fsS -o /dev/null --max-time 2 "$base/v2/models/$model/ready"; then
    exit 0
  fi
done
echo "no model of: ${PHONOS_TRITON_LOAD_MODELS:-esmfold alphafold2 diffdock} is ready at $base" >&2
exit 1
