"""Worker processes that build result files, so a model instance can go on to its next forward pass.

Building a job's files (structures, JSON, two PNG plots, the zip) costs ~15–25 ms at 60 aa (it cost
~0.4 s while matplotlib drew the plots), paid one request after another; built inside the model instance
it holds the instance, and with it the next batch, for that long. A `FileWorkers` pool builds them in separate
processes instead: the instance hands a finished fold over and returns to the queue, the files are built
beside the next forward pass (on another core, or while a GPU computes), and the caller sends the
request's final response when its future resolves. Every result file is still built where the model
runs (phonos_models.common.result_files); only the process differs.

Processes are started with `spawn` (the model process holds torch's thread pools and Triton's stub
threads, which `fork` would copy in an unknown state) from a real Python interpreter: inside Triton's
stub `sys.executable` is the stub itself. A worker exits when its parent goes away, even when the
parent was killed. `workers=0` builds in the calling thread (the old behaviour, kept for comparison).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("phonos.file_workers")
T = TypeVar("T")
_PARENT_POLL_S = 0.5


def python_executable(override: str = "") -> str:
    """The interpreter for a worker process: `override`, else this process's Python, else `python3` on
    PATH (inside Triton's stub `sys.executable` is the stub binary, and its PATH starts with the venv)."""
    if override:
        return override
    executable = Path(sys.executable or "")
    if executable.name.startswith("python") and executable.exists():
        return str(executable)
    return shutil.which("python3") or "python3"


def _watch_parent(parent: int) -> None:
    """Exit when the process that started this worker is gone (a killed parent never shuts the pool down)."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_S)
    os._exit(0)


def _start_worker(parent: int, warm_up: Callable[[], None] | None) -> None:
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True, name="parent-watch").start()
    if warm_up is not None:
        warm_up()  # imports and font caches, before the first real job


def _ready() -> int:
    return os.getpid()


class FileWorkers:
    """A small process pool for result files; `submit` returns a `Future` of the function's result."""

    def __init__(self, workers: int, warm_up: Callable[[], None] | None = None, python: str = "") -> None:
        if workers < 0:
            raise ValueError(f"workers must be 0 (build in the caller) or more, got {workers}")
        self.workers = workers
        self._warm_up = warm_up
        self._python = python
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        if workers:
            self._pool = self._new_pool()
            for _ in range(workers):  # start every worker now (and warm it) rather than on the first job
                self._pool.submit(_ready)

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        context.set_executable(python_executable(self._python))
        return ProcessPoolExecutor(self.workers, mp_context=context, initializer=_start_worker,
                                   initargs=(os.getpid(), self._warm_up))

    def submit(self, build: Callable[..., T], *args: Any) -> Future[T]:
        """Run `build(*args)` in a worker (arguments and result are pickled). A pool broken by a worker
        that died is replaced once; jobs that were in it fail with `BrokenProcessPool`."""
        if self._pool is None:
            return _run_here(build, *args)
        with self._lock:
            try:
                return self._pool.submit(build, *args)
            except BrokenProcessPool:
                log.warning("file worker died; starting a new pool", extra={"action": "file_workers.restart"})
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(build, *args)

    def close(self) -> None:
        """Finish what was submitted, then stop the workers."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (tests and diagnostics)."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return [pid for pid, process in list(processes.items()) if process.is_alive()]


def _run_here(build: Callable[..., T], *args: Any) -> Future[T]:
    future: Future[T] = Future()
    try:
        future.set_result(build(*args))
    except Exception as exc:  # delivered through the future, as a worker's exception would be
        future.set_exception(exc)
    return future
