"""Tiny AlphaFold2 on CPU: time per length bucket, first call vs cached.

    python bench/alphafold2_tiny.py --buckets 64,128 [--cache-dir DIR] [--json out.json]

Per bucket: `first` = the first request of that padded length in this process
(XLA compile, or a load from the persistent cache when DIR already holds it),
`same_bucket` = a second request of another length in the same bucket (no
compile: padding reuses the program). Run twice with the same --cache-dir to
see what the persistent cache saves a restarted server. Tiny random weights:
these are timings of the machinery, not of a real prediction.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "triton_models")]

from phonos_models.alphafold2.pipeline import Engine, Request  # noqa: E402

from phonos_config.alphafold2 import AlphaFold2Settings  # noqa: E402

# Human ubiquitin, repeated as needed: any natural-looking sequence does for timing.
SEED_SEQUENCE = "MQIFVKTLTGKTITLEVEPSDTIENVKAKIQDKEGIPPDQQRLIFAGKQLEDGRTLSDYNIQKESTLHLVLRLRGG"


def sequence(length: int) -> str:
    return (SEED_SEQUENCE * (length // len(SEED_SEQUENCE) + 1))[:length]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--buckets", default="64,128")
    parser.add_argument("--preset", default="monomer", choices=("monomer", "monomer_ptm", "monomer_casp14"))
    parser.add_argument("--num-recycles", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=None, help="persistent XLA cache (default: a new empty one)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="phonos-af2-bench-cache-"))
    buckets = [int(b) for b in args.buckets.split(",")]
    engine = Engine(AlphaFold2Settings.from_env({
        "PHONOS_ALPHAFOLD2_LENGTH_BUCKETS": ",".join(map(str, buckets)),
        "PHONOS_ALPHAFOLD2_COMPILE_CACHE": str(cache),
    }))
    rows = []
    for bucket in buckets:
        lengths = (bucket - 3, max(bucket // 2 + 1, bucket - 20))
        timings = []
        for length in lengths:
            start = time.perf_counter()
            engine.predict(Request(sequence=sequence(length), model_preset=args.preset, num_recycles=args.num_recycles))
            timings.append(time.perf_counter() - start)
        rows.append({"bucket": bucket, "lengths": list(lengths), "first_s": round(timings[0], 2),
                     "same_bucket_s": round(timings[1], 3)})
        print(f"bucket {bucket:5d}: first {timings[0]:7.2f} s   same bucket (len {lengths[1]}) {timings[1]:7.3f} s", flush=True)
    report = {"preset": args.preset, "num_recycles": args.num_recycles, "cache_dir": str(cache), "rows": rows,
              "weights": "tiny random (not a real prediction)"}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
