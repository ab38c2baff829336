#!/bin/sh
# The Triton image's command: tritonserver on the model repository, with every API but health and metadata locked
# to PHONOS_TRITON_API_SECRET when it is set (the job services send the same secret; docs/triton-access.md). The
# list is phonos_config/triton_access.py's RESTRICTED_APIS (tests/unit/test_deploy.py holds them equal); Triton 2.51
# wants the colon before the header's name. Arguments given are added (ports, --log-verbose=1, ...).
#   PHONOS_TRITON_MODEL_REPOSITORY  default /opt/phonos/triton_models
#   PHONOS_TRITON_LOAD_MODELS       default "esmfold alphafold2 diffdock esm2"
#   TRITONSERVER                    default tritonserver (on PATH)
set -eu
apis=inference,shared-memory,model-config,model-repository,statistics,trace,logging
repository=${PHONOS_TRITON_MODEL_REPOSITORY:-/opt/phonos/triton_models}
set -- "--model-repository=$repository" --model-control-mode=explicit \
  --exit-on-error=false --strict-readiness=false "$@"
for model in ${PHONOS_TRITON_LOAD_MODELS:-esmfold alphafold2 diffdock esm2}; do
  set -- "$@" "--load-model=$model"
done
if [ -n "${PHONOS_TRITON_API_SECRET:-}" ]; then
  set -- "$@" "--http-restricted-api=$apis:phonos-triton-secret=$PHONOS_TRITON_API_SECRET" \
    "--grpc-restricted-protocol=$apis:phonos-triton-secret=$PHONOS_TRITON_API_SECRET"
fi
exec "${TRITONSERVER:-tritonserver}" "$@"
