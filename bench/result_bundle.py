"""Cost of the result plots and the bundle: seconds per plot and bundle bytes, by sequence length.

    PYTHONPATH=.:triton_models .venv/bin/python bench/result_bundle.py [--lengths 100,400,1000]

Plots are drawn from random values of the right shapes (drawing time does not depend on the values);
the ESMFold row folds a real sequence with the tiny model and builds every file, so its sizes are what a
job stores. Prints one line per length, side by side.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from phonos_models.common import plots
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.files import model_result
from phonos_models.esmfold.loading import load_model
from phonos_models.esmfold.predict import fold


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", default="100,400,1000")
    parser.add_argument("--fold-length", type=int, default=120, help="length of the real tiny ESMFold fold")
    parser.add_argument("--deep-msa", default="20000x1000", help="sequences x positions of a deep MSA's coverage plot")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    plots.plddt_png([plots.Series("warm-up", np.ones(10))], "warm-up")  # fonts, caches
    print(f"{'L':>6} {'pLDDT plot s':>13} {'PAE plot s':>11} {'coverage (512 seqs) s':>22} {'PAE png KiB':>12}")
    for length in (int(x) for x in args.lengths.split(",")):
        plddt = [plots.Series(f"model {k}", rng.uniform(0, 100, length)) for k in range(5)]
        pae = rng.uniform(0, 31, (length, length))
        non_gap, identity = rng.random((512, length)) > 0.3, rng.random(512)
        t_plddt = best_of(3, lambda s=plddt: plots.plddt_png(s, "pLDDT"))
        t_pae = best_of(3, lambda m=pae: plots.pae_png(m, "PAE"))
        t_cov = best_of(3, lambda g=non_gap, i=identity: plots.coverage_png(g, i, "MSA"))
        size = len(plots.pae_png(pae, "PAE")) / 1024
        print(f"{length:>6} {t_plddt:>13.3f} {t_pae:>11.3f} {t_cov:>22.3f} {size:>12.1f}")
    depth, width = (int(x) for x in args.deep_msa.split("x"))
    non_gap, identity = rng.random((depth, width)) > 0.3, rng.random(depth)
    t_deep = best_of(3, lambda: plots.coverage_png(non_gap, identity, "MSA"))
    print(f"coverage of a deep MSA ({depth} x {width}): {t_deep:.3f} s (cells coloured only where they land on a pixel)")
    loaded = load_model(None)
    sequence = ("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ" * 10)[: args.fold_length]
    (result,) = fold(loaded.model, [FoldJob(sequence, 1, None)])
    started = time.perf_counter()
    files = model_result(result, loaded.weights, loaded.instance).files
    elapsed = time.perf_counter() - started
    listing = ", ".join(f"{f.format} {len(f.content) / 1024:.0f} KiB" for f in files)
    print(f"ESMFold {len(sequence)} aa: every file in {elapsed:.2f} s (fold {result.fold_s:.2f} s): {listing}")


if __name__ == "__main__":
    main()
