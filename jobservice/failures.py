"""Why a job failed, and the one rule that decides whether its credits come back.

The rule: **a job is charged only when it failed because of its own input**, that is when the model
refused the input (`invalid_input`, a 400-class failure the service's validation could not see).
Every other failure is the service's side and is refunded in full: the model server unavailable
for the whole retry window, the call running past its time limit (the limit counts time queued
behind other jobs too, so it is not the input's fault alone), a model crash, an error while storing
the result, or a job given up after repeated restarts. Cancellation is not a failure (see
`JobStore.cancel`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class FailureKind(enum.StrEnum):
    """`error_code` of a failed job."""

    INVALID_INPUT = "invalid_input"
    TIMEOUT = "timeout"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_ERROR = "model_error"
    INTERNAL = "internal"
    INTERRUPTED = "interrupted"
    MODEL_REMOVED = "model_removed"


CHARGED = frozenset({FailureKind.INVALID_INPUT})


@dataclass(frozen=True)
class JobFailure:
    kind: FailureKind
    reason: str  # what happened, without the credit sentence

    @property
    def refund(self) -> bool:
        return self.kind not in CHARGED

    @property
    def message(self) -> str:
        """The job's `error`: what happened, what it cost, what to do."""
        if self.refund:
            return f"{self.reason}; credits were refunded."
        return f"{self.reason}. The model rejected the input, so its credits are not refunded; fix the input and submit again."
