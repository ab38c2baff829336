"""`InMemoryInference`, the twin of `TritonInference`: no server, no model, the same contract.

It reads each model's real `config.pbtxt` and holds requests to it the way Triton does (input
names, datatypes and shapes, batch dimension included; a mismatch is an invalid input), answers
with tensors in the shapes the config declares, and decodes them through the same result envelope.
Its files are labelled as the twin's, never dressed up as structures.

Tests tell it how the next calls of a model end (`script`), including the progress records the model
reports first (`Progressing`), take the whole server down (`available = False`) or one model
(`set_ready`), and read what it saw (`calls`, `cancelled`).
Safe to drive from another thread than the event loop's (single attribute writes and deque ops).
"""

from __future__ import annotations

import asyncio
import collections
import enum
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tritonclient.grpc.model_config_pb2 as model_config
from google.protobuf import text_format
from phonos_models.common import result_files
from phonos_models.common.progress import PROGRESS, Progress

from jobservice import metrics
from jobservice.inference import (
    NOT_READY,
    READY,
    SERVER_COMPONENT,
    UNAVAILABLE,
    ComputeLimitExceeded,
    InferenceRequest,
    InferenceTimeout,
    InferenceUnavailable,
    InvalidModelInput,
    ModelFailure,
    ModelProcessStopped,
    ProgressCallback,
    capacity_of,
    model_failure,
    report_progress,
)
from jobservice.modelspecs.base import ModelSpec

TWIN_WEIGHTS = "none: in-memory inference twin (no model ran)"
TWIN_ENDPOINT = "in-memory"  # the `endpoint` label of the twin's calls in the metrics
_DATATYPES = {"TYPE_STRING": "BYTES", "TYPE_INT32": "INT32", "TYPE_INT64": "INT64", "TYPE_FP32": "FP32",
              "TYPE_BOOL": "BOOL"}


class Failure(enum.Enum):
    """How a scripted call ends, one per way a real call can fail."""

    UNAVAILABLE = "unavailable"  # the server is unreachable or refuses the model
    TIMEOUT = "timeout"  # the request waits at the server (never computes) until its deadline has passed
    COMPUTE_LIMIT = "compute_limit"  # the model computed for the request's whole compute limit (UNSUPPORTED)
    MODEL_ERROR = "model_error"  # the model crashed (INTERNAL)
    # The model ran out of memory (INTERNAL, with the message a model's ResourceExhausted sends: its job fails
    # model_error, counted as out_of_memory in the metrics).
    OUT_OF_MEMORY = "out_of_memory"
    INVALID_INPUT = "invalid_input"  # the model refused the input (INVALID_ARGUMENT)
    CANCELLED_BY_SERVER = "cancelled_by_server"  # the server dropped the request (CANCELLED)
    BROKEN_RESULT = "broken_result"  # the model answered tensors that break the result envelope
    # The model instance's process died under the call (a stub crash: "Stub process '...' is not healthy").
    PROCESS_STOPPED = "process_stopped"


@dataclass(frozen=True)
class Slow:
    """The model computes this long (cancellable), then succeeds; past the request's compute limit it stops
    there and answers `ComputeLimitExceeded`, and past its deadline the call times out."""

    seconds: float


@dataclass(frozen=True)
class Progressing:
    """The model reports `steps` (`interval_s` apart, cancellable, counted in the request's timeout),
    then the call ends like `then` (None: success), as a decoupled model's stream does."""

    steps: tuple[Progress, ...]
    interval_s: float = 0.0
    then: Failure | Slow | None = None


Outcome = Failure | Slow | Progressing


@dataclass(frozen=True)
class TensorShape:
    datatype: str
    dims: tuple[int, ...]  # -1 = any length


