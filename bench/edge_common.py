"""Shared by the edge benchmarks: a real `python -m jobservice` started from a given source tree.

Each edge figure can be measured side by side against an earlier checkout (`--baseline DIR`, e.g.
`git worktree add /tmp/phonos-base <commit>`): the same script drives both, one after the other, in
one run. The service runs from that tree (its own code, migrations and key CLI), on free loopback
ports, with Triton left down (nothing here needs a model).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from launcher.ports import free_port  # noqa: E402
from launcher.serve import read_ready_line  # noqa: E402
from phonos_config.service import ServiceSettings  # noqa: E402
from tests.support import ServiceProcess  # noqa: E402


@dataclass
class JobServiceUnderTest:
    """A `tests.support.ServiceProcess` running some tree's code, and what the benchmarks ask of it."""

    tree: Path
    process: ServiceProcess

    @property
    def label(self) -> str:
        return "this tree" if self.tree == REPO else f"baseline ({self.tree})"

    @property
    def log_lines(self) -> list[str]:
        return self.process.log_lines

    def new_key(self, credits: int = 10**9, rate_limit: int = 10**9) -> str:
        """A key made by the tree's own CLI (its own schema)."""
        name = f"bench{os.getpid()}{next(_names)}"
        made = subprocess.run(
            [sys.executable, "-m", "launcher.cli", "keys", "create", "--data-dir", str(self.process.data_dir),
             "--username", name, "--credits", str(credits), "--rate-limit", str(rate_limit), "--json"],
            cwd=self.tree, env=self.process.env, capture_output=True, text=True, timeout=120, check=True,
        )
        return str(json.loads(made.stdout)["api_key"])

    def memory_mb(self, field_name: str = "VmHWM") -> float:
        for line in Path(f"/proc/{self.process.popen.pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def alive(self) -> bool:
        return self.process.popen.poll() is None

    def stop(self) -> None:
        self.process.stop()


_names = itertools.count()


def start_jobservice(tree: Path, data_dir: Path, extra_env: dict[str, str] | None = None) -> JobServiceUnderTest:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    env.update({"PYTHONPATH": f"{tree}{os.pathsep}{tree / 'triton_models'}", "PHONOS_MODELS": "esmfold",
                "PHONOS_DATA_DIR": str(data_dir), **(extra_env or {})})
    triton_url = f"127.0.0.1:{free_port()}"  # nothing listens there: Triton stays down
    popen = subprocess.Popen(
        [sys.executable, "-m", "jobservice", "--data-dir", str(data_dir), "--grpc-port", "0", "--http-port", "0",
         "--triton-url", triton_url],
        cwd=tree, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    log_lines: list[str] = []

    def drain() -> None:
        assert popen.stderr is not None
        for line in popen.stderr:
            log_lines.append(line.rstrip())

    threading.Thread(target=drain, daemon=True).start()
    ready = read_ready_line(popen, 120)
    if ready is None:
        popen.kill()
        raise RuntimeError(f"the job service from {tree} did not start:\n" + "\n".join(log_lines[-30:]))
    settings = ServiceSettings.from_env(env).with_overrides(data_dir=data_dir)
    process = ServiceProcess(popen, settings, int(ready["grpc_port"]), int(ready["http_port"]), triton_url, env,
                             log_lines, ready.get("metrics_port"))
    return JobServiceUnderTest(tree, process)


def trees(baseline: Path | None) -> list[Path]:
    return [REPO] if baseline is None else [REPO, baseline.resolve()]
