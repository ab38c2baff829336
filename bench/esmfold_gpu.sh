#!/usr/bin/env bash
# ESMFold at full size (esmfold_v1's architecture, random weights) on one GPU:
# latency at 100 and 384 aa through tritonserver (configs/gpu.pbtxt) next to the
# same model called directly in-process, as a ratio (aim: within 5 %), plus
# throughput at 100 and 200 aa: one at a time against dynamic batching with esm-fold's
# token budget (1024) and without a budget. One short run,
# ~6-10 minutes on an H100/H200 class GPU, most of it building the 3.5 B-parameter model
# (once per loaded copy) and hashing it.
#
#   PYTHON=/path/to/venv/bin/python bench/esmfold_gpu.sh [--json /tmp/esmfold_gpu.json]
#
# Needs: a CUDA build of torch, transformers, gemmi, tritonclient[grpc], nvidia-pytriton
# (tritonserver with the python backend) and numpy<2 in $PYTHON's environment, and the
# repository's working tree. Nothing is downloaded: the weights are random, so the numbers
# are timings only, never predictions (every output says so).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

"$PYTHON" - <<'PY'
import sys
import numpy, torch, transformers, tritonclient.grpc, pytriton, gemmi  # noqa: F401
if not torch.cuda.is_available():
    sys.exit(f"no CUDA device visible to torch {torch.__version__}; this benchmark needs a GPU")
if int(numpy.__version__.split(".")[0]) >= 2:
    sys.exit("numpy >= 2 breaks Triton's python stub (outputs come back empty); install numpy<2")
print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, transformers {transformers.__version__}")
PY

export PYTHONPATH=".:triton_models${PYTHONPATH:+:$PYTHONPATH}"
# An empty weights dir in the environment wins over gpu.pbtxt's path: random weights...
export PHONOS_ESMFOLD_WEIGHTS_DIR=
# ...of the full-size architecture.
export PHONOS_ESMFOLD_RANDOM_ARCHITECTURE=full
export PHONOS_ESMFOLD_NUM_THREADS=${PHONOS_ESMFOLD_NUM_THREADS:-4}

exec "$PYTHON" bench/esmfold_batching.py \
  --config-name gpu \
  --lengths 100 384 \
  --repeats 3 \
  --num-recycles 4 \
  --chunk-size 0 \
  --throughput-lengths 100 200 \
  --served-configs "1x4@2000/1024" "1x4@2000/0" \
  --requests 16 \
  --rounds 1 \
  --concurrency 16 \
  --direct --device cuda \
  "$@"
