"""Request bodies in flight are bounded per client address and in all (PHONOS_UPLOAD_BYTES_PER_CLIENT,
PHONOS_MAX_UPLOAD_BYTES: gateway/uploads.py), so one client's big submissions sent at once cannot take the memory.

Was: only the request rate was limited. Bodies of up to ~64 MB each (AlphaFold2's A3M) were all read and held at once
(about three times their size at the peak: 8 submissions of 60 MB took the process from 0.2 to 1.5 GB), as many as a
key's rate limit (or several keys') let through in one go."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator

import pytest

from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

PER_CLIENT = 1024 * 1024
TOTAL = 2 * 1024 * 1024
BODY = 800_000  # one fits a client's budget, two do not


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(tmp_path_factory.mktemp("uploads"), {
        "PHONOS_UPLOAD_BYTES_PER_CLIENT": str(PER_CLIENT), "PHONOS_MAX_UPLOAD_BYTES": str(TOTAL),
        # The clients below are told apart by the address the loopback "proxy" forwards for.
        "PHONOS_TRUSTED_PROXIES": "127.0.0.1",
    })
    yield service
    service.stop()


@pytest.fixture(scope="module")
def key(service: InProcessService) -> str:
    return service.new_key()


def trickled(service: InProcessService, key: str, client: str, size: int = BODY) -> socket.socket:
    """A submission whose body is announced and only begun: it stays in flight while the socket is open."""
    sock = socket.create_connection(("127.0.0.1", service.http_port))
    sock.sendall((f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                  f"X-Forwarded-For: {client}\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
                  '{"model": "esmfold", "name": "').encode())
    return sock


def submit(service: InProcessService, key: str, client: str, size: int = BODY) -> tuple[int, str, str | None]:
    """A whole submission of `size` bytes (a long name: the job is refused as invalid, not run): its status, body
    and Retry-After."""
    body = b'{"model": "esmfold", "sequence": "MKTV", "name": "' + b"n" * (size - 52) + b'"}'
    assert len(body) == size
    response = service.client(key).post("/v1/predict", data=body, headers={
        "X-Forwarded-For": client, "Content-Type": "application/json"})
    return response.status_code, response.text, response.headers.get("Retry-After")


def refused(answer: tuple[int, str, str | None]) -> bool:
    return answer[0] == 429


def refusal(service: InProcessService, key: str, client: str) -> tuple[int, str, str | None] | None:
    """A submission's answer when it is a 429, else None."""
    answer = submit(service, key, client)
    return answer if refused(answer) else None


def test_a_clients_bodies_in_flight_are_bounded_and_given_back(service: InProcessService, key: str) -> None:
    held = trickled(service, key, "10.0.2.1")
    try:
        # Once the first body is being read, a second from the same address does not fit: a 429 before it is read.
        # (Was: read and answered like any other, however many were in flight.)
        status, text, retry_after = wait_until(lambda: refusal(service, key, "10.0.2.1"), timeout_s=15)
        assert retry_after == "5"
        assert text.startswith('{"error":"Rate limit exceeded","message":"Too many request bytes in progress from '
                               'your address (at most 1 MiB at once)')
        assert not refused(submit(service, key, "10.0.2.2"))  # another address is not held up
        assert service.client(key).get("/v1/account").status_code == 200  # nor a request without a body
    finally:
        held.close()
    # The held request ends with its connection: its bytes are given back.
    wait_until(lambda: not refused(submit(service, key, "10.0.2.1")), timeout_s=15)


def test_bodies_in_flight_are_bounded_in_all_and_one_alone_always_fits(service: InProcessService, key: str) -> None:
    wait_until(lambda: not refused(submit(service, key, "10.0.3.9")), timeout_s=15)  # nothing left in flight
    # Alone, a body larger than a client's budget goes through (a limit below a route's size never locks it out).
    assert not refused(submit(service, key, "10.0.3.1", size=PER_CLIENT + 200_000))
    held = [trickled(service, key, "10.0.3.2"), trickled(service, key, "10.0.3.3")]
    try:
        status, text, retry_after = wait_until(lambda: refusal(service, key, "10.0.3.4"), timeout_s=15)
        assert retry_after == "5"
        assert "Too many request bytes in progress on this server (at most 2 MiB at once)" in text
    finally:
        for sock in held:
            sock.close()
    wait_until(lambda: not refused(submit(service, key, "10.0.3.4")), timeout_s=15)


def answer_of(sock: socket.socket) -> bytes:
    """The first bytes the server answers on `sock` (its status line), waiting up to 15 s."""
    sock.settimeout(15)
    return sock.recv(4096)


def test_a_body_behind_expect_100_continue_is_refused_before_it_is_asked_for(service: InProcessService,
                                                                               key: str) -> None:
    """curl sends `Expect: 100-continue` for bodies over 1 MiB: a body that does not fit gets its 429 instead of the
    "100 Continue" (was: 100 first, then a 429 once part of the body had been sent, and the connection cut: curl
    reported a send failure, not the 429)."""
    held = trickled(service, key, "10.0.4.1")
    try:
        wait_until(lambda: refusal(service, key, "10.0.4.1"), timeout_s=15)  # the held body is being read
        sock = socket.create_connection(("127.0.0.1", service.http_port))
        try:
            sock.sendall((f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                          f"X-Forwarded-For: 10.0.4.1\r\nContent-Type: application/json\r\nContent-Length: {BODY}\r\n"
                          "Expect: 100-continue\r\n\r\n").encode())
            answer = answer_of(sock)
        finally:
            sock.close()
        assert answer.startswith(b"HTTP/1.1 429"), answer[:200]
        assert b"Too many request bytes in progress from your address" in answer
    finally:
        held.close()
    # Nothing was counted for the refused request: with the held one gone, the address may send again.
    wait_until(lambda: not refused(submit(service, key, "10.0.4.1")), timeout_s=15)


def test_one_chunked_or_compressed_body_alone_always_fits(service: InProcessService, key: str) -> None:
    """A lone body larger than a client's budget goes through when it is chunked (counted as it arrives) or
    compressed (counted compressed, then inflated). Was: a 429 on every try once its own bytes passed the budget."""
    wait_until(lambda: not refused(submit(service, key, "10.0.5.1")), timeout_s=15)  # nothing left in flight
    size = PER_CLIENT + 200_000
    body = b'{"model": "esmfold", "sequence": "MKTV", "name": "' + b"n" * (size - 52) + b'"}'
    sock = socket.create_connection(("127.0.0.1", service.http_port))
    try:
        sock.sendall((f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
                      "X-Forwarded-For: 10.0.5.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                      "Connection: close\r\n\r\n").encode())
        for start in range(0, len(body), 65_536):
            chunk = body[start:start + 65_536]
            sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        answer = answer_of(sock)
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 ") and not answer.startswith(b"HTTP/1.1 429"), answer[:300]
    compressed = gzip.compress(body)
    response = service.client(key).post("/v1/predict", data=compressed, headers={
        "X-Forwarded-For": "10.0.5.2", "Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert response.status_code != 429, response.text
