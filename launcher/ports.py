"""Loopback ports: free ones chosen at run time, and whether a server could listen on a given one."""

from __future__ import annotations

import errno
import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS says is free now on `host` (an IPv6 address too: `::`); there is a small race until it is
    bound again."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` different free ports on `host`, each held until all are chosen. Asked one after another (free_port
    three times), the OS may hand back a port it has just released: tritonserver then got the same port for HTTP
    and gRPC and exited ("cannot listen to HTTP requests and GRPC requests at the same address and port")."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets = [socket.socket(family, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def can_listen(host: str, port: int) -> bool:
    """Whether a server could listen on `host`:`port` now: a probe socket binds it (with SO_REUSEADDR, as the
    servers bind, so a port left in TIME_WAIT by a stopped server still counts as free). A port some address
    of `host` has in use is taken; an address this machine lacks (`localhost` without IPv6) is skipped, as
    the servers skip it, unless it is the only one."""
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False
    bound = 0
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return False
                continue
            bound += 1
    return bound > 0


def is_local_address(host: str) -> bool:
    """Whether `host` names an address of this machine a server could bind (any port): False for a name that
    does not resolve or resolves only to other machines' addresses."""
    try:
        addresses = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno != errno.EADDRNOTAVAIL:
                    return True  # bindable address, some other trouble (the port check words it)
                continue
            return True
    return False
