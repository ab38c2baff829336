"""What one client can make the job service hold through its gRPC port, measured: two figures, optionally side by
side with a baseline tree.

    .venv/bin/python bench/grpc_pressure.py [--baseline DIR] [--downloads 40] [--result-mb 32]
                                            [--submissions 8] [--submission-mb 50]

1. Downloads: `--downloads` DownloadJobOutput calls of a `--result-mb` MB result at once from one client that reads
   none of the answers (tests/unread_grpc.py: its receive window shut). The job service's resident memory (VmRSS)
   before, while they are held, and after the client left; how many the server started and how many it refused.
2. Submissions: `--submissions` Predict calls of `--submission-mb` MB each at once from one client (a sequence too
   long for ESMFold: each is read, parsed and refused by the handler, as an oversized MSA would be validated).
   Peak resident memory (VmHWM) of a fresh job service before and after, and the status each call ended with.

Each tree's job service is the in-process service of its own tests/support.py (the in-memory inference twin: a job
completes without Triton), run in a child process from that tree, so the memory figures are that process's alone.
Defaults are the server's (PHONOS_GRPC_DOWNLOADS_PER_CLIENT 16, PHONOS_GRPC_UPLOAD_BYTES_PER_CLIENT 256 MiB, ...).
Baseline: `git worktree add /tmp/phonos-base main`, then `--baseline /tmp/phonos-base`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
DOWNLOAD = "/phonos.v1.PhonosService/DownloadJobOutput"
PREDICT = "/phonos.v1.PhonosService/Predict"


def serve(result_mb: int) -> None:
    """(In the child, from the tree under test) a job service with one completed job of a `result_mb` MB result;
    its ports, key and job on stdout; it runs until stdin closes."""
    sys.path.append(str(REPO))  # after the tree's: `tests` is a namespace package, unread_grpc may be ours alone
    from tests.support import InProcessService
    from tests.unread_grpc import job_with_output

    with tempfile.TemporaryDirectory() as tmp:
        service = InProcessService(Path(tmp), {})
        try:
            key, job_id = job_with_output(service, result_mb * MIB)
            print(json.dumps({"grpc_port": service.grpc_port, "key": key, "job_id": job_id}), flush=True)
            sys.stdin.read()
        finally:
            service.stop()


class Child:
    """A `serve` child running `tree`'s code."""

    def __init__(self, tree: Path, result_mb: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (tree, tree / "triton_models", tree / "clients/python"))
        self.popen = subprocess.Popen([sys.executable, __file__, "--serve", str(result_mb)], cwd=tree, env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.popen.stdout is not None
        ready = json.loads(self.popen.stdout.readline())
        self.port, self.key, self.job_id = int(ready["grpc_port"]), str(ready["key"]), str(ready["job_id"])

    def memory_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.popen.pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.close()
        self.popen.wait(60)


def settled_rss(child: Child, seconds: float = 2.0) -> float:
    """VmRSS once it has stopped moving (the server is still reading files and building messages for a while)."""
    last, deadline = child.memory_mb("VmRSS"), time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = child.memory_mb("VmRSS")
        if abs(now - last) < 8:
            return now
        last = now
    return last


def downloads(tree: Path, count: int, result_mb: int) -> dict[str, float]:
    from phonos.v1 import phonos_pb2 as pb
    from tests.unread_grpc import UnreadCall

    child = Child(tree, result_mb)
    try:
        before = settled_rss(child)
        message = pb.DownloadJobOutputRequest(job_id=child.job_id, format="pdb").SerializeToString()
        calls = [UnreadCall(child.port, DOWNLOAD, message, [("authorization", f"Bearer {child.key}")])
                 for _ in range(count)]
        started = sum(call.started() for call in calls)
        held = settled_rss(child)
        for call in calls:
            call.close()
        after = settled_rss(child)
    finally:
        child.stop()
    print(f"  {count} unread gRPC downloads of {result_mb} MB from one client: {started} started, "
          f"{count - started} refused; job service RSS {before:.0f} MB -> {held:.0f} MB held -> {after:.0f} MB "
          f"after the client left", flush=True)
    return {"downloads_held_mb": held - before}


def submissions(tree: Path, count: int, size_mb: int) -> dict[str, float]:
    import grpc

    from phonos.v1 import phonos_pb2 as pb

    child = Child(tree, 1)
    try:
        before = child.memory_mb("VmHWM")
        payload = pb.PredictRequest(model="esmfold", sequence="M" * (size_mb * MIB)).SerializeToString()

        async def all_at_once() -> list[str]:
            options = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
            async with grpc.aio.insecure_channel(f"127.0.0.1:{child.port}", options=options) as channel:
                call = channel.unary_unary(PREDICT)

                async def one() -> str:
                    try:
                        await call(payload, metadata=(("authorization", f"Bearer {child.key}"),), timeout=300)
                    except grpc.aio.AioRpcError as exc:
                        return str(exc.code().name)
                    return "OK"

                return list(await asyncio.gather(*(one() for _ in range(count))))

        codes = asyncio.run(all_at_once())
        peak = child.memory_mb("VmHWM")
    finally:
        child.stop()
    print(f"  {count} gRPC Predict messages of {size_mb} MB at once from one client: job service peak memory "
          f"{before:.0f} MB -> {peak:.0f} MB; answers {sorted(Counter(codes).items())}", flush=True)
    return {"submissions_peak_mb": peak}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", type=Path, help="an earlier checkout, measured the same way in this run")
    parser.add_argument("--downloads", type=int, default=40)
    parser.add_argument("--result-mb", type=int, default=32)
    parser.add_argument("--submissions", type=int, default=8)
    parser.add_argument("--submission-mb", type=int, default=50)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve(args.serve)
        return 0
    sys.path.insert(0, str(REPO))
    figures: dict[str, dict[str, Any]] = {}
    for tree in [REPO] if args.baseline is None else [REPO, args.baseline.resolve()]:
        label = "this tree" if tree == REPO else f"baseline ({tree})"
        print(f"== {label}", flush=True)
        figures[label] = {**downloads(tree, args.downloads, args.result_mb),
                          **submissions(tree, args.submissions, args.submission_mb)}
    if len(figures) == 2:
        ours, base = figures.values()
        print("== baseline -> this tree: " + "; ".join(f"{name} {base[name]:.0f} -> {ours[name]:.0f} MB"
                                                      for name in ours))
    return 0


if __name__ == "__main__":
    sys.exit(main())
