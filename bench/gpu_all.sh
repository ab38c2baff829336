#!/usr/bin/env bash
# Every GPU benchmark in one run, for the day a GPU is lent: served (through tritonserver) against
# bare (the same model called in process) at full size, random weights (timings only, never
# predictions). Each step runs even if an earlier one failed; a summary line per step at the end.
#
#   PYTHON=/path/to/cuda/venv/bin/python bench/gpu_all.sh [OUTDIR]     (default /tmp/phonos-gpu)
#
# Steps (about 15 minutes in all on an H100/H200 class GPU):
#   1. ESMFold   bench/esmfold_gpu.sh      latency Triton vs direct at 100/384 aa; throughput at
#                                          100/200 aa, one at a time vs dynamic batching
#   2. AlphaFold2 bench/alphafold2_gpu.py  full-size model_1 at 100/300 aa (bare; DeepMind's A100 times beside)
#   3. DiffDock  bench/diffdock_gpu.sh     written by the DiffDock work; run here when present
# Needs a CUDA torch, JAX with CUDA, tritonclient, nvidia-pytriton and numpy<2 in $PYTHON's environment.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${1:-/tmp/phonos-gpu}
mkdir -p "$OUT"
export PYTHON
export PYTHONPATH=".:triton_models${PYTHONPATH:+:$PYTHONPATH}"
declare -a SUMMARY

step() {  # step NAME COMMAND...: run, keep the log, remember how it ended and how long it took
  local name=$1; shift
  local started=$SECONDS
  echo "=== $name: $*"
  "$@" 2>&1 | tee "$OUT/$name.log"
  local status=${PIPESTATUS[0]}
  SUMMARY+=("$name: exit $status after $((SECONDS - started)) s (log $OUT/$name.log)")
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$OUT/gpu.txt"
step esmfold bash bench/esmfold_gpu.sh --json "$OUT/esmfold.json"
step alphafold2 "$PYTHON" bench/alphafold2_gpu.py --json "$OUT/alphafold2.json"
if [[ -x bench/diffdock_gpu.sh || -f bench/diffdock_gpu.sh ]]; then
  step diffdock bash bench/diffdock_gpu.sh
else
  SUMMARY+=("diffdock: bench/diffdock_gpu.sh not in this checkout yet (the DiffDock work adds it)")
fi

echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
for f in "$OUT"/esmfold.json "$OUT"/alphafold2.json; do
  [[ -f $f ]] && echo "--- $f" && cat "$f"
done
