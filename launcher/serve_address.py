"""Where a running `phonos serve` listens, recorded in its data directory for `phonos status`.

`phonos serve --http-port 18931` (or port 0, a free one) listens where no setting says: `phonos status`, which read
only the PHONOS_* settings, asked 127.0.0.1:8080 and answered "nothing answers" about a service that was fine (or,
worse, about another install on 8080). The banner's addresses are written to `serve-address.json` (private, as the
rest of the data directory) once they are known, and taken out when `phonos serve` stops; a record left by a serve
that was killed names a process that is gone, and is not used.

On PostgreSQL several serves share one data directory (on one host, or on several over a shared volume), so the
file holds one record per serve, by host and process: each serve writes and takes out only its own (under a lock),
and `phonos status` reads the newest live one of its own host. One record for all let the last serve to start hide
the others, its stop remove the file while they ran, and a host read another host's 127.0.0.1 address.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ADDRESS_FILE = "serve-address.json"
_LOCK_FILE = f".{ADDRESS_FILE}.lock"


@dataclass(frozen=True)
class ServeAddress:
    pid: int
    url: str  # the gateway's root, as `phonos status --url` takes it
    metrics_url: str | None  # its /metrics; None when metrics are off
    host: str = ""  # the machine it runs on (socket.gethostname()); "" in a record written before hosts were kept


def this_host() -> str:
    return socket.gethostname()


def record(data_dir: Path, address: ServeAddress) -> None:
    """Add this serve's record (replacing an earlier one of its host and pid, and its host's dead ones)."""
    host = address.host or this_host()
    with _locked(data_dir):
        kept = [a for a in _read(data_dir) if a.host not in (host, "") or (a.pid != address.pid and _alive(a.pid))]
        _write(data_dir, [*kept, ServeAddress(address.pid, address.url, address.metrics_url, host)])


def forget(data_dir: Path, pid: int) -> None:
    """Take out `pid`'s record on this host (a second serve refused on this data directory leaves the first's)."""
    host = this_host()
    with _locked(data_dir):
        everyone = _read(data_dir)
        kept = [a for a in everyone if not (a.pid == pid and a.host in (host, ""))]
        if len(kept) == len(everyone):
            return
        if kept:
            _write(data_dir, kept)
        else:
            (data_dir / ADDRESS_FILE).unlink(missing_ok=True)


def recorded(data_dir: Path, *, require_alive: bool = True) -> ServeAddress | None:
    """The newest record of a `phonos serve` running from `data_dir` on this host; None when there is none, the file
    cannot be read, or (`require_alive`) its processes are gone."""
    host = this_host()
    mine = [a for a in _read(data_dir) if a.host in (host, "")]
    if require_alive:
        mine = [a for a in mine if _alive(a.pid)]
    return mine[-1] if mine else None


def _read(data_dir: Path) -> list[ServeAddress]:
    try:
        data = json.loads((data_dir / ADDRESS_FILE).read_text())
        entries: list[Any] = data["serves"] if isinstance(data, dict) and "serves" in data else [data]
        return [ServeAddress(int(e["pid"]), str(e["url"]),
                             None if e.get("metrics_url") is None else str(e["metrics_url"]), str(e.get("host") or ""))
                for e in entries]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _write(data_dir: Path, addresses: list[ServeAddress]) -> None:
    """Atomically, readable by its owner only."""
    path = data_dir / ADDRESS_FILE
    partial = path.with_name(f".{ADDRESS_FILE}.{os.getpid()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"serves": [{"host": a.host, "pid": a.pid, "url": a.url, "metrics_url": a.metrics_url}
                              for a in addresses]}, handle)
    partial.replace(path)


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One serve at a time reads and rewrites the file (two starting together kept only one record). Best effort:
    a shared mount without working locks (NFS without lockd: ENOLCK) must not stop a serve over a status file."""
    try:
        descriptor = os.open(data_dir / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
