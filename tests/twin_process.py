"""A job service and gateway on the in-memory inference twin as a process of its own, for the tests that kill it
with SIGKILL (an InProcessService is a thread of the test: it cannot be killed without the test). Run as
`python -m tests.twin_process DATA_DIR`; PHONOS_* settings from the environment; TWIN_SLOW_S, a comma-separated
list of seconds, scripts the first calls' compute times (then each call succeeds at once). It prints
`ready <base url>` and serves until it is killed."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from jobservice.memory_inference import Slow
from tests.support import InProcessService


def main(data_dir: Path) -> None:
    service = InProcessService(data_dir, {k: v for k, v in os.environ.items() if k.startswith("PHONOS_")})
    slow = [Slow(float(s)) for s in os.environ.get("TWIN_SLOW_S", "").split(",") if s]
    if slow:
        service.inference.script("esmfold", *slow)
    print(f"ready {service.base_url}", flush=True)
    threading.Event().wait()  # until SIGKILL: nothing here runs a graceful stop


if __name__ == "__main__":
    main(Path(sys.argv[1]))
