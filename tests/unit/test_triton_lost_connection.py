"""A call whose request could not be written (the Triton went away under it) is the server's absence, retried,
not the model's failure, which would fail the job (tests/e2e/test_chaos.py saw 1 job of 200 fail so)."""

from __future__ import annotations

import grpc
import pytest

from jobservice.triton_inference import lost_connection

pytestmark = pytest.mark.unit


def _error(code: grpc.StatusCode, details: str, debug: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=details, debug_error_string=debug)


def test_a_request_the_client_could_not_send_is_a_lost_connection() -> None:
    # As grpc.aio reports a write that failed because the connection closed (seen with a Triton killed mid-run).
    unsent = _error(grpc.StatusCode.INTERNAL, "Internal error from Core",
                    'Failed "execute_batch": (<grpc._cython.cygrpc.SendMessageOperation object at 0x7f44e42124b0>,)')
    assert lost_connection(unsent)


@pytest.mark.parametrize("error", [
    # The model's own failure, as Triton sends it (the echo model's "!fail").
    _error(grpc.StatusCode.INTERNAL, "echo failed: RuntimeError: model failure",
           "INTERNAL:echo failed: RuntimeError: model failure"),
    _error(grpc.StatusCode.UNKNOWN, "Exception iterating requests!", "UNKNOWN:Exception iterating requests!"),
    # Already unavailable by its code (classify): not this rule's business.
    _error(grpc.StatusCode.UNAVAILABLE, "Stream removed (Socket closed)", "UNAVAILABLE:Stream removed (Socket closed)"),
])
def test_errors_the_server_sent_are_not(error: grpc.aio.AioRpcError) -> None:
    assert not lost_connection(error)
