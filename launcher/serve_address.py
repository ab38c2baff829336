"""Where a running `phonos serve` listens, recorded in its data directory for `phonos status`.

`phonos serve --http-port 18931` (or port 0, a free one) listens where no setting says: `phonos status`, which read
only the PHONOS_* settings, asked 127.0.0.1:8080 and answered "nothing answers" about a service that was fine (or,
worse, about another install on 8080). The banner's addresses are written to `serve-address.json` (private, as the
rest of the data directory) once they are known, and removed when `phonos serve` stops; a file left by a serve that
was killed names a process that is gone, and is not used.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ADDRESS_FILE = "serve-address.json"


@dataclass(frozen=True)
class ServeAddress:
    pid: int
    url: str  # the gateway's root, as `phonos status --url` takes it
    metrics_url: str | None  # its /metrics; None when metrics are off


def record(data_dir: Path, address: ServeAddress) -> None:
    """Write the record atomically, readable by its owner only."""
    path = data_dir / ADDRESS_FILE
    partial = path.with_name(f".{ADDRESS_FILE}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump({"pid": address.pid, "url": address.url, "metrics_url": address.metrics_url}, handle)
    partial.replace(path)


def forget(data_dir: Path, pid: int) -> None:
    """Remove the record if it is `pid`'s (a second serve refused on this data directory leaves the first's)."""
    found = recorded(data_dir, require_alive=False)
    if found is not None and found.pid == pid:
        (data_dir / ADDRESS_FILE).unlink(missing_ok=True)


def recorded(data_dir: Path, *, require_alive: bool = True) -> ServeAddress | None:
    """The record of the `phonos serve` running from `data_dir`; None when there is none, it cannot be read, or
    (`require_alive`) its process is gone."""
    try:
        data = json.loads((data_dir / ADDRESS_FILE).read_text())
        address = ServeAddress(int(data["pid"]), str(data["url"]),
                               None if data.get("metrics_url") is None else str(data["metrics_url"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if require_alive and not _alive(address.pid):
        return None
    return address


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
