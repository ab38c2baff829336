#!/usr/bin/env bash
# DiffDock at full size on one GPU: bare pipeline times (no Triton), then the same networks before
# and after the tensor-product rewrite side by side. One short run, ~3-6 minutes on an H100/H200
# class GPU, most of it building the random-weight ESM-2 650M twice.
#
#   PYTHON=/path/to/venv/bin/python bench/diffdock_gpu.sh
#
# 1. bench/diffdock_bench.py --device cuda --esm full: one complex (120 residues, 23-atom ligand,
#    10 samples, 19 steps) per configuration (v1.0 paper score model 20.2 M parameters and
#    DiffDock-S 4.1 M, each with the v1.0 confidence model), ESM-2 650M architecture with random
#    weights: seconds for featurisation, ESM, the score steps (and per step), confidence, total.
# 2. bench/diffdock_bench.py --compare $BASELINE (default ecce335, the code before the rewrite):
#    score/confidence forwards and whole sampling runs of both revisions interleaved, same weights,
#    with ratios and the largest pose/confidence differences. Needs git history, or BASELINE set to
#    a folder holding that revision's tree (e.g. made with `git archive ecce335 | tar -x -C dir`);
#    without either, this part is skipped with a note.
#
# Needs: torch with CUDA, e3nn, rdkit, gemmi, transformers in $PYTHON's environment, the repository's
# working tree and shared/reference/diffdock/params (the ymls) beside it or passed with PARAMS=dir.
# Nothing is downloaded: weights are random, so the outputs are timings only, never predictions.
# DEVICE=cpu QUICK=1 runs the same steps on the CPU at smoke-test sizes (what CI can check).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
BASELINE=${BASELINE:-ecce335}
THREADS=${THREADS:-8}

DEVICE="$DEVICE" "$PYTHON" - <<'PY'
import os, sys
import e3nn, gemmi, rdkit, torch, transformers  # noqa: F401
device = os.environ["DEVICE"]
if device.startswith("cuda"):
    if not torch.cuda.is_available():
        sys.exit(f"no CUDA device visible to torch {torch.__version__}; run on a GPU or set DEVICE=cpu QUICK=1")
    print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, e3nn {e3nn.__version__}", flush=True)
else:
    print(f"CPU run, torch {torch.__version__}, e3nn {e3nn.__version__}", flush=True)
PY

export PYTHONPATH=".:triton_models${PYTHONPATH:+:$PYTHONPATH}"
size=(--esm full)
compare_size=(--reps 5 --sampling-reps 2)
if [[ -n "${QUICK:-}" ]]; then
  size=(--quick)
  compare_size=(--quick --reps 1 --sampling-reps 1)
fi
params=()
if [[ -n "${PARAMS:-}" ]]; then params=(--params "$PARAMS"); fi

echo "== bare pipeline, full-size networks (${DEVICE}) =="
"$PYTHON" bench/diffdock_bench.py --device "$DEVICE" --threads "$THREADS" "${size[@]}" "${params[@]}" \
  --configs v1.0-paper diffdock-s

echo "== before (${BASELINE}) and after the tensor-product rewrite, interleaved (${DEVICE}) =="
if [[ -d "$BASELINE/triton_models/phonos_models" ]] || git rev-parse --verify --quiet "${BASELINE}^{commit}" >/dev/null 2>&1; then
  "$PYTHON" bench/diffdock_bench.py --device "$DEVICE" --threads "$THREADS" --esm tiny "${compare_size[@]}" \
    "${params[@]}" --compare "$BASELINE" --configs diffdock-s v1.0-paper
else
  echo "skipped: no git revision or folder '${BASELINE}' here (set BASELINE to a copy of that tree)"
fi
