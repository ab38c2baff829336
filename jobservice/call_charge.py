"""What a call's submission charged, for its usage row even when the call was cancelled while the jobs were stored.

A gRPC caller that cancels `Predict` or `SubmitBatch` (or whose deadline passes) just after its jobs' transaction
asked it last (`still_wanted`) gets no answer, yet the shielded submission commits and debits the balance
(service.py `_charge_and_queue`); the handler, cancelled, had no charge to report, so the usage row said 0 credits
and `/v1/usage` never counted the job, which the balance and `by_model` did (an API integrator's find). The RPC edge
opens a `SubmissionWatch` per call (`watching`); the submission names its task and, once committed, its charge;
a cancelled call waits for that task (milliseconds: one transaction) and records what it charged.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass
class SubmissionWatch:
    task: asyncio.Future[Any] | None = None  # the shielded submission, while the call has one in flight
    credits: int = 0  # charged by the call's committed submissions
    models: frozenset[str] = frozenset()

    @property
    def model(self) -> str | None:
        """The model charged for, when one (a usage row names one model or none)."""
        return next(iter(self.models)) if len(self.models) == 1 else None

    async def settled(self) -> None:
        """Wait for the submission in flight, if any, whatever becomes of it (committed, or rolled back because the
        caller was gone): only then is `credits` what the call charged."""
        if self.task is not None and not self.task.done():
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self.task)


_CURRENT: ContextVar[SubmissionWatch | None] = ContextVar("phonos_submission_watch", default=None)


@contextlib.contextmanager
def watching() -> Iterator[SubmissionWatch]:
    """A watch for the submissions of the call running in this context."""
    watch = SubmissionWatch()
    token = _CURRENT.set(watch)
    try:
        yield watch
    finally:
        _CURRENT.reset(token)


def current() -> SubmissionWatch | None:
    return _CURRENT.get()
