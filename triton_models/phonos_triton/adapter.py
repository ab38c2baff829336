"""The pieces every phonos `model.py` shares: settings, inputs, typed errors and result responses.

How a model reports a failure is part of the contract with the job service (jobservice/inference.py):

* `BadInput` (the request itself cannot run)        → Triton `INVALID_ARG` → the job fails as the
  input's fault (a 400-class failure, charged);
* `Cancelled` (the caller cancelled the request)     → Triton `CANCELLED`;
* `ResourceExhausted` (out of memory), anything else → Triton `INTERNAL` → a model failure (refunded).

Every model is decoupled (config.pbtxt `model_transaction_policy { decoupled: true }`): a request gets
zero or more progress responses (`PROGRESS` only, phonos_models.common.progress) while it runs, then
exactly one final response, the result envelope or its typed error. One bad request never fails its
batch-mates.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from phonos_models.common import result_files
from phonos_models.common.errors import BadInput, Cancelled, ResourceExhausted
from phonos_models.common.progress import PROGRESS, Progress, Report

from phonos_config.env import triton_model_env


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


def failure_response(exc: BaseException, model: str, log: logging.Logger) -> Any:
    """The response for a request whose computation raised `exc` (see the module docstring)."""
    if isinstance(exc, BadInput):
        return error_response(str(exc), "INVALID_ARG")
    if isinstance(exc, Cancelled):
        return error_response(str(exc) or "request cancelled", "CANCELLED")
    if isinstance(exc, ResourceExhausted):  # expected, and its message says what to reduce: no traceback
        return error_response(str(exc))
    log.error("%s request failed", model, exc_info=exc, extra={"action": f"{model}.failed"})
    return error_response(f"{model} failed: {type(exc).__name__}: {exc}")


def result_response(result: result_files.ModelResult, *, batched: bool) -> Any:
    tensors = result_files.encode(result, batched=batched)
    return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor(k, v) for k, v in tensors.items()])


class Responder:
    """One request's response sender: progress responses while it runs, then exactly one final response."""

    def __init__(self, request: Any, log: logging.Logger, *, batched: bool) -> None:
        self._sender = request.get_response_sender()
        self._log = log
        self._batched = batched
        self.finished = False

    def progress(self, update: Progress) -> None:
        """Send a progress response; never raises (progress is advisory, the result is what counts)."""
        if self.finished:
            return
        tensor = np.array([update.to_json().encode()], dtype=object)
        try:
            response = pb_utils.InferenceResponse(
                output_tensors=[pb_utils.Tensor(PROGRESS, tensor[None, :] if self._batched else tensor)])
            self._sender.send(response)
        except Exception as exc:  # e.g. the request was cancelled meanwhile: its final error says so
            self._log.debug("progress response not sent: %s", exc)

    def finish(self, response: Any) -> None:
        """The final response (result envelope or typed error); later calls are ignored."""
        if self.finished:
            return
        self.finished = True
        self._sender.send(response, flags=pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL)


def responders(requests: Sequence[Any], log: logging.Logger, *, batched: bool) -> list[Responder]:
    return [Responder(request, log, batched=batched) for request in requests]


def finish_unanswered(answering: Sequence[Responder], model: str) -> None:
    """Guard for `execute`: a request left without its final response gets an INTERNAL error."""
    for responder in answering:
        if not responder.finished:
            responder.finish(error_response(f"{model} failed: the request was left without a result"))


def answer(request: Any, model: str, compute: Callable[[Report], result_files.ModelResult], log: logging.Logger,
           *, batched: bool) -> None:
    """Run one request's computation, reporting its progress, and send its one final response."""
    responder = Responder(request, log, batched=batched)
    try:
        if request.is_cancelled():
            responder.finish(error_response("request cancelled", "CANCELLED"))
            return
        try:
            result = compute(responder.progress)
        except Exception as exc:  # every failure becomes this request's response, never its batch-mates'
            responder.finish(failure_response(exc, model, log))
            return
        responder.finish(result_response(result, batched=batched))
    finally:
        finish_unanswered([responder], model)
