"""Which Host headers a listener answers to, against DNS rebinding: the REST edge (gateway/allowed_hosts.py) and
both Prometheus listeners (jobservice/metrics_server.py, gateway/metrics.py) share this rule.

A page of another site can make its own name resolve to this server (or to 127.0.0.1, where the listeners are by
default) and then call it from a person's browser as its own origin: the browser's same-origin rule protects names,
not addresses. Such requests still carry the attacker's name in their Host header, so a listener that knows its own
names refuses them. An IP address as the Host is never an attacker's: a browser sends one only for a page whose
origin is that address.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

from phonos_config.json_text import json_value_text

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Names a browser resolves to this machine itself, never through DNS (an attacker's resolver cannot answer them).
LOOPBACK_NAMES = ("localhost",)
# What a /metrics listener's refusal tells the operator to set.
METRICS_HOSTS_SETTING = "PHONOS_METRICS_ALLOWED_HOSTS (or PHONOS_ALLOWED_HOSTS)"


def host_name(header: str) -> str:
    """The name of a Host header, lower-case, without its port or a trailing dot: `[::1]:8080` -> `[::1]`."""
    header = header.strip().lower()
    if header.startswith("["):
        end = header.find("]")
        return header if end < 0 else header[:end + 1]
    return header.rsplit(":", 1)[0].rstrip(".") if header.count(":") <= 1 else header


def is_address(name: str) -> bool:
    """Whether a Host header's name is an IP address (`10.0.0.5`, `[::1]`), not a DNS name."""
    try:
        ipaddress.ip_address(name[1:-1] if name.startswith("[") and name.endswith("]") else name)
    except ValueError:
        return False
    return True


def allowed(host: str, allowed_hosts: Iterable[str]) -> bool:
    """Whether `host` (a Host header) names one of `allowed_hosts` (an exact name, or under a `.name` entry) or is
    an IP address. Rebinding needs a name the attacker's DNS answers for: a browser sends an address as the Host
    only for a page whose origin is that address, i.e. this server's own pages. So addresses always pass, which
    keeps working what reaches the server by address: `phonos serve`'s and `phonos status`'s health checks on
    127.0.0.1, a Kubernetes probe or Prometheus scrape on the pod's IP, a person using the server's address."""
    name = host_name(host)
    if is_address(name):
        return True
    for entry in (entry.strip().lower() for entry in allowed_hosts):
        if entry.startswith("."):
            if name == entry[1:].rstrip(".") or name.endswith(entry.rstrip(".")):
                return True
        elif name == entry.rstrip("."):
            return True
    return False


def listener_names(bound_host: str, *configured: Iterable[str]) -> tuple[str, ...]:
    """The names a loopback-by-default listener answers to besides any IP address: `localhost`, this machine's own
    host name (a Prometheus static target `gpu-box:9464`; an attacker's page never carries it, its DNS is not the
    attacker's), the name it was told to bind (PHONOS_METRICS_HOST=metrics.lab) and the `configured` lists."""
    names = [*LOOPBACK_NAMES, socket.gethostname()]
    if bound_host and not is_address(host_name(bound_host)):
        names.append(bound_host)
    for entries in configured:
        names.extend(entries)
    return tuple(dict.fromkeys(name.strip().lower().rstrip(".") for name in names if name.strip()))


def refused_host_text(host: str, setting: str) -> str:
    """The words of the 400 for a Host header that names no name of this listener (the edge's, as text)."""
    return (f"This server does not answer to the host {json_value_text(host[:100])} (the Host header); "
            f"use one of its own names. The operator lists them in {setting}.")


def host_check(names: Iterable[str], setting: str) -> Callable[..., Awaitable[web.StreamResponse]]:
    """An aiohttp middleware answering 400 (plain text, as Prometheus endpoints speak) to a request whose Host header
    is neither an IP address nor one of `names`, nor this machine's full DNS name (`learn_full_name`). An HTTP/1.0
    request without a Host header is served: browsers always send one, so it is no rebinding page (aiohttp itself
    refuses an HTTP/1.1 request without one)."""
    known = list(names)
    learn_full_name(known)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        host = request.headers.get("Host")
        if host is not None and not allowed(host, known):
            return web.Response(status=400, text=refused_host_text(host, setting) + "\n")
        return await handler(request)

    return middleware


def learn_full_name(names: list[str]) -> threading.Thread:
    """Add this machine's full DNS name (`socket.getfqdn()`: `gpu-box.lab.org` where `hostname` says `gpu-box`) to
    `names`, from a thread of its own. A Prometheus static target usually names the machine in full; the lab's DNS
    answers that name, never an attacker's, so it is as safe as the short one. The lookup asks the resolver, which
    can take seconds where DNS is away: a listener answers at once and knows the name once the lookup is back (a
    list's append is atomic, and the middleware reads the list on each request)."""
    def learn(name: str) -> None:
        name = name.strip().lower().rstrip(".")
        if name and not is_address(host_name(name)) and name not in names:
            names.append(name)

    def look_up() -> None:
        # Each as soon as it is known; the canonical name too: getfqdn() says `localhost` where /etc/hosts reads
        # `127.0.0.1 localhost vm`.
        lookups: tuple[Callable[[], Iterable[str]], ...] = (
            lambda: [socket.getfqdn()],
            lambda: [info[3] for info in socket.getaddrinfo(socket.gethostname(), None, flags=socket.AI_CANONNAME)])
        for lookup in lookups:
            try:
                for name in lookup():
                    learn(name)
            except (OSError, UnicodeError):
                continue

    thread = threading.Thread(target=look_up, name="listener-full-name", daemon=True)
    thread.start()
    return thread
