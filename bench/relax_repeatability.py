"""Amber relax on CPU: is it bit-repeatable, and what does one OpenMM thread cost against two? Side by side.

    PYTHONPATH=.:triton_models .venv/bin/python bench/relax_repeatability.py [--lengths 33 100] [--reps 2]

For ideal helices of each length with two side chains slid into their neighbours (tests/relax/structures.py),
it relaxes the same structure twice in one worker (so the second run follows the first, as in a job with
relax "all"), alternating PHONOS_RELAX_CPU_THREADS 1 and 2, and prints the seconds per structure inside the
worker (minimum over --reps) and how many distinct files the runs of each setting produced (1 = repeatable).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phonos_models.common.relax import relax_structures  # noqa: E402

from phonos_config.relax import RelaxSettings  # noqa: E402
from tests.relax.structures import ideal_helix_pdb, plant_clash  # noqa: E402

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", type=int, nargs="+", default=[33, 100])
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    for length in args.lengths:
        sequence = (SEQUENCE * (length // len(SEQUENCE) + 1))[:length]
        clashed = plant_clash(plant_clash(ideal_helix_pdb(sequence), mover=13, target=17), mover=18, target=22)
        seconds: dict[int, list[float]] = {1: [], 2: []}
        files: dict[int, set[str]] = {1: set(), 2: set()}
        for _ in range(args.reps):
            for threads in (1, 2):
                outcome = relax_structures([("a", clashed), ("b", clashed)],
                                           RelaxSettings(timeout_s=900, cpu_threads=threads, platform="CPU"))
                for relaxed in outcome.relaxed.values():
                    seconds[threads].append(relaxed.seconds)
                    files[threads].add(hashlib.sha256(relaxed.pdb.encode()).hexdigest())
        one, two = min(seconds[1]), min(seconds[2])
        print(json.dumps({"residues": length, "runs_per_setting": 2 * args.reps,
                          "one_thread_s": round(one, 3), "two_threads_s": round(two, 3),
                          "one/two": round(one / two, 3),
                          "distinct_files": {"one_thread": len(files[1]), "two_threads": len(files[2])}}), flush=True)


if __name__ == "__main__":
    main()
