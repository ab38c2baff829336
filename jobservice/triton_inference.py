"""The real `Inference`: a Triton server over tritonclient's asyncio gRPC client.

The job models are decoupled (they report progress while they run), so every call is one
bidirectional `ModelStreamInfer` stream carrying one request: progress responses (`PROGRESS` only)
are handed to the caller's callback, and the response holding `RESULT` is the result. The stream is
opened with Triton's `triton_grpc_error` header, so a model's typed error ends the stream with its
gRPC status (without it, stream errors are bare strings). Every call has an explicit timeout, the
stream's deadline (tritonclient's default waits forever); cancelling the awaiting task cancels the
stream and with it the request at the server. Failures are classified by their gRPC status code
alone (the models send typed codes: triton_models/phonos_triton/adapter.py):

    UNAVAILABLE, NOT_FOUND (unknown or unloaded model), CANCELLED (dropped by the server) → unavailable
    DEADLINE_EXCEEDED (the client-side deadline)                                          → timeout
    INVALID_ARGUMENT                                                                      → invalid input
    UNIMPLEMENTED (Triton UNSUPPORTED: the model's own compute limit was reached)         → compute limit
    anything else (INTERNAL, UNKNOWN, ...) or a broken result envelope                    → model failure
    ... whose message says the model ran out of memory (`inference.out_of_memory`)       → out of memory

but an INTERNAL that the client made up because it could not write the request (the connection broke under
the call, e.g. a killed Triton) is unavailable too (`lost_connection`).

The request's compute limit travels as the request parameter `phonos_compute_limit_ms`
(phonos_models.common.requests.COMPUTE_LIMIT_PARAMETER); the model counts it from when it starts computing.

Triton's own intake checks (unknown model, wrong input names or datatypes) still arrive on the stream
as bare error strings: see `classify_intake`.

A Triton whose APIs are locked (`phonos serve`'s always is: phonos_config/triton_access.py) answers only calls
carrying its secret, PHONOS_TRITON_API_SECRET: every call but the health probes (open) sends it. A missing or wrong
secret reads as unavailable (Triton says UNAVAILABLE), with a message naming the setting.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

import grpc
import tritonclient.grpc.aio as triton_aio
from phonos_models.common import result_files
from phonos_models.common.progress import PROGRESS, Progress, ProgressError
from phonos_models.common.requests import COMPUTE_LIMIT_PARAMETER
from tritonclient.utils import InferenceServerException

from jobservice import big_work, metrics, tracing
from jobservice.inference import (
    NOT_READY,
    READY,
    SERVER_COMPONENT,
    UNAVAILABLE,
    ComputeLimitExceeded,
    InferenceError,
    InferenceRequest,
    InferenceTimeout,
    InferenceUnavailable,
    InvalidModelInput,
    ModelFailure,
    ModelProcessStopped,
    ProgressCallback,
    Tensor,
    capacity_of,
    model_failure,
    report_progress,
)
from phonos_config.triton_access import grpc_headers, is_locked_out

log = logging.getLogger(__name__)

# Results (full PAE matrices, multi-model PDBs) and inputs (deep A3Ms) run to tens of MiB.
MAX_MESSAGE_BYTES = 512 * 1024 * 1024
HEALTH_PROBE_TIMEOUT_S = 2.0
_UNAVAILABLE_CODES = frozenset({"StatusCode.UNAVAILABLE", "StatusCode.NOT_FOUND", "StatusCode.CANCELLED"})
# The python backend's words for a model instance whose stub process died ("Stub process 'diffdock_0_0' is not
# healthy."; "Failed to ... stub process ... unhealthy" in other versions).
_STUB_GONE = re.compile(r"stub process .*(?:not healthy|unhealthy)", re.IGNORECASE)
_CLIENT_WRITE_FAILED = 'Failed "execute_batch"'  # the debug string grpc.aio gives a request it could not send
# Ask Triton to end a stream with the model's gRPC status code instead of a bare error string.
_TYPED_STREAM_ERRORS = {"triton_grpc_error": "true"}
_REQUESTED_OUTPUTS = (*result_files.OUTPUT_NAMES, PROGRESS)


class TritonInference:
    def __init__(self, url: str, health_cache_s: float = 1.0, *, label: str = "", api_secret: str = "") -> None:
        self._url = url
        self._headers = grpc_headers(api_secret)  # {} for an unlocked Triton: no header at all
        self._label = label or url  # the `endpoint` label of its calls in /metrics
        self._client: triton_aio.InferenceServerClient | None = None
        self._health_cache_s = health_cache_s
        self._health_cache: tuple[float, tuple[str, ...], dict[str, str]] | None = None

    def _get_client(self) -> triton_aio.InferenceServerClient:
        if self._client is None:
            self._client = triton_aio.InferenceServerClient(
                self._url,
                channel_args=[
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                    # A restarted Triton is noticed within ~2 s: gRPC's default reconnect backoff grows
                    # towards minutes the longer the server is down.
                    ("grpc.initial_reconnect_backoff_ms", 500),
                    ("grpc.min_reconnect_backoff_ms", 500),
                    ("grpc.max_reconnect_backoff_ms", 2000),
                ],
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def infer(self, request: InferenceRequest, on_progress: ProgressCallback | None = None,
                    ) -> result_files.ModelResult:
        # Labelled with this server's address: behind a fleet, each member reports for itself.
        attributes = {"server.address": self._url, "phonos.triton_model": request.model,
                      "phonos.request_id": request.request_id}
        with metrics.triton_call(self._label, request.model), \
                tracing.client_span(f"triton.infer {request.model}", attributes) as trace_headers:
            return await self._infer(request, on_progress, trace_headers)

    async def _infer(self, request: InferenceRequest, on_progress: ProgressCallback | None,
                     trace_headers: dict[str, str]) -> result_files.ModelResult:
        # A big job's tensors (a 50 MB A3M: serialize_byte_tensor copies it) are built in a thread
        # (jobservice/big_work.py), so everyone else's calls go on meanwhile; before the call, which sends them.
        tensors = await big_work.off_loop(_input_bytes(request.inputs), _tensors, request.inputs)
        outputs = [triton_aio.InferRequestedOutput(name) for name in _REQUESTED_OUTPUTS]

        parameters = None if request.compute_limit_s is None else {
            COMPUTE_LIMIT_PARAMETER: max(1, round(request.compute_limit_s * 1000))}

        async def one_request() -> AsyncIterator[dict[str, Any]]:
            yield {"model_name": request.model, "inputs": tensors, "outputs": outputs,
                   "request_id": request.request_id, "parameters": parameters}

        stream = self._get_client().stream_infer(one_request(), stream_timeout=request.timeout_s,
                                                 headers={**_TYPED_STREAM_ERRORS, **trace_headers, **self._headers})
        result: result_files.ModelResult | None = None
        try:
            async for response, error in stream:
                if error is not None:
                    raise classify_intake(error)
                if result is None:
                    result = _read_response(request.model, response, on_progress)
        except grpc.aio.AioRpcError as exc:
            if lost_connection(exc):
                # A locked Triton refuses the stream at once, often while the request is still being written: the
                # write's failure is then all the client sees, and the refusal's words are lost. A unary call of
                # a locked API (the model's config) says whether that was it.
                refusal = await self._lock_refusal(request.model)
                if refusal is not None:
                    raise InferenceUnavailable(locked_out_message(self._url, refusal, bool(self._headers))) from exc
                raise InferenceUnavailable(f"{exc.code().name}: {exc.details()} (the connection to {self._url} "
                                           "broke during the call)") from exc
            if is_locked_out(exc.details() or ""):
                raise InferenceUnavailable(locked_out_message(self._url, exc.details() or "", bool(self._headers))) from exc
            raise classify(InferenceServerException(exc.details() or str(exc.code()), status=str(exc.code()))) from exc
        finally:
            if result is None:
                stream.cancel()  # failed, timed out or cancelled by the caller: stop the request at the server
        if result is None:
            raise ModelFailure(f"{request.model} ended its response stream without a result")
        return result

    async def _lock_refusal(self, model: str) -> str | None:
        """Triton's refusal of this client's headers (a lock it does not pass), from a unary call of a locked API;
        None when that call is not refused so (or fails otherwise: the server gone)."""
        try:
            async with asyncio.timeout(HEALTH_PROBE_TIMEOUT_S):
                await self._get_client().get_model_config(model, headers=self._headers)
        except InferenceServerException as exc:
            message = str(exc.message() or exc)
            return message if is_locked_out(message) else None
        except (TimeoutError, OSError, grpc.aio.AioRpcError):
            return None
        return None

    async def capacity(self, model: str) -> int | None:
        """From the model's effective config (instance groups filled in by Triton); None when it cannot be read."""
        try:
            async with asyncio.timeout(HEALTH_PROBE_TIMEOUT_S):
                response = await self._get_client().get_model_config(model, headers=self._headers)
        except (InferenceServerException, TimeoutError, OSError):
            return None
        return capacity_of(response.config)

    async def health(self, models: Sequence[str]) -> dict[str, str]:
        """Cached briefly so /v1/health stays cheap under load."""
        key = tuple(models)
        cached = self._health_cache
        if cached and cached[1] == key and time.monotonic() - cached[0] < self._health_cache_s:
            return dict(cached[2])
        client = self._get_client()
        states = {SERVER_COMPONENT: await _probe(client.is_server_live(), UNAVAILABLE)}
        for model in models:
            if states[SERVER_COMPONENT] != READY:
                states[model] = UNAVAILABLE
            else:
                states[model] = await _probe(client.is_model_ready(model), NOT_READY)
        self._health_cache = (time.monotonic(), key, states)
        return dict(states)


