"""File downloads cannot take the server's memory: a few at once per client address and in all, and one the
client does not take is dropped after PHONOS_DOWNLOAD_SEND_TIMEOUT_S (gateway/downloads.py).

Was: every download was held whole in memory (about twice the file) until the client read it, with no cap and no
time limit: 20 unread downloads of a 100 MB file took the process from 0.1 to 4 GB, and stayed there."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support import InProcessService, wait_until
from tests.unread_grpc import job_with_output

pytestmark = pytest.mark.integration

FILE_BYTES = 16 * 1024 * 1024  # well past what the kernel buffers for a client that reads nothing (tcp_wmem: 4 MB)
SEND_TIMEOUT_S = 3.0


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(tmp_path_factory.mktemp("downloads"), {
        "PHONOS_DOWNLOADS_PER_CLIENT": "2", "PHONOS_MAX_DOWNLOADS": "3",
        "PHONOS_DOWNLOAD_SEND_TIMEOUT_S": str(SEND_TIMEOUT_S),
        # The clients below are told apart by the address the loopback "proxy" forwards for.
        "PHONOS_TRUSTED_PROXIES": "127.0.0.1",
    })
    yield service
    service.stop()


@pytest.fixture(scope="module")
def big_job(service: InProcessService) -> tuple[str, str]:
    """(key, job id) of a completed job whose PDB output is FILE_BYTES."""
    return job_with_output(service, FILE_BYTES)


def unread_download(service: InProcessService, key: str, job_id: str, client: str) -> socket.socket | None:
    """A download asked for and never read (a tiny receive window): the server holds what it could not send.
    None when it was refused."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", service.http_port))
    sock.sendall((f"GET /v1/jobs/{job_id}/download?format=pdb HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  f"Authorization: Bearer {key}\r\nX-Forwarded-For: {client}\r\n\r\n").encode())
    # Its answer has started (status line in the socket): the job service read the file, the gateway holds it.
    if sock.recv(12, socket.MSG_PEEK) == b"HTTP/1.1 200":
        return sock
    sock.close()
    return None


def held(service: InProcessService, key: str, job_id: str, client: str) -> socket.socket:
    sock = unread_download(service, key, job_id, client)
    assert sock is not None
    return sock


def download(service: InProcessService, key: str, job_id: str, client: str) -> tuple[int, dict[str, str], bytes]:
    """A download that is read: its status, headers and (for a refusal) its body."""
    client_api = service.client(key)
    response = client_api.get(f"/v1/jobs/{job_id}/download?format=pdb", headers={"X-Forwarded-For": client},
                              stream=True)
    body = response.content if response.status_code != 200 else b""
    response.close()
    return response.status_code, dict(response.headers), body


def received_until_closed(sock: socket.socket, timeout_s: float = 30) -> int:
    """Bytes the socket gets until the server ends the connection (reset or EOF)."""
    sock.settimeout(timeout_s)
    total = 0
    try:
        while chunk := sock.recv(1 << 20):
            total += len(chunk)
    except ConnectionResetError:
        pass
    return total


def test_unread_downloads_beyond_the_clients_cap_are_429_and_dropped_after_the_send_timeout(
        service: InProcessService, big_job: tuple[str, str]) -> None:
    key, job_id = big_job
    unread = [held(service, key, job_id, "10.0.0.1") for _ in range(2)]
    try:
        status, headers, body = download(service, key, job_id, "10.0.0.1")
        assert status == 429, status  # was 200: a third (a thousandth) held file
        assert headers["Content-Type"] == "application/json"
        assert headers["Retry-After"] == "5"
        assert body.startswith(b'{"error":"Rate limit exceeded","message":"Too many downloads in progress from your '
                               b'address (2 at once)')
        # Another address, and every other route of the same key, are not held up.
        assert download(service, key, job_id, "10.0.0.2")[0] == 200
        assert service.client(key).get(f"/v1/jobs/{job_id}").status_code == 200
        # Not taken within the send timeout: the connection is dropped (the buffered file with it), and the slot
        # comes back. Was: the whole file arrived whenever the client chose to read it, however late.
        # (Both slots back, both unread downloads timed out; read them only now: reading would take them.)
        unread += [wait_until(lambda: unread_download(service, key, job_id, "10.0.0.1"), timeout_s=15)
                   for _ in range(2)]
        for sock in unread[:2]:
            assert received_until_closed(sock) < FILE_BYTES
    finally:
        for sock in unread:
            sock.close()


def test_downloads_in_progress_are_capped_in_all(service: InProcessService, big_job: tuple[str, str]) -> None:
    key, job_id = big_job
    wait_until(lambda: download(service, key, job_id, "10.0.1.1")[0] == 200, timeout_s=15)  # earlier slots back
    unread = [held(service, key, job_id, address) for address in ("10.0.1.1", "10.0.1.1", "10.0.1.2")]
    try:
        status, headers, body = download(service, key, job_id, "10.0.1.3")
        assert status == 429, status
        assert headers["Retry-After"] == "5"
        assert b"Too many downloads in progress on this server (3 at once)" in body
    finally:
        for sock in unread:
            sock.close()
    # A client that leaves gives its slot back (its write fails, or at the latest the send timeout).
    wait_until(lambda: download(service, key, job_id, "10.0.1.3")[0] == 200, timeout_s=15)


def test_an_ipv6_client_is_its_64(service: InProcessService, big_job: tuple[str, str]) -> None:
    """Counted as the failed-auth throttle counts: one /64, not a fresh budget for each of its addresses."""
    key, job_id = big_job
    wait_until(lambda: download(service, key, job_id, "10.0.4.1")[0] == 200, timeout_s=15)  # earlier slots back
    unread = [held(service, key, job_id, "2001:db8:0:1::1"), held(service, key, job_id, "2001:db8:0:1::2")]
    try:
        status, _, body = download(service, key, job_id, "2001:db8:0:1::3")
        assert status == 429, status
        assert b"from your address" in body
        assert download(service, key, job_id, "2001:db8:0:2::1")[0] == 200  # another /64
    finally:
        for sock in unread:
            sock.close()
