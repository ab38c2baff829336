#!/bin/sh
# The Triton image's command: tritonserver on the model repository, with every API but health and metadata locked
# to PHONOS_TRITON_API_SECRET when it is set (the job services send the same secret; docs/triton-access.md). The
# list is phonos_config/triton_access.py's RESTRICTED_APIS (tests/unit/test_deploy.py holds them equal); Triton 2.51
# and later want the colon before the header's name. Arguments given are added (ports, --log-verbose=1, ...).
#   PHONOS_TRITON_MODEL_REPOSITORY  default /opt/phonos/triton_models
#   PHONOS_TRITON_LOAD_MODELS       default "esmfold alphafold2 diffdock": the models PHONOS_MODELS serves. Not esm2:
#                                   DiffDock's gpu.pbtxt embeds with its own ESM-2 (PHONOS_DIFFDOCK_ESM_TRITON_MODEL
#                                   ""), and a second ESM-2 650M would hold ~2.5 GB of every GPU for nothing. Add it
#                                   with PHONOS_DIFFDOCK_ESM_TRITON_MODEL=esm2, set on the Triton and the job services.
#   TRITONSERVER                    default tritonserver (on PATH)
# --exit-on-error=false and --strict-readiness=false, as `phonos serve` starts its Triton (launcher/triton.py): one
# model that cannot load (missing weights) must not take the others down with it, and /v2/health/ready then says
# only that the server runs. A Kubernetes pod that is not ready also loses its DNS name (triton-0.triton), and the
# job services every model on it. The probes use deploy/triton-ready.sh instead: ready while at least one of these
# models is; which one is not is /v1/health's and PhonosModelNotReady's to say.
set -eu
apis=inference,shared-memory,model-config,model-repository,statistics,trace,logging
repository=${PHONOS_TRITON_MODEL_REPOSITORY:-/opt/phonos/triton_models}
# Configs are complete (configs/gpu.pbtxt); auto-complete would import every model.py twice.
set -- "--model-repository=$repository" --model-control-mode=explicit --disable-auto-complete-config \
  --exit-on-error=false --strict-readiness=false "$@"
for model in ${PHONOS_TRITON_LOAD_MODELS:-esmfold alphafold2 diffdock}; do
  set -- "$@" "--load-model=$model"
done
if [ -n "${PHONOS_TRITON_API_SECRET:-}" ]; then
  set -- "$@" "--http-restricted-api=$apis:phonos-triton-secret=$PHONOS_TRITON_API_SECRET" \
    "--grpc-restricted-protocol=$apis:phonos-triton-secret=$PHONOS_TRITON_API_SECRET"
fi
exec "${TRITONSERVER:-tritonserver}" "$@"
