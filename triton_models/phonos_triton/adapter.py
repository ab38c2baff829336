"""The pieces every phonos `model.py` shares: settings, inputs, typed errors and result responses.

How a model reports a failure is part of the contract with the job service (jobservice/inference.py):

* `BadInput` (the request itself cannot run)        → Triton `INVALID_ARG` → the job fails as the
  input's fault (a 400-class failure, charged);
* the request's compute limit reached                → Triton `UNSUPPORTED` (gRPC UNIMPLEMENTED: the
  server does not run inputs that need more) → the job fails as `compute_limit` (charged);
* `Cancelled` (the caller cancelled the request)     → Triton `CANCELLED`;
* `ResourceExhausted` (out of memory), anything else → Triton `INTERNAL` → a model failure (refunded); an
  out-of-memory's message always says "out of memory", which the job service's metrics count apart.

The compute limit comes with each request from the job service (request parameter
`phonos_compute_limit_ms`, phonos_models.common.requests.COMPUTE_LIMIT_PARAMETER) and is counted here, by the model,
from when it starts computing that request (`ComputeClock`): time the request waited in Triton's queue or
behind another batch never counts, so reaching it is the input's own cost. Science code needs nothing new:
it already stops at its `should_stop()` checks (between trunk passes, diffusion steps, MSA databases, relax
polls), and `ComputeClock.should_stop` turns true when the limit is reached as well as on cancellation.

Every model is decoupled (config.pbtxt `model_transaction_policy { decoupled: true }`): a request gets
zero or more progress responses (`PROGRESS` only, phonos_models.common.progress) while it runs, then
exactly one final response, the result envelope or its typed error. One bad request never fails its
batch-mates.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from phonos_models.common import result_files
from phonos_models.common.errors import BadInput, Cancelled, ResourceExhausted
from phonos_models.common.progress import PROGRESS, Progress, Report, ShouldStop
from phonos_models.common.requests import COMPUTE_LIMIT_PARAMETER

from phonos_config.env import triton_model_env

_PROGRESS_DRAIN_S = 5.0  # a final response never waits longer than this for earlier progress to go out


def model_env(args: Mapping[str, str], *prefixes: str) -> dict[str, str]:
    """PHONOS_* settings of this model: config.pbtxt parameters, overridden by the server's environment."""
    return triton_model_env(json.loads(args["model_config"]), os.environ, prefixes)


def instance_device(args: Mapping[str, str]) -> str:
    """"cuda:N" for a GPU instance (instance_group kind KIND_GPU), else "cpu"."""
    if args.get("model_instance_kind") == "GPU":
        return f"cuda:{args['model_instance_device_id']}"
    return "cpu"


def input_array(request: Any, name: str) -> np.ndarray:
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        raise BadInput(f"missing input {name}")
    return tensor.as_numpy()


def input_text(request: Any, name: str) -> str:
    """The one string of a BYTES input (batch dimension or not)."""
    values = input_array(request, name).reshape(-1)
    if values.shape[0] != 1:
        raise BadInput(f"send exactly one {name} per request; Triton batches concurrent requests itself")
    value = values[0]
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def input_int(request: Any, name: str) -> int:
    values = input_array(request, name).reshape(-1)
    if values.shape[0] != 1:
        raise BadInput(f"send exactly one {name} per request")
    return int(values[0])


def error_response(message: str, code: str = "INTERNAL") -> Any:
    """An error response with a Triton error code ("INVALID_ARG", "CANCELLED", "INTERNAL")."""
    return pb_utils.InferenceResponse(error=pb_utils.TritonError(message, getattr(pb_utils.TritonError, code)))


def compute_limit_s(request: Any) -> float | None:
    """The compute limit the job service sent with `request` (seconds), or None when it sent none."""
    try:
        parameters = json.loads(request.parameters() or "{}")
    except (AttributeError, TypeError, ValueError):
        return None
    value = parameters.get(COMPUTE_LIMIT_PARAMETER) if isinstance(parameters, dict) else None
    return value / 1000 if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


class ComputeClock:
    """One request's compute limit, counted from `start()` (when the model starts computing it)."""

    def __init__(self, request: Any) -> None:
        self._request = request
        self.limit_s = compute_limit_s(request)
        self._started: float | None = None

    def start(self) -> None:
        if self._started is None:
            self._started = time.monotonic()

    def exceeded(self) -> bool:
        return (self.limit_s is not None and self._started is not None
                and time.monotonic() - self._started > self.limit_s)

    def should_stop(self) -> bool:
        """What science code polls: cancelled by the caller, or out of compute time."""
        return self.should_stop_by_caller() or self.exceeded()

    def should_stop_by_caller(self) -> bool:
        return bool(self._request.is_cancelled())