@dataclass(frozen=True)
class TwinModel:
    """What the twin knows of one model: its config's tensors and the formats its results carry."""

    name: str
    batched: bool
    inputs: Mapping[str, TensorShape]
    outputs: Mapping[str, TensorShape]
    formats: tuple[str, ...]
    capacity: int = 1  # requests it computes at once, as Triton would serve its config (inference.capacity_of)

    @classmethod
    def from_config(cls, config_path: Path, formats: Sequence[str]) -> TwinModel:
        config = text_format.Parse(config_path.read_text(), model_config.ModelConfig())

        def shapes(tensors: Iterable[model_config.ModelInput | model_config.ModelOutput]) -> dict[str, TensorShape]:
            return {t.name: TensorShape(_DATATYPES[model_config.DataType.Name(t.data_type)], tuple(t.dims))
                    for t in tensors}

        return cls(config.name, config.max_batch_size > 0, shapes(config.input), shapes(config.output),
                   tuple(formats), capacity_of(config))


class InMemoryInference:
    def __init__(self, models: Iterable[TwinModel]) -> None:
        self._models = {model.name: model for model in models}
        self._scripts: dict[str, collections.deque[Outcome]] = collections.defaultdict(collections.deque)
        self._not_ready: set[str] = set()
        self.available = True
        self.calls: list[InferenceRequest] = []
        self.cancelled: list[str] = []  # request ids whose call was cancelled while running
        self.capacities: dict[str, int | None] = {}  # a test's own capacity for a model (else its config's)
        self.closed = False

    @classmethod
    def for_models(cls, repository: Path, formats: Mapping[str, Sequence[str]]) -> InMemoryInference:
        """Twins of the models in a Triton model repository; `formats`: model name → result formats."""
        return cls(TwinModel.from_config(repository / name / "config.pbtxt", fmts) for name, fmts in formats.items())

    @classmethod
    def for_specs(cls, specs: Mapping[str, ModelSpec], repository: Path) -> InMemoryInference:
        """Twins of the models the specs call, answering with the formats each spec promises."""
        return cls.for_models(repository, {spec.triton_model: spec.formats for spec in specs.values()})

    def script(self, model: str, *outcomes: Outcome) -> None:
        """The next calls of `model` end like this, in order; later calls succeed at once."""
        self._scripts[model].extend(outcomes)

    def set_ready(self, model: str, ready: bool) -> None:
        (self._not_ready.discard if ready else self._not_ready.add)(model)

    async def infer(self, request: InferenceRequest, on_progress: ProgressCallback | None = None,
                    ) -> result_files.ModelResult:
        with metrics.triton_call(TWIN_ENDPOINT, request.model):
            return await self._infer(request, on_progress)

    async def _infer(self, request: InferenceRequest, on_progress: ProgressCallback | None,
                     ) -> result_files.ModelResult:
        self.calls.append(request)
        model = self._models.get(request.model)
        if not self.available:
            raise InferenceUnavailable("UNAVAILABLE: failed to connect to the model server (twin switched off)")
        if model is None or request.model in self._not_ready:
            raise InferenceUnavailable(f"NOT_FOUND: model {request.model!r} is not ready")
        _check_inputs(model, request)
        script = self._scripts[request.model]
        outcome = script.popleft() if script else None
        try:
            async with asyncio.timeout(request.timeout_s):
                return await self._play(model, request, outcome, on_progress)
        except TimeoutError:
            raise InferenceTimeout("Deadline Exceeded") from None
        except asyncio.CancelledError:
            self.cancelled.append(request.request_id)
            raise

    async def _play(self, model: TwinModel, request: InferenceRequest, outcome: Outcome | None,
                    on_progress: ProgressCallback | None) -> result_files.ModelResult:
        if isinstance(outcome, Progressing):
            if PROGRESS not in model.outputs:  # Triton refuses a response with an undeclared output
                raise RuntimeError(f"{model.name}: config declares no {PROGRESS} output")
            for step in outcome.steps:
                await asyncio.sleep(outcome.interval_s)
                if on_progress is not None:  # through the wire format, as the real stream is read
                    report_progress(on_progress, Progress.from_json(step.to_json()))
            outcome = outcome.then
        if outcome is Failure.TIMEOUT:
            await asyncio.sleep(math.inf)
        elif isinstance(outcome, Slow):
            await _compute(request, outcome.seconds)
        elif outcome is Failure.COMPUTE_LIMIT:
            raise ComputeLimitExceeded(f"{request.model} reached its compute limit (scripted)")
        elif outcome is Failure.UNAVAILABLE:
            raise InferenceUnavailable("UNAVAILABLE: connection to the model server lost (scripted)")
        elif outcome is Failure.CANCELLED_BY_SERVER:
            raise InferenceUnavailable("CANCELLED: the model server dropped the request (scripted)")
        elif outcome is Failure.MODEL_ERROR:
            raise model_failure(f"{request.model} failed: RuntimeError: scripted model failure")
        elif outcome is Failure.PROCESS_STOPPED:
            raise ModelProcessStopped(f"the model instance's process stopped during the run (Stub process "
                                      f"'{request.model}_0_0' is not healthy.) (scripted)")
        elif outcome is Failure.OUT_OF_MEMORY:  # classified from its message, as a real server's is
            raise model_failure("out of memory folding 1 sequence(s) of up to 400 residues (chunk_size off); use a "
                                "smaller chunk_size or a shorter sequence (scripted)")
        elif outcome is Failure.INVALID_INPUT:
            raise InvalidModelInput(f"{request.model} refused the input (scripted)")
        tensors = _result_tensors(model, request, broken=outcome is Failure.BROKEN_RESULT)
        try:
            return result_files.decode(tensors)
        except result_files.ResultEnvelopeError as exc:
            raise ModelFailure(f"{request.model} sent a broken result: {exc}") from exc

    async def health(self, models: Sequence[str]) -> dict[str, str]:
        states = {SERVER_COMPONENT: READY if self.available else UNAVAILABLE}
        for model in models:
            if not self.available:
                states[model] = UNAVAILABLE
            else:
                states[model] = READY if model in self._models and model not in self._not_ready else NOT_READY
        return states

    async def capacity(self, model: str) -> int | None:
        found = self._models.get(model)
        return None if found is None else self.capacities.get(model, found.capacity)

    async def close(self) -> None:
        self.closed = True


