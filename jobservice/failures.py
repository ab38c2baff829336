"""Why a job failed, and the one rule that decides whether its credits come back.

The rule: **a job is charged only when it failed because of its own input, as the model itself found**:

* `invalid_input`: the model refused the input (a 400-class failure the service's validation before
  credits could not see, e.g. a receptor the model cannot featurise);
* `compute_limit`: the model computed on the input for its whole compute limit (PHONOS_<MODEL>_TIMEOUT_S)
  and stopped. The model counts that limit itself, from when it starts computing this request, so time
  spent waiting (in the service's queue, in Triton's queue, behind a batch-mate) never counts: the input
  alone used it. This is what makes abuse cost: an input built to run as long as possible pays for the
  compute it took, however busy the server was.

Every other failure is the service's side and is refunded in full: the model server unavailable for the
whole retry window (`model_unavailable`), the client-side deadline (`timeout`: PHONOS_TRITON_TIMEOUT_S, which
counts time queued too, so it is a safety net for a stuck server, not a measure of the input), a model
crash or out-of-memory (`model_error`), an error storing the result (`internal`), a job given up after
repeated restarts (`interrupted`), a model no longer served (`model_removed`). Cancellation is not a failure
(see `JobStore.cancel`: a running job's cancellation keeps its charge, compute was spent).

Why the compute clock and not the call's own timeout: the call's timeout cannot tell a heavy input from a
busy server (charging it bills users for the service's queueing), and refunding it made the heaviest
inputs free. A model error stays refunded although a crafted input might crash a model: a crash gives its
submitter nothing back, most crashes are the service's (a bug, a driver, a full GPU), and the compute one
can take is bounded by the compute limit and the account's queued-jobs limit (jobservice/fairness.py).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class FailureKind(enum.StrEnum):
    """`error_code` of a failed job."""

    INVALID_INPUT = "invalid_input"
    COMPUTE_LIMIT = "compute_limit"
    TIMEOUT = "timeout"
    MODEL_UNAVAILABLE = "model_unavailable"
    MODEL_ERROR = "model_error"
    INTERNAL = "internal"
    INTERRUPTED = "interrupted"
    MODEL_REMOVED = "model_removed"


# The metrics' failure cause (phonos_jobs_failed_total{cause}) for a `model_error` that ran out of memory. Not an
# error code (the API's codes are fixed, and the job is refunded like any model error), but the operator's
# remedy differs: more memory or a lower length limit, where a model error is a bug to find in Triton's log.
OUT_OF_MEMORY = "out_of_memory"
# Every cause the metrics count: the error codes, and out_of_memory.
FAILURE_CAUSES = (*(str(kind) for kind in FailureKind), OUT_OF_MEMORY)

CHARGED = frozenset({FailureKind.INVALID_INPUT, FailureKind.COMPUTE_LIMIT})
# What a charged failure's message says about its credits and what to do.
_CHARGED_SENTENCE = {
    FailureKind.INVALID_INPUT: "The model rejected the input, so its credits are not refunded; fix the input and "
                               "submit again.",
    FailureKind.COMPUTE_LIMIT: "The model spent its compute limit on this input, so its credits are not refunded; "
                               "submit a smaller input ({remedy}).",
}
# What makes a job of each model smaller, in its own params (a DiffDock job was told of recycles and sequences).
SMALLER_INPUT = {
    "esmfold": "a shorter sequence, fewer num_recycles, or relax none",
    "alphafold2": "a shorter sequence, fewer num_models or num_recycles, or relax none",
    "diffdock": "fewer samples_per_complex or inference_steps, a pocket, or a smaller receptor",
}
SMALLER_INPUT_ANY = "shorter sequence, fewer recycles or samples"


@dataclass(frozen=True)
class JobFailure:
    kind: FailureKind
    reason: str  # what happened, without the credit sentence
    out_of_memory: bool = False  # a MODEL_ERROR the model server reported as out of memory
    model: str = ""  # the job's model, for a COMPUTE_LIMIT's remedy in its own params (SMALLER_INPUT)

    @property
    def cause(self) -> str:
        """The metrics' failure cause: the error code, or `out_of_memory` for a model error that ran out of it."""
        return OUT_OF_MEMORY if self.out_of_memory and self.kind is FailureKind.MODEL_ERROR else str(self.kind)

    @property
    def refund(self) -> bool:
        return self.kind not in CHARGED

    @property
    def message(self) -> str:
        """The job's `error`: what happened, what it cost, what to do."""
        reason = self.reason.rstrip(". ")  # a model's message ending in its own full stop read "healthy.; credits"
        if self.refund:
            return f"{reason}; credits were refunded."
        return f"{reason}. " + _CHARGED_SENTENCE[self.kind].format(
            remedy=SMALLER_INPUT.get(self.model, SMALLER_INPUT_ANY))


# An absolute POSIX path of at least two parts, not part of a URL or a relative path ("http://a/b", "x/y").
_SERVER_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/'\"`:,;()\[\]<>]+/)+[^\s/'\"`:,;()\[\]<>]*")
SERVER_PATH = "<server path>"


def without_server_paths(message: str) -> str:
    """A model's failure message as a job's `error` shows it: the server's file paths replaced by "<server path>"
    (`uniref90 database not found at <server path>`, a Python error naming a file). Those say how the host is laid
    out to every account; the job service logs the message whole for the operator."""
    return _SERVER_PATH.sub(SERVER_PATH, message)
