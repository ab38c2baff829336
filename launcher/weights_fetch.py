"""`phonos weights fetch`: download official weights, verify them, lay them out for the loaders.

* Resumable: bytes go to `<file>.part`; a later attempt (in the same run after a dropped connection,
  or a later run) asks the server for the rest with an HTTP Range request. A server that ignores the
  range gets a fresh download.
* Verified: the size (the table's, or the server's Content-Length) and the SHA-256 (the table's, or
  the one recorded on the first download into this directory: trust on first use) must match, or
  the file is deleted and the fetch fails. Nothing unverified ever takes a final name.
* Idempotent: a file already in place is re-hashed and kept when it still matches.
* Archives are unpacked (paths inside checked to stay in the directory), then removed.
* `mirror` replaces `https://<host>/` with `<mirror>/<host>/` (an internal mirror, and the tests).

The pins (sizes and SHA-256 of everything fetched) live in `<set dir>/phonos-weights.json`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests

from launcher.weights_table import RemoteFile, WeightSet

PINS_FILE = "phonos-weights.json"
CHUNK = 1 << 20  # bytes per read and hash update
Say = Callable[[str], None]


class FetchError(Exception):
    """A download that could not be completed or verified; the message says what to do."""


@dataclass(frozen=True)
class FetchOptions:
    mirror: str | None = None  # e.g. "http://127.0.0.1:8000"
    attempts: int = 4  # tries per file, each resuming where the last stopped
    timeout_s: float = 60.0  # connect and read timeout of one request
    retry_wait_s: float = 2.0


def source_url(url: str, mirror: str | None) -> str:
    if not mirror:
        return url
    parts = urlsplit(url)
    return f"{mirror.rstrip('/')}/{parts.netloc}{parts.path}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _load_pins(directory: Path) -> dict[str, dict[str, object]]:
    path = directory / PINS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _save_pins(directory: Path, pins: dict[str, dict[str, object]]) -> None:
    temporary = directory / f".{PINS_FILE}.tmp"
    temporary.write_text(json.dumps(pins, indent=2, sort_keys=True) + "\n")
    temporary.replace(directory / PINS_FILE)


def _expected(item: RemoteFile, pins: dict[str, dict[str, object]]) -> tuple[str | None, int | None, str]:
    """(sha256, size, where that came from): the table's, else this directory's first download."""
    pin = pins.get(item.url, {})
    sha = item.sha256 or (str(pin["sha256"]) if "sha256" in pin else None)
    size = item.size if item.size is not None else (int(str(pin["size"])) if "size" in pin else None)
    source = item.checksum_source if item.sha256 else ("recorded on the first download into this directory"
                                                      if sha else "nothing yet: this download will be recorded")
    return sha, size, source


def _download(url: str, part: Path, options: FetchOptions, say: Say) -> int | None:
    """Bring `part` up to the whole file, resuming; returns the total size the server announced."""
    total: int | None = None
    for attempt in range(1, options.attempts + 1):
        have = part.stat().st_size if part.exists() else 0
        # identity: the bytes on the wire are the file's bytes (hashes, sizes and ranges all agree)
        headers = {"Accept-Encoding": "identity"} | ({"Range": f"bytes={have}-"} if have else {})
        connected = False
        try:
            with requests.get(url, headers=headers, stream=True, timeout=options.timeout_s) as response:
                connected = True
                if response.status_code == 416 and have:  # nothing left to send: the part is whole
                    return total if total is not None else have
                if response.status_code not in (200, 206):
                    raise FetchError(f"{url}: HTTP {response.status_code}")
                mode = "ab" if response.status_code == 206 else "wb"
                if response.status_code == 206:
                    total = _content_range_total(response.headers.get("Content-Range"))
                    say(f"  resuming at {have:,} bytes")
                else:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length is not None else None
                # Keep every byte that arrived before a dropped connection (urllib3 would otherwise raise
                # on the short read and discard its last buffer); the size check below sees the gap.
                response.raw.enforce_content_length = False
                with part.open(mode) as handle:
                    while block := response.raw.read(CHUNK, decode_content=True):
                        handle.write(block)
            if total is None or part.stat().st_size >= total:
                return total
            raise requests.ConnectionError(f"connection closed after {part.stat().st_size:,} of {total:,} bytes")
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            if not connected and _no_connection(exc):
                # No connection was made: a wrong --mirror, a host not found, no network. Said as such, not as a
                # transfer "interrupted" that could "resume from 0 bytes".
                unreachable = f"could not reach {_host_of(url)} ({_unreachable_reason(exc)})"
                if attempt == options.attempts:
                    raise FetchError(f"{url}: {unreachable}; check the address (--mirror) and the network, then "
                                     "run the same command again") from exc
                say(f"  {unreachable}; trying again")
                time.sleep(options.retry_wait_s)
                continue
            if attempt == options.attempts:
                raise FetchError(f"{url}: download interrupted ({exc}); run the same command again to resume "
                                 f"from {part.stat().st_size if part.exists() else 0:,} bytes") from exc
            say(f"  interrupted ({exc}); retrying")
            time.sleep(options.retry_wait_s)
    return total


def _host_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url


def _no_connection(exc: BaseException) -> bool:
    """No connection was made at all: not a TLS refusal (a certificate problem says its own words) nor a server that
    took the connection and then sent no headers in time (a slow mirror)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return (isinstance(exc, requests.ConnectionError)
            and not isinstance(exc, (requests.exceptions.SSLError, requests.exceptions.ProxyError)))


