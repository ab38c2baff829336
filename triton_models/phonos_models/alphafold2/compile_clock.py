"""Seconds JAX spends compiling, so a job can say how much of its models' time was XLA compilation.

The first request of a length bucket (per process; with the persistent cache, per cache) compiles the model, and
that time sat unnamed inside the first model's seconds. JAX reports each compile stage (tracing, lowering,
backend compile, reading the persistent cache) to its monitoring listeners; one listener, registered once per
process, adds them up. An Engine runs one request at a time, so the difference across a request is that
request's compile time (another engine compiling in the same process at the same moment would count too).
"""

from __future__ import annotations

import threading

from jax import monitoring

# The duration events jax 0.7 records per compile (jax/_src/dispatch.py, pxla.py, compilation_cache.py).
_EVENTS = ("/jax/core/compile/", "/jax/compilation_cache/cache_retrieval_time_sec")

_lock = threading.Lock()
_total = 0.0
_registered = False


def _listen(event: str, duration_secs: float, **_: str | int) -> None:
    global _total
    if event.startswith(_EVENTS):
        with _lock:
            _total += duration_secs


def compile_seconds() -> float:
    """Seconds of compilation in this process so far (a running total: take differences)."""
    global _registered
    with _lock:
        if not _registered:
            monitoring.register_event_duration_secs_listener(_listen)
            _registered = True
        return _total