def failure_response(exc: BaseException, model: str, log: logging.Logger, clock: ComputeClock | None = None) -> Any:
    """The response for a request whose computation raised `exc` (see the module docstring); `clock` tells a
    stop at the compute limit from a cancellation."""
    if isinstance(exc, BadInput):
        return error_response(str(exc), "INVALID_ARG")
    if isinstance(exc, Cancelled) and clock is not None and clock.exceeded() and not clock.should_stop_by_caller():
        assert clock.limit_s is not None
        return error_response(f"{model} computed for its whole compute limit of {clock.limit_s:g} s on this input "
                              f"and stopped", "UNSUPPORTED")
    if isinstance(exc, Cancelled):
        return error_response(str(exc) or "request cancelled", "CANCELLED")
    if isinstance(exc, ResourceExhausted):  # expected, and its message says what to reduce: no traceback
        return error_response(out_of_memory_message(exc))
    log.error("%s request failed", model, exc_info=exc, extra={"action": f"{model}.failed"})
    return error_response(f"{model} failed: {type(exc).__name__}: {exc}")


def out_of_memory_message(exc: ResourceExhausted) -> str:
    """A `ResourceExhausted`'s error message, always saying "out of memory": Triton's python backend has no
    RESOURCE_EXHAUSTED code, so those words are how the job service tells it from other INTERNAL failures (its
    metrics count it as `out_of_memory`, jobservice/inference.py `out_of_memory`)."""
    message = str(exc)
    return message if "out of memory" in message.lower() else f"out of memory: {message}" if message else "out of memory"


def result_response(result: result_files.ModelResult, *, batched: bool) -> Any:
    tensors = result_files.encode(result, batched=batched)
    return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(k, v) for k, v in tensors.items()])


class Responder:
    """One request's response sender: progress responses while it runs, then exactly one final response.

    Safe to use from several threads (a decoupled model may answer after `execute` returned, from the
    thread that finished the request's work). Progress responses are sent by one background thread
    (`_ProgressPost`): the computing thread only queues them, and `finish` sends the final response after
    every progress response queued before it."""

    def __init__(self, request: Any, log: logging.Logger, *, batched: bool) -> None:
        self._sender = request.get_response_sender()
        self._log = log
        self._batched = batched
        self._lock = threading.Condition()
        self._queued = 0  # progress responses queued and not yet sent
        self.finished = False

    def progress(self, update: Progress) -> None:
        """Queue a progress response; never raises (progress is advisory, the result is what counts). Only the
        record is queued: building the response (~1-2 ms in the stub, five times in a 60-aa ESMFold forward pass)
        happens in the progress thread too."""
        with self._lock:
            if self.finished:
                return
            self._queued += 1
        try:
            _PROGRESS.post(self, update)
        except Exception as exc:
            self._log.debug("progress response not queued: %s", exc)
            self._sent()

    def send_progress(self, update: Progress) -> None:
        """In the progress thread: build and send one queued progress response."""
        try:
            tensor = np.array([update.to_json().encode()], dtype=object)
            self._sender.send(pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(PROGRESS, tensor[None, :] if self._batched else tensor)]))
        except Exception as exc:  # e.g. the request was cancelled meanwhile: its final error says so
            self._log.debug("progress response not sent: %s", exc)
        finally:
            self._sent()

    def _sent(self) -> None:
        with self._lock:
            self._queued -= 1
            self._lock.notify_all()

    def finish(self, response: Any) -> None:
        """The final response (result envelope or typed error), after the progress queued before it; later
        calls are ignored."""
        with self._lock:
            if self.finished:
                return
            self.finished = True
            self._lock.wait_for(lambda: self._queued == 0, timeout=_PROGRESS_DRAIN_S)
        self._sender.send(response, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)


class _ProgressPost:
    """The thread that builds and sends every progress response of this model process. Building one and
    sending it (waiting for the server to take it) cost ~1-3 ms on a loaded CPU, five per 60-aa ESMFold job:
    queued here, that work is off the forward pass. Started on first use; a daemon, so it never holds up the
    stub's exit."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Responder, Progress]] = queue.SimpleQueue()
        self._start = threading.Lock()
        self._thread: threading.Thread | None = None

    def post(self, responder: Responder, update: Progress) -> None:
        with self._start:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True, name="phonos-progress")
                self._thread.start()
        self._queue.put((responder, update))

    def _run(self) -> None:
        while True:
            responder, update = self._queue.get()
            responder.send_progress(update)


_PROGRESS = _ProgressPost()


def responders(requests: Sequence[Any], log: logging.Logger, *, batched: bool) -> list[Responder]:
    return [Responder(request, log, batched=batched) for request in requests]


def finish_unanswered(answering: Sequence[Responder], model: str) -> None:
    """Guard for `execute`: a request left without its final response gets an INTERNAL error."""
    for responder in answering:
        if not responder.finished:
            responder.finish(error_response(f"{model} failed: the request was left without a result"))


def answer(request: Any, model: str, compute: Callable[[Report, ShouldStop], result_files.ModelResult],
           log: logging.Logger, *, batched: bool) -> None:
    """Run one request's computation, reporting its progress and stopping when `should_stop()` says so
    (cancelled, or out of compute time), and send its one final response."""
    responder = Responder(request, log, batched=batched)
    clock = ComputeClock(request)
    try:
        if request.is_cancelled():
            responder.finish(error_response("request cancelled", "CANCELLED"))
            return
        clock.start()
        try:
            result = compute(responder.progress, clock.should_stop)
        except Exception as exc:  # every failure becomes this request's response, never its batch-mates'
            responder.finish(failure_response(exc, model, log, clock))
            return
        responder.finish(result_response(result, batched=batched))
    finally:
        finish_unanswered([responder], model)
