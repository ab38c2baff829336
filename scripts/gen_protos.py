"""Generate the Python protobuf/gRPC code for `protos/` (the one codegen command).

    python scripts/gen_protos.py           # write phonos/v1/*_pb2*.py
    python scripts/gen_protos.py --check   # exit 1 if the committed code drifted

The googleapis annotation protos come from the googleapis-common-protos wheel,
the well-known types from grpc_tools, so no network is needed.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

import google.api
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"


def include_paths() -> list[Path]:
    googleapis = Path(google.api.__path__[0]).parent.parent  # site-packages holding google/api/*.proto
    well_known = Path(str(resources.files("grpc_tools") / "_proto"))
    return [PROTO_ROOT, googleapis, well_known]


def generate(out_dir: Path) -> list[Path]:
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    args = ["protoc", *(f"-I{p}" for p in include_paths())]
    args += [f"--python_out={out_dir}", f"--pyi_out={out_dir}", f"--grpc_python_out={out_dir}"]
    args += [str(p.relative_to(PROTO_ROOT)) for p in protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(out_dir.rglob("*_pb2*.py*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail if generated code differs from the committed code")
    args = parser.parse_args()
    if not args.check:
        generate(ROOT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        drifted = [
            str(f.relative_to(tmp))
            for f in fresh
            if not (ROOT / f.relative_to(tmp)).exists() or not filecmp.cmp(f, ROOT / f.relative_to(tmp), shallow=False)
        ]
    if drifted:
        print("generated code drifted from protos/ (run python scripts/gen_protos.py):", *drifted, sep="\n  ")
        return 1
    print("generated code matches protos/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