def _input_bytes(inputs: Sequence[Tensor]) -> int:
    """The tensors' size: a BYTES tensor's elements' lengths (one element per text here), others' array bytes."""
    return sum(sum(len(item) for item in spec.array.flat) if spec.datatype == "BYTES" else spec.array.nbytes
               for spec in inputs)


def _tensors(inputs: Sequence[Tensor]) -> list[triton_aio.InferInput]:
    tensors = []
    for spec in inputs:
        tensor = triton_aio.InferInput(spec.name, list(spec.array.shape), spec.datatype)
        tensor.set_data_from_numpy(spec.array)
        tensors.append(tensor)
    return tensors


async def _probe(check: Awaitable[bool], when_false: str) -> str:
    try:
        async with asyncio.timeout(HEALTH_PROBE_TIMEOUT_S):  # not wait_for: it can lose a cancel on Python 3.11
            ok = await check
    except (InferenceServerException, TimeoutError, OSError):
        return UNAVAILABLE
    return READY if ok else when_false


def _read_response(model: str, response: Any, on_progress: ProgressCallback | None) -> result_files.ModelResult | None:
    """The result when this response carries it; else hand its progress record on and return None."""
    names = {output.name for output in response.get_response().outputs}
    if result_files.RESULT in names:
        try:
            return result_files.decode({name: response.as_numpy(name) for name in result_files.OUTPUT_NAMES})
        except result_files.ResultEnvelopeError as exc:
            raise ModelFailure(f"{model} sent a broken result: {exc}") from exc
    if PROGRESS in names and on_progress is not None:
        try:
            update = Progress.from_json(response.as_numpy(PROGRESS).reshape(-1)[0])
        except ProgressError as exc:  # advisory: a bad record is dropped, the job goes on
            log.warning("unreadable progress from %s: %s", model, exc, extra={"action": "inference.bad_progress"})
            return None
        report_progress(on_progress, update)
    return None