async def _compute(request: InferenceRequest, seconds: float) -> None:
    """The model's own compute clock, as the real models keep it (phonos_triton.adapter.ComputeClock)."""
    limit = request.compute_limit_s
    if limit is not None and seconds > limit:
        await asyncio.sleep(limit)
        raise ComputeLimitExceeded(f"{request.model} computed for its whole limit of {limit:g} s and stopped")
    await asyncio.sleep(seconds)


def _check_inputs(model: TwinModel, request: InferenceRequest) -> None:
    """Triton's own checks of a request against the config (it answers INVALID_ARGUMENT)."""
    given = {tensor.name: tensor for tensor in request.inputs}
    if set(given) != set(model.inputs):
        raise InvalidModelInput(f"{model.name} expects inputs {sorted(model.inputs)}, got {sorted(given)}")
    for name, expected in model.inputs.items():
        tensor = given[name]
        dims = ((1,) if model.batched else ()) + expected.dims
        shape = tensor.array.shape
        fits = len(shape) == len(dims) and all(d == -1 or d == s for d, s in zip(dims, shape, strict=True))
        if tensor.datatype != expected.datatype or not fits:
            raise InvalidModelInput(f"input {name}: expected {expected.datatype}{list(dims)}, "
                                    f"got {tensor.datatype}{list(shape)}")


def _result_tensors(model: TwinModel, request: InferenceRequest, *, broken: bool) -> dict[str, np.ndarray]:
    files = tuple(
        result_files.text_file(fmt, "text/plain", f"in-memory twin output of {model.name} ({fmt}) for request "
                                                  f"{request.request_id}; no model ran\n")
        for fmt in model.formats
    )
    result = result_files.ModelResult(files=files, metrics={"twin": 1}, metadata={"weights": TWIN_WEIGHTS})
    tensors = result_files.encode(result, batched=model.batched)
    for name in tensors:  # the shapes the config promises
        shape = model.outputs[name]
        dims = ((1,) if model.batched else ()) + shape.dims
        actual = tensors[name].shape
        if len(actual) != len(dims) or any(d not in (-1, a) for d, a in zip(dims, actual, strict=True)):
            raise RuntimeError(f"{model.name}: config declares {name}{list(dims)}, the envelope makes {list(actual)}")
    if broken:
        tensors[result_files.RESULT] = np.array([json.dumps({"files": "not a list"}).encode()], dtype=object)
    return tensors
