"""The ports `phonos serve` picks for its tritonserver (launcher/ports.py, launcher/triton.py)."""

from __future__ import annotations

import socket

import pytest

from launcher.triton import TritonPorts

pytestmark = pytest.mark.unit


def test_tritons_three_ports_are_three_different_ports_each_held_until_all_are_chosen(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Chosen one after another (bind, close, bind again), the OS could hand back the port it had just released: a CI
    run's tritonserver got the same port for HTTP and gRPC and exited. All three are bound before any is closed."""
    events: list[str] = []
    real_bind, real_close = socket.socket.bind, socket.socket.close

    def bind(sock: socket.socket, address: object) -> None:
        events.append("bind")
        real_bind(sock, address)

    def close(sock: socket.socket) -> None:
        events.append("close")
        real_close(sock)

    monkeypatch.setattr(socket.socket, "bind", bind)
    monkeypatch.setattr(socket.socket, "close", close)
    ports = TritonPorts.pick()
    monkeypatch.undo()
    assert len({ports.http, ports.grpc, ports.metrics}) == 3, ports
    assert events.index("close") == 3 and events.count("bind") == 3, events