def lost_connection(exc: grpc.aio.AioRpcError) -> bool:
    """The client could not write the request to its stream: the connection went away under the call, which a
    Triton killed mid-run does to some of the calls being sent (measured here: 1-2 of 400 calls streaming to a
    Triton killed under them; the rest end UNAVAILABLE). grpc.aio reports it as INTERNAL "Internal error from
    Core", made up by the client (grpc/aio/_call.py `_write`: cygrpc's execute_batch failed), never sent by
    the server; a model's own INTERNAL ("echo failed: RuntimeError ...") does not look like it. It is the
    server's absence, not the model's failure: retried like UNAVAILABLE."""
    return exc.code() == grpc.StatusCode.INTERNAL and (exc.debug_error_string() or "").startswith(_CLIENT_WRITE_FAILED)


def locked_out_message(url: str, details: str, sent: bool) -> str:
    """Why a locked Triton refused the call, for the operator: the setting to fix, never the secret."""
    why = "refused PHONOS_TRITON_API_SECRET" if sent else "wants a secret and PHONOS_TRITON_API_SECRET is unset"
    return f"UNAVAILABLE: Triton at {url} {why} ({details})"


def process_stopped(message: str) -> ModelProcessStopped | None:
    """The python backend's word that the model instance's process died under the call (the server segfaulting
    around it, a stub killed): the server's side, not the model's answer to the input. The job runs again as a
    restart's jobs do, within its attempts, so an input that kills its stub every time still ends (it failed as a
    model error, with the backend's words: a tester's job lost to Triton's known crash, which the README says reruns).
    None for any other message."""
    if not _STUB_GONE.search(message):
        return None
    return ModelProcessStopped(f"the model instance's process stopped during the run ({message})")


def classify_intake(exc: InferenceServerException) -> InferenceError:
    """An error without a status code. On a stream opened with `triton_grpc_error` only Triton's own
    checks when it takes the request in (before any model code) arrive like this: an unknown or unloaded
    model is unavailable, anything else (input names, datatypes, shapes) is the input's fault."""
    message = str(exc.message() or exc)
    lowered = message.lower()
    if (stopped := process_stopped(message)) is not None:  # the server's side, never the input's fault
        return stopped
    if "unknown model" in lowered or "not ready" in lowered or "not found" in lowered or "unavailable" in lowered:
        return InferenceUnavailable(f"NOT_FOUND: {message}")
    return InvalidModelInput(message)


def classify(exc: InferenceServerException) -> InferenceError:
    status = str(exc.status() or "")
    message = str(exc.message() or exc)
    if status == "StatusCode.DEADLINE_EXCEEDED":
        return InferenceTimeout(message)
    if status in _UNAVAILABLE_CODES:
        return InferenceUnavailable(f"{status.removeprefix('StatusCode.')}: {message}")
    if (stopped := process_stopped(message)) is not None:
        return stopped
    if status == "StatusCode.INVALID_ARGUMENT":
        return InvalidModelInput(message)
    if status == "StatusCode.UNIMPLEMENTED":
        return ComputeLimitExceeded(message)
    return model_failure(message)  # an out-of-memory is told apart for the metrics
