"""A file download its client did not take whole counts as 499 in `phonos_http_request_seconds`, not as the 200 its
status line said: one the gateway cut off after PHONOS_DOWNLOAD_SEND_TIMEOUT_S (gateway/downloads.py), and one whose
client left mid-file. Was: both counted 200, so the REST panel showed every dropped download as a success."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
from google.api import httpbody_pb2
from prometheus_client import REGISTRY

from gateway.invoker import InProcessInvoker
from gateway.server import start_gateway
from phonos.v1 import phonos_pb2 as pb
from phonos_config.edge import EdgeSettings
from tests.gateway.test_gateway_integration import AUTH, JOB_ID, FixedServicer

pytestmark = pytest.mark.integration

ROUTE = "/v1/jobs/{job_id}/download"
FILE_BYTES = 32 * 1024 * 1024  # far more than loopback's socket buffers hold: the send waits on the client
SEND_TIMEOUT_S = 0.5


class BigFileServicer(FixedServicer):
    async def DownloadJobOutput(self, request: pb.DownloadJobOutputRequest, context: Any
                                ) -> pb.DownloadJobOutputResponse:
        await self._authorize("DownloadJobOutput", request, context)
        body = httpbody_pb2.HttpBody(content_type="chemical/x-pdb", data=b"A" * FILE_BYTES)
        return pb.DownloadJobOutputResponse(file=body, file_name=f"{request.job_id}.pdb")


def counted(status: str) -> float:
    labels = {"method": "GET", "route": ROUTE, "status": status}
    return REGISTRY.get_sample_value("phonos_http_request_seconds_count", labels) or 0.0


async def eventually(probe: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not probe():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("client", ["stops reading", "leaves mid-file"])
def test_a_download_not_taken_whole_counts_as_499(client: str) -> None:
    async def scenario() -> None:
        runner, port = await start_gateway(InProcessInvoker(BigFileServicer()), "127.0.0.1", 0,
                                           edge=EdgeSettings(download_send_timeout_s=SEND_TIMEOUT_S))
        sock = socket.socket()
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.setblocking(False)
            loop = asyncio.get_running_loop()
            await loop.sock_connect(sock, ("127.0.0.1", port))
            before_ok, before_cut = counted("200"), counted("499")
            await loop.sock_sendall(sock, f"GET /v1/jobs/{JOB_ID}/download HTTP/1.1\r\nHost: x\r\n"
                                          f"Authorization: {AUTH}\r\n\r\n".encode())
            head = await asyncio.wait_for(loop.sock_recv(sock, 4096), 10)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            if client == "leaves mid-file":
                sock.close()  # unread bytes in its buffer: the server's next write meets a reset
            # Counted once the gateway is done with it: cut off after SEND_TIMEOUT_S, or at once.
            await eventually(lambda: counted("499") > before_cut or counted("200") > before_ok)
            assert (counted("200") - before_ok, counted("499") - before_cut) == (0, 1)
        finally:
            sock.close()
            await runner.cleanup()

    asyncio.run(scenario())
