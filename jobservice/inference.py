"""The inference port: what dispatch needs from a model server, and the ways a call can fail.

Two implementations honour one contract (tests/contract/test_inference_contract.py runs over both):
`TritonInference` (jobservice/triton_inference.py) calls a real Triton server;
`InMemoryInference` (jobservice/memory_inference.py) is the in-memory twin the service tests use.

* `infer` sends one request and returns the job's result files (the envelope of
  phonos_models.common.result_files, already checked). While the model runs, each progress record it
  reports (phonos_models.common.progress: ESMFold's recycles, AlphaFold2's MSA search, models and
  recycles, DiffDock's diffusion steps) is handed to `on_progress`, in order, before the result.
  Progress is advisory: a record that cannot be read is dropped, never a failure. Cancelling the task
  that awaits `infer` cancels the call at the server, where the model sees `request.is_cancelled()`
  and stops.
* Every failure is one of the `InferenceError` subclasses below; dispatch turns each into a job
  outcome (jobservice/failures.py) without looking at messages.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import tritonclient.grpc.model_config_pb2 as model_config
from phonos_models.common.progress import Progress
from phonos_models.common.result_files import ModelResult

log = logging.getLogger(__name__)

# The component name /v1/health uses for the model server itself (beside one entry per model).
SERVER_COMPONENT = "triton"
READY = "ready"
NOT_READY = "not_ready"
UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class Tensor:
    """One input tensor, batch dimension included when the model's config batches."""

    name: str
    array: np.ndarray
    datatype: str  # Triton datatype: "BYTES", "INT32", "INT64", "FP32", "BOOL"


def text_tensor(name: str, text: str, *, batched: bool) -> Tensor:
    array = np.array([text.encode()], dtype=object)
    return Tensor(name, array[None, :] if batched else array, "BYTES")


def int32_tensor(name: str, value: int, *, batched: bool) -> Tensor:
    array = np.array([value], dtype=np.int32)
    return Tensor(name, array[None, :] if batched else array, "INT32")




@dataclass(frozen=True)
class InferenceRequest:
    model: str  # the model's name in the model repository
    inputs: tuple[Tensor, ...]
    timeout_s: float  # the client-side deadline of the whole call, queueing at the server included
    request_id: str = ""  # the job id: shows up in the server's logs
    # The longest the model may compute on this request, counted by the model from when it starts computing
    # (not while queued); past it the model stops and answers `ComputeLimitExceeded`. None: no limit sent.
    compute_limit_s: float | None = None


class InferenceError(Exception):
    """A call that produced no result."""


class InferenceUnavailable(InferenceError):
    """The server cannot be reached, does not serve the model (yet), or dropped the request. Worth
    retrying: the same request may well succeed once the server is back."""


class ModelProcessStopped(InferenceError):
    """The model instance's process died under the call (Triton's python-backend stub crashed, or the server
    segfaulted around it): the server's side, so the job runs again, but counted among its attempts, so an input
    that kills its model's process every time still ends (refunded) instead of looping."""


class InferenceTimeout(InferenceError):
    """The call outlived its client-side deadline (time queued at the server included). Not retried."""


class InvalidModelInput(InferenceError):
    """The model refused the request as the input's fault (Triton INVALID_ARGUMENT)."""


class ComputeLimitExceeded(InferenceError):
    """The model computed for the request's whole compute limit and stopped (Triton UNSUPPORTED, gRPC
    UNIMPLEMENTED: the server does not run inputs that need more). The limit counts only the model's own
    compute, never time queued, so this is the input's cost, unlike `InferenceTimeout`."""


class ModelFailure(InferenceError):
    """The model failed on a request it accepted (a crash, out of memory, a broken result)."""


class ModelOutOfMemory(ModelFailure):
    """A model failure that ran out of memory (GPU or host). Still a `ModelFailure` (the job fails
    `model_error`, refunded: the API's error codes are fixed), told apart only so that the metrics can say
    "out of memory" (give the model more memory or lower its length limit) rather than "the model is broken"."""


# How an out-of-memory reaches the job service: Triton's python backend has no RESOURCE_EXHAUSTED code, so a
# model's `ResourceExhausted` arrives as INTERNAL with a message that starts "out of memory"
# (triton_models/phonos_triton/adapter.py); one the science code did not catch arrives as "<model> failed:
# OutOfMemoryError: CUDA out of memory ..." (torch), "... MemoryError" (the host, Python), "RESOURCE_EXHAUSTED:
# Out of memory ..." (XLA, AlphaFold2), "[Errno 12] Cannot allocate memory" (the host, an OS call).
_OUT_OF_MEMORY = re.compile(r"out of memory|MemoryError|RESOURCE_EXHAUSTED|can(?:no|')t allocate memory",
                            re.IGNORECASE)


def out_of_memory(message: str) -> bool:
    """Whether a model's failure message says it ran out of memory."""
    return _OUT_OF_MEMORY.search(message) is not None


def model_failure(message: str) -> ModelFailure:
    """The typed failure of a model's failure message: `ModelOutOfMemory` when it says so."""
    return ModelOutOfMemory(message) if out_of_memory(message) else ModelFailure(message)


# Hears each progress record of a running request; called on the event loop, must not block or raise.
ProgressCallback = Callable[[Progress], None]


def report_progress(on_progress: ProgressCallback, update: Progress) -> None:
    """Hand one record on; a listener's bug is logged, never a failure of the job."""
    try:
        on_progress(update)
    except Exception:
        log.exception("progress listener failed", extra={"action": "inference.progress_listener_failed"})


class Inference(Protocol):
    """A model server as dispatch sees it."""

    async def infer(self, request: InferenceRequest, on_progress: ProgressCallback | None = None) -> ModelResult:
        """The result of one request, or an `InferenceError`; progress goes to `on_progress` meanwhile."""
        ...

    async def health(self, models: Sequence[str]) -> dict[str, str]:
        """{SERVER_COMPONENT: state, <model>: state} with states READY, NOT_READY or UNAVAILABLE."""
        ...

    async def capacity(self, model: str) -> int | None:
        """How many requests of `model` the server computes at once (`capacity_of` its config); None: unknown."""
        ...

    async def close(self) -> None: ...


def capacity_of(config: model_config.ModelConfig) -> int:
    """Requests a model computes at once: its instances (a GPU group's count on each of its GPUs; Triton's
    effective config lists them) times the batch each takes (`max_batch_size` with a dynamic batcher; 1 without
    one, as Triton then sends each request alone, whatever the size it allows). Dispatch
    claims no more of its jobs than that (jobservice/dispatch.py): a job sent beyond it waited in Triton's queue
    while the API said `running`, ahead of other accounts' jobs that fair claiming would have run first."""
    instances = sum(group.count * max(1, len(group.gpus)) for group in config.instance_group) or 1
    batch = config.max_batch_size if config.HasField("dynamic_batching") else 1
    return instances * max(1, batch)
