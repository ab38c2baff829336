"""A gRPC call from a client that reads none of the answer, spoken in raw HTTP/2 over a socket.

A grpc client's own core reads every response as it arrives, whatever the application does, so it cannot stand
for the client that matters to the server's memory: one that asks for a big message and never takes it. This one
opens its stream with a receive window of 0 bytes (SETTINGS_INITIAL_WINDOW_SIZE): the server may send the
response's headers (they are not flow-controlled) but not one byte of its message, which it holds until the
client opens the window, leaves, or the server gives up. Used by tests/service/test_grpc_pressure.py and
bench/grpc_pressure.py, with `job_with_output` for a file worth holding (and by tests/service/test_dos_downloads.py).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support import ServiceEndpoints

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY = 0x0, 0x1, 0x3, 0x4, 0x7
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_INITIAL_WINDOW_SIZE = 0x4
STREAM = 1


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes((kind, flags)) + struct.pack(">I", stream) + payload


def _hpack_string(text: str) -> bytes:
    """An HPACK string literal, not Huffman-coded (RFC 7541 5.2), its length a 7-bit-prefix integer (5.1)."""
    data = text.encode()
    length, prefix = len(data), bytearray()
    if length < 127:
        prefix.append(length)
    else:
        prefix.append(127)
        length -= 127
        while length >= 128:
            prefix.append(length % 128 + 128)
            length //= 128
        prefix.append(length)
    return bytes(prefix) + data


def header_block(headers: Iterable[tuple[str, str]]) -> bytes:
    """Each header as a literal field without indexing, new name (RFC 7541 6.2.2): no table state to keep."""
    return b"".join(b"\x00" + _hpack_string(name) + _hpack_string(value) for name, value in headers)


def job_with_output(service: ServiceEndpoints, size: int) -> tuple[str, str]:
    """(key, job id) of a job completed on `service` (the inference twin's) whose PDB output is `size` bytes."""
    key = service.new_key()
    client = service.client(key)
    job_id = client.predict().json()["job_id"]
    assert client.wait_for(job_id)["status"] == "completed"
    (pdb,) = Path(service.data_dir, "results").rglob(f"{job_id}.pdb")
    pdb.write_bytes(b"REMARK" + b"x" * (size - 7) + b"\n")
    return key, job_id


class UnreadCall:
    """One unary call on a connection of its own whose answer is never read (module docstring)."""

    def __init__(self, port: int, method: str, message: bytes, metadata: Iterable[tuple[str, str]] = ()) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        settings = struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, 0)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))
        self._buffer = b""
        self._ack_settings()
        headers = [(":method", "POST"), (":scheme", "http"), (":path", method), (":authority", f"127.0.0.1:{port}"),
                   ("content-type", "application/grpc"), ("te", "trailers"), *metadata]
        body = b"\x00" + struct.pack(">I", len(message)) + message
        self.sock.sendall(frame(HEADERS, END_HEADERS, STREAM, header_block(headers))
                          + frame(DATA, END_STREAM, STREAM, body))

    def _next_frame(self) -> tuple[int, int, int, bytes]:
        while len(self._buffer) < 9 or len(self._buffer) < 9 + int.from_bytes(self._buffer[:3], "big"):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            self._buffer += chunk
        length = int.from_bytes(self._buffer[:3], "big")
        kind, flags = self._buffer[3], self._buffer[4]
        stream = int.from_bytes(self._buffer[5:9], "big") & 0x7FFFFFFF
        payload, self._buffer = self._buffer[9:9 + length], self._buffer[9 + length:]
        return kind, flags, stream, payload

    def _ack_settings(self) -> None:
        while True:
            kind, flags, _, _ = self._next_frame()
            if kind == SETTINGS and not flags & ACK:
                self.sock.sendall(frame(SETTINGS, ACK, 0, b""))
                return

    def started(self) -> bool:
        """Wait for the answer's first frame on the stream: True when it is the response's headers (the server
        has the message ready and is trying to send it), False when the call ended at once (a refusal: headers
        that end the stream, or a reset). Reads nothing of the message, whose window stays shut."""
        while True:
            kind, flags, stream, _ = self._next_frame()
            if kind == GOAWAY:
                return False
            if stream != STREAM:
                continue
            if kind == HEADERS:
                return not flags & END_STREAM
            if kind == RST_STREAM:
                return False

    def closed_by_server(self, timeout_s: float) -> bool:
        """Whether, within `timeout_s`, the server ends the stream (a reset, trailers) or the connection."""
        self.sock.settimeout(timeout_s)
        try:
            while True:
                kind, flags, stream, _ = self._next_frame()
                if kind == GOAWAY or stream == STREAM and (kind == RST_STREAM or flags & END_STREAM):
                    return True
        except TimeoutError:
            return False
        except OSError:  # the server closed or reset the connection
            return True
        finally:
            self.sock.settimeout(30)

    def close(self) -> None:
        self.sock.close()
