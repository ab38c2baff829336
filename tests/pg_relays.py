"""Loopback TCP relays between a job service (or a store) and a real PostgreSQL, for the tests that need the
network between them to misbehave: a close held back (tests/store/test_pg_operations.py LingeringRelay), packets
dropped silently (tests/service/test_database_blackhole.py SilentRelay). This is their shared part: accept a
connection, connect it upstream, pump bytes both ways on threads; each subclass says what passes and what a
connection's end does."""

from __future__ import annotations

import socket
import threading
from urllib.parse import urlsplit, urlunsplit


class Relay:
    """Relays loopback connections on `port` to `upstream`. While `dark` every relayed byte is dropped (nothing
    closed). Hooks: `_hold` (accept a connection and never relay it), `_passes` (relay these bytes) and `_ended`
    (what the other side sees when one side of a relayed connection ends)."""

    def __init__(self, upstream: tuple[str, int], name: str, port: int = 0) -> None:
        """`port`: where to listen (0: any free port), e.g. one a job service has been refused on so far."""
        self.upstream = upstream
        self.dark = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name=name, daemon=True).start()

    def url(self, url: str, server_port: int) -> str:
        """`url` (of the server on `server_port`) through this relay."""
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{server_port}", f":{self.port}")))

    def close(self) -> None:
        """No new connections; the relayed ones stay as they are (subclasses may end them)."""
        self._listener.close()

    def _keep(self, *socks: socket.socket) -> None:
        with self._lock:
            self._sockets.extend(socks)

    def _hold(self, client: socket.socket) -> bool:
        return False

    def _passes(self, source: socket.socket) -> bool:
        return not self.dark

    def _ended(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        raise NotImplementedError

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            if self._hold(client):
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            self._keep(client, server)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        try:
            while data := source.recv(65536):
                if self._passes(source):
                    sink.sendall(data)
        except OSError:
            pass
        self._ended(source, sink, from_client)


def shut(sock: socket.socket) -> None:
    """Both directions of `sock` ended (the peer reads its end), ignoring one already gone."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
