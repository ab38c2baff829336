"""Seconds JAX spends compiling, so a job can say how much of its models' time was XLA compilation.

The first request of a length bucket (per process; with the persistent cache, per cache) compiles the model, and
that time sat unnamed inside the first model's seconds. JAX times each compile stage (tracing, lowering, backend
compile) in a context manager that tells its monitoring listeners when the stage starts (a scalar) and how long it
took (a time span). The stages nest: tracing a jitted function traces the jitted functions it calls (each a
`jaxpr_trace_duration` of its own inside the outer one), and reading the persistent cache happens inside
`backend_compile_duration`. Adding every event up counted that time twice or more (a first compile: 22.9 s of
"compile" in a 21.0 s request), so only the outermost stage of each thread counts.

Per thread: the running total is the calling thread's own, and JAX compiles on the thread that calls the jitted
function, so the difference across a model's passes is their compile time, whatever other threads compile meanwhile.
"""

from __future__ import annotations

import threading

from jax import monitoring

# The compile stages jax 0.7 times (jax/_src/dispatch.py `log_elapsed_time`, used by pjit.py and pxla.py): tracing,
# lowering to MLIR, backend compile (which holds the persistent cache's read, its own event not counted here).
_STAGES = "/jax/core/compile/"


class _Clock(threading.local):
    """One thread's compile stages: how many are open now, and the seconds of the outermost ones so far."""

    def __init__(self) -> None:
        self.open = 0
        self.seconds = 0.0


_clock = _Clock()


def _started(event: str, _value: float | int, **_: str | int) -> None:
    if event.startswith(_STAGES):
        _clock.open += 1


def _ended(event: str, start: float, end: float, **_: str | int) -> None:
    if not event.startswith(_STAGES):
        return
    # A stage that started before this module was imported ends with none open: counted, as an outermost one.
    _clock.open = max(_clock.open - 1, 0)
    if _clock.open == 0:
        _clock.seconds += end - start


# Once per process (a module runs once), before the engine that imports it compiles anything.
monitoring.register_scalar_listener(_started)
monitoring.register_event_time_span_listener(_ended)


def compile_seconds() -> float:
    """Seconds this thread has spent compiling so far, nested stages counted once (a running total: take
    differences)."""
    return _clock.seconds
