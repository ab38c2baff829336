"""The job service's side of Triton: typed tensors over tritonclient's asyncio gRPC client.

Every call has an explicit timeout (tritonclient's default waits forever).
Connection-level failures surface as `TritonUnavailable` so dispatch can retry
them; a model's own error (bad input, crash in model code) as `TritonModelError`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence

import numpy as np
import tritonclient.grpc.aio as triton_aio
from tritonclient.utils import InferenceServerException

from jobservice.modelspecs.base import TritonInput

MAX_MESSAGE_BYTES = 512 * 1024 * 1024
# Model code marks errors caused by the request itself with this prefix (no refund then).
INVALID_INPUT_MARKER = "[invalid input]"
_RETRYABLE = ("StatusCode.UNAVAILABLE",)


class TritonUnavailable(Exception):
    """Triton cannot be reached or is not ready; worth retrying."""


class TritonTimeout(Exception):
    """The call outlived its timeout; not retried (the same input would take as long again)."""


class TritonModelError(Exception):
    """The model answered with an error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.invalid_input = INVALID_INPUT_MARKER in message


class TritonGateway:
    def __init__(self, url: str) -> None:
        self._url = url
        self._client: triton_aio.InferenceServerClient | None = None
        self._health_cache: tuple[float, dict[str, str]] | None = None

    def _get_client(self) -> triton_aio.InferenceServerClient:
        if self._client is None:
            self._client = triton_aio.InferenceServerClient(
                self._url,
                channel_args=[
                    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ],
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def infer(
        self, model: str, inputs: Sequence[TritonInput], output_names: Sequence[str], timeout_s: float,
        request_id: str = "",
    ) -> dict[str, np.ndarray]:
        tensors = []
        for spec in inputs:
            tensor = triton_aio.InferInput(spec.name, list(spec.array.shape), spec.datatype)
            tensor.set_data_from_numpy(spec.array)
            tensors.append(tensor)
        outputs = [triton_aio.InferRequestedOutput(name) for name in output_names]
        try:
            result = await self._get_client().infer(
                model, tensors, outputs=outputs, client_timeout=timeout_s, request_id=request_id
            )
        except InferenceServerException as exc:
            raise _classify(exc) from exc
        return {name: result.as_numpy(name) for name in output_names}

    async def health(self, models: Sequence[str], cache_s: float = 1.0) -> dict[str, str]:
        """{"triton": state, <model>: state}; cached briefly so /v1/health stays cheap under load."""
        cached = self._health_cache
        if cached and time.monotonic() - cached[0] < cache_s:
            return cached[1]
        states: dict[str, str] = {}
        client = self._get_client()
        try:
            live = await asyncio.wait_for(client.is_server_live(), timeout=2.0)
            states["triton"] = "ready" if live else "unavailable"
        except (InferenceServerException, TimeoutError, OSError):
            states["triton"] = "unavailable"
        for model in models:
            if states["triton"] != "ready":
                states[model] = "unavailable"
                continue
            try:
                ready = await asyncio.wait_for(client.is_model_ready(model), timeout=2.0)
                states[model] = "ready" if ready else "not_ready"
            except (InferenceServerException, TimeoutError, OSError):
                states[model] = "unavailable"
        self._health_cache = (time.monotonic(), states)
        return states


def _classify(exc: InferenceServerException) -> Exception:
    status = str(exc.status() or "")
    message = str(exc.message() or exc)
    if status == "StatusCode.DEADLINE_EXCEEDED":
        return TritonTimeout(message)
    if status in _RETRYABLE or "failed to connect" in message.lower() or "socket closed" in message.lower():
        return TritonUnavailable(f"{status or 'unavailable'}: {message}")
    if "unknown model" in message.lower() or "is not ready" in message.lower():
        return TritonUnavailable(message)
    return TritonModelError(message)


def decode_bytes(outputs: Mapping[str, np.ndarray], name: str) -> bytes:
    """The first element of a BYTES output tensor."""
    value = outputs[name].reshape(-1)[0]
    return value if isinstance(value, bytes) else bytes(value)