def _unreachable_reason(exc: BaseException) -> str:
    """Why no connection was made, in a few words (requests' own text is a repr of urllib3's pool and objects)."""
    if isinstance(exc, requests.ConnectTimeout):
        return "no answer in time"
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if re.search(r"Name or service not known|nodename nor servname|name resolution|NameResolutionError|getaddrinfo", text):
        return "host name not found"
    if "Network is unreachable" in text or "No route to host" in text:
        return "no route to it: is this machine offline?"
    return "no connection could be made"


def _content_range_total(header: str | None) -> int | None:
    if header and "/" in header and not header.endswith("/*"):
        return int(header.rsplit("/", 1)[1])
    return None


def fetch_file(item: RemoteFile, directory: Path, pins: dict[str, dict[str, object]], options: FetchOptions,
               say: Say) -> Path:
    """One verified file at `directory / item.path`; pins updated for a first download."""
    target = directory / item.path
    target.parent.mkdir(parents=True, exist_ok=True)
    sha, size, source = _expected(item, pins)
    if target.is_file() and sha and sha256_of(target) == sha and (size is None or target.stat().st_size == size):
        say(f"  {item.path}: already here and verified")
        return target
    part = target.with_name(target.name + ".part")
    url = source_url(item.url, options.mirror)
    say(f"  {item.path} ({item.approx_size}) from {url}")
    announced = _download(url, part, options, say)
    got = part.stat().st_size
    for wanted, why in ((size, source), (announced, "announced by the server")):
        if wanted is not None and got != wanted:
            part.unlink()
            raise FetchError(f"{item.path}: got {got:,} bytes, expected {wanted:,} ({why}); the download was deleted. "
                             "Refusing it.")
    digest = sha256_of(part)
    if sha is not None and digest != sha:
        part.unlink()
        raise FetchError(f"{item.path}: SHA-256 {digest} does not match {sha} ({source}); the file is corrupted or "
                         "not the published one and was deleted. Refusing it.")
    part.replace(target)
    if item.sha256 is None and item.url not in pins:
        pins[item.url] = {"sha256": digest, "size": got, "path": item.path}
        say(f"  {item.path}: no published checksum; recorded sha256 {digest} ({got:,} bytes) for later fetches")
    else:
        pins.setdefault(item.url, {"sha256": digest, "size": got, "path": item.path})
        say(f"  {item.path}: verified sha256 {digest[:16]}... ({source})")
    return target


def _inside(root: Path, name: str) -> Path:
    destination = (root / name).resolve()
    if not destination.is_relative_to(root.resolve()):
        raise FetchError(f"archive member {name!r} would land outside {root}; refusing the archive")
    return destination


def unpack(archive: Path, kind: str) -> None:
    """Extract beside the archive (every member checked to stay there), then delete the archive."""
    root = archive.parent
    if kind == "tar":
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                _inside(root, member.name)
            tar.extractall(root, filter="data")
    elif kind == "zip":
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                _inside(root, name)
            zipped.extractall(root)
    else:
        raise ValueError(f"unknown archive kind {kind!r}")
    archive.unlink()


def _lift_single_folder(directory: Path, expect: tuple[str, ...]) -> None:
    """Archives that wrap everything in one folder (`v1.1/score_model/...`): move its contents up."""
    if all((directory / path).exists() for path in expect):
        return
    folders = [p for p in directory.iterdir() if p.is_dir() and all((p / path).exists() for path in expect)]
    if len(folders) == 1:
        for child in folders[0].iterdir():
            shutil.move(str(child), directory / child.name)
        folders[0].rmdir()


def fetch_set(weights: WeightSet, root: Path, options: FetchOptions, say: Say = print) -> Path:
    """Every file of `weights` verified and unpacked under `root / weights.directory`; returns that directory."""
    directory = root / weights.directory
    directory.mkdir(parents=True, exist_ok=True)
    pins = _load_pins(directory)
    say(f"{weights.title} -> {directory}")
    try:
        for item in weights.files:
            if item.unpack and all((directory / path).exists() for path in weights.expect) and item.url in pins:
                say(f"  {item.path}: unpacked already (sha256 {str(pins[item.url]['sha256'])[:16]}...)")
                continue
            path = fetch_file(item, directory, pins, options, say)
            if item.unpack:
                say(f"  unpacking {item.path}")
                unpack(path, item.unpack)
    finally:
        _save_pins(directory, pins)
    _lift_single_folder(directory, weights.expect)
    missing = [path for path in weights.expect if not (directory / path).exists()]
    if missing:
        raise FetchError(f"{weights.name}: after unpacking, {', '.join(missing)} is missing in {directory}")
    return directory


def settings_lines(weights: WeightSet, directory: Path) -> list[str]:
    lines = [f"export {name}={directory.resolve()}" for name in weights.settings]
    return lines + ([f"# {weights.hint}"] if weights.hint else [])
