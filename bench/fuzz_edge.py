"""The long standing fuzz of the public edge (the short one runs in tests/service/test_fuzz_edge.py).

    .venv/bin/python bench/fuzz_edge.py [--http-cases 10000] [--grpc-cases 2000] [--seed 0] [--baseline DIR]

Starts a real `python -m jobservice` (REST gateway in process; Triton left down, so `/v1/health`
answers its documented 503), sends seeded raw HTTP/1.1 and gRPC cases (tests/fuzzing.py), and
prints the answers by status, the 5xx count (goal: 0), HTTP requests that got no answer at all
(broken framing the server may rightly drop), gRPC codes, and anything that broke the rules:
non-JSON error bodies, HEAD bodies, UNKNOWN/INTERNAL, tracebacks in the server log. With
`--baseline`, the same cases run against an earlier checkout too, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from edge_common import JobServiceUnderTest, start_jobservice, trees

from tests.fuzzing import fuzz_grpc, fuzz_http

ENV = {"PHONOS_AUTH_FAILURES_PER_MINUTE": "1000000", "PHONOS_BODY_TIMEOUT_S": "2", "PHONOS_HTTP_HEADER_TIMEOUT_S": "2"}


def run(service: JobServiceUnderTest, args: argparse.Namespace) -> bool:
    key = service.new_key()
    started = time.monotonic()
    http = asyncio.run(fuzz_http(service.process.http_port, key, args.http_cases, seed=args.seed, concurrency=args.concurrency))
    http_s = time.monotonic() - started
    started = time.monotonic()
    grpc_report = asyncio.run(fuzz_grpc(service.process.grpc_target, key, args.grpc_cases, seed=args.seed,
                                        concurrency=args.concurrency))
    grpc_s = time.monotonic() - started
    alive = service.alive()
    rss = service.memory_mb() if alive else float("nan")
    service.stop()
    tracebacks = sum("Traceback" in line for line in service.log_lines)
    print(f"== {service.label}")
    print(f"HTTP fuzz: {http.sent} requests in {http_s:.1f} s (seed {args.seed})")
    print("  " + "  ".join(f"{status}: {count}" for status, count in sorted(http.statuses.items())))
    print(f"  no answer (connection closed): {http.no_answer}")
    print(f"  5xx: {http.server_errors}   (plus {http.health_503} x the documented 503 of /v1/health "
          "while Triton is down)")
    print(f"gRPC fuzz: {grpc_report.sent} calls in {grpc_s:.1f} s")
    print("  " + "  ".join(f"{code}: {count}" for code, count in sorted(grpc_report.grpc_codes.items())))
    print(f"job service: alive at the end: {alive}; peak RSS {rss:.0f} MB; "
          f"{len(service.log_lines)} log lines, {tracebacks} tracebacks")
    problems = http.problems + grpc_report.problems
    print(f"rule breaks: {len(problems)}{' (first ones below)' if problems else ''}")
    for problem in problems[:8]:
        print(f"  {problem}")
    return not problems and http.server_errors == 0 and alive and not tracebacks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http-cases", type=int, default=10_000)
    parser.add_argument("--grpc-cases", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout to fuzz the same way, side by side")
    args = parser.parse_args()
    clean = True
    for tree in trees(args.baseline):
        with tempfile.TemporaryDirectory() as tmp:
            service = start_jobservice(tree, Path(tmp) / "var", ENV)
            try:
                ok = run(service, args)
            finally:
                service.stop()
        clean &= ok or tree != trees(None)[0]  # only this tree has to be clean
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
