"""The real `Inference`: a Triton server over tritonclient's asyncio gRPC client.

Every call has an explicit timeout (tritonclient's default waits forever). Failures are classified
by their gRPC status code alone (the models send typed codes: triton_models/phonos_triton/adapter.py):

    UNAVAILABLE, NOT_FOUND (unknown or unloaded model), CANCELLED (dropped by the server) → unavailable
    DEADLINE_EXCEEDED                                                                     → timeout
    INVALID_ARGUMENT                                                                      → invalid input
    anything else (INTERNAL, UNKNOWN, ...) or a broken result envelope                    → model failure
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Sequence

import tritonclient.grpc.aio as triton_aio
from phonos_models.common import result_files
from tritonclient.utils import InferenceServerException

from jobservice import metrics, tracing
from jobservice.inference import (
    NOT_READY,
    READY,
    SERVER_COMPONENT,
    UNAVAILABLE,
    InferenceError,
    InferenceRequest,
    InferenceTimeout,
    InferenceUnavailable,
    InvalidModelInput,
    ModelFailure,
)

# Results (full PAE matrices, multi-model PDBs) and inputs (deep A3Ms) run to tens of MiB.
MAX_MESSAGE_BYTES = 512 * 1024 * 1024
HEALTH_PROBE_TIMEOUT_S = 2.0
_UNAVAILABLE_CODES = frozenset({"StatusCode.UNAVAILABLE", "StatusCode.NOT_FOUND", "StatusCode.CANCELLED"})


class TritonInference:
    def __init__(self, url: str, health_cache_s: float = 1.0) -> None:
        self._url = url
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

    async def infer(self, request: InferenceRequest) -> result_files.ModelResult:
        # Labelled with this server's address: behind a fleet, each member reports for itself.
        attributes = {"server.address": self._url, "phonos.triton_model": request.model,
                      "phonos.request_id": request.request_id}
        with metrics.triton_call(self._url, request.model), \
                tracing.client_span(f"triton.infer {request.model}", attributes) as headers:
            return await self._infer(request, headers)

    async def _infer(self, request: InferenceRequest, headers: dict[str, str]) -> result_files.ModelResult:
        tensors = []
        for spec in request.inputs:
            tensor = triton_aio.InferInput(spec.name, list(spec.array.shape), spec.datatype)
            tensor.set_data_from_numpy(spec.array)
            tensors.append(tensor)
        outputs = [triton_aio.InferRequestedOutput(name) for name in result_files.OUTPUT_NAMES]
        try:
            response = await self._get_client().infer(
                request.model, tensors, outputs=outputs, client_timeout=request.timeout_s,
                request_id=request.request_id, headers=headers or None,
            )
        except InferenceServerException as exc:
            raise classify(exc) from exc
        try:
            return result_files.decode({name: response.as_numpy(name) for name in result_files.OUTPUT_NAMES})
        except result_files.ResultEnvelopeError as exc:
            raise ModelFailure(f"{request.model} sent a broken result: {exc}") from exc

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


async def _probe(check: Awaitable[bool], when_false: str) -> str:
    try:
        ok = await asyncio.wait_for(check, timeout=HEALTH_PROBE_TIMEOUT_S)
    except (InferenceServerException, TimeoutError, OSError):
        return UNAVAILABLE
    return READY if ok else when_false


def classify(exc: InferenceServerException) -> InferenceError:
    status = str(exc.status() or "")
    message = str(exc.message() or exc)
    if status == "StatusCode.DEADLINE_EXCEEDED":
        return InferenceTimeout(message)
    if status in _UNAVAILABLE_CODES:
        return InferenceUnavailable(f"{status.removeprefix('StatusCode.')}: {message}")
    if status == "StatusCode.INVALID_ARGUMENT":
        return InvalidModelInput(message)
    return ModelFailure(message)
