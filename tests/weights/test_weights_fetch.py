"""`phonos weights fetch` against a local HTTP server that serves the publishers' layout with small files."""

from __future__ import annotations

import hashlib
import io
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from launcher.weights_fetch import (
    PINS_FILE,
    FetchError,
    FetchOptions,
    _no_connection,
    fetch_set,
    settings_lines,
    unpack,
)
from launcher.weights_table import WEIGHT_SETS, WeightSet

REPO = Path(__file__).resolve().parents[2]
FAST = FetchOptions(attempts=3, timeout_s=10, retry_wait_s=0.01)


class Mirror:
    """Serves `root/<host>/<path>` with Range support; can cut a response short once per path."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.cut_once: dict[str, int] = {}  # path -> bytes to send before dropping the connection
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                wanted = self.headers.get("Range")
                mirror.requests.append((path, wanted))
                file = mirror.root / path.lstrip("/")
                if not file.is_file():
                    self.send_error(404)
                    return
                body = file.read_bytes()
                start = int(wanted.split("=")[1].split("-")[0]) if wanted else 0
                if start >= len(body) and wanted:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206 if wanted else 200)
                if wanted:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                cut = mirror.cut_once.pop(path, None)
                self.wfile.write(body[start:] if cut is None else body[start:cut])
                self.wfile.flush()
                if cut is not None:
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def put(self, url: str, content: bytes) -> None:
        parts = urlsplit(url)
        target = self.root / parts.netloc / parts.path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)

    def path_of(self, url: str) -> str:
        parts = urlsplit(url)
        return f"/{parts.netloc}{parts.path}"


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    server = Mirror(tmp_path / "mirror")
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join(timeout=5)


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def esmfold_like(mirror: Mirror, weights: bytes) -> WeightSet:
    """The real ESMFold entry (same URLs, same layout), the big file's checksum set to our fixture's."""
    real = WEIGHT_SETS["esmfold"]
    files = []
    for item in real.files:
        content = weights if item.sha256 else f'{{"file": "{item.path}"}}'.encode()
        mirror.put(item.url, content)
        files.append(replace(item, sha256=sha(content)) if item.sha256 else item)
    return replace(real, files=tuple(files))


def tar_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.integration
def test_fetch_verifies_lays_out_pins_and_skips_what_is_already_there(mirror: Mirror, tmp_path: Path) -> None:
    weights = esmfold_like(mirror, b"\x00weights" * 50_000)
    lines: list[str] = []
    directory = fetch_set(weights, tmp_path / "w", replace(FAST, mirror=mirror.url), lines.append)
    assert directory == tmp_path / "w" / "esmfold_v1"
    assert (directory / "pytorch_model.bin").read_bytes() == b"\x00weights" * 50_000
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [f.path for f in weights.files] + [PINS_FILE])  # no .part left behind
    assert any("no published checksum; recorded sha256" in line for line in lines)
    assert settings_lines(weights, directory) == [f"export PHONOS_ESMFOLD_WEIGHTS_DIR={directory.resolve()}"]
    served = len(mirror.requests)
    again: list[str] = []
    fetch_set(weights, tmp_path / "w", replace(FAST, mirror=mirror.url), again.append)
    assert len(mirror.requests) == served, "verified files are not downloaded again"
    assert all("already here and verified" in line for line in again[1:])


@pytest.mark.integration
def test_a_flipped_byte_is_refused_and_nothing_takes_its_name(mirror: Mirror, tmp_path: Path) -> None:
    good = b"parameters" * 10_000
    weights = esmfold_like(mirror, good)
    big = next(f for f in weights.files if f.sha256)
    flipped = bytearray(good)
    flipped[12_345] ^= 0x01
    mirror.put(big.url, bytes(flipped))
    with pytest.raises(FetchError, match="does not match .* Refusing it"):
        fetch_set(weights, tmp_path / "w", replace(FAST, mirror=mirror.url), lambda _: None)
    directory = tmp_path / "w" / "esmfold_v1"
    assert not (directory / "pytorch_model.bin").exists() and not (directory / "pytorch_model.bin.part").exists()
    # a file without a published checksum is pinned on first use: a later, different copy is refused too
    mirror.put(big.url, good)
    fetch_set(weights, tmp_path / "w", replace(FAST, mirror=mirror.url), lambda _: None)
    config = weights.files[0]
    (directory / config.path).write_text("tampered")
    mirror.put(config.url, b'{"changed": true}')
    with pytest.raises(FetchError, match="recorded on the first download"):
        fetch_set(weights, tmp_path / "w", replace(FAST, mirror=mirror.url), lambda _: None)


@pytest.mark.integration
def test_an_interrupted_download_resumes_with_a_range_request(mirror: Mirror, tmp_path: Path) -> None:
    content = bytes(range(256)) * 4_000  # 1,024,000 bytes
    weights = esmfold_like(mirror, content)
    big = next(f for f in weights.files if f.sha256)
    path = mirror.path_of(big.url)
    # within one run: the connection drops, the next attempt asks for the rest
    mirror.cut_once[path] = 300_000
    fetch_set(weights, tmp_path / "a", replace(FAST, mirror=mirror.url), lambda _: None)
    assert [r for p, r in mirror.requests if p == path] == [None, "bytes=300000-"]
    assert (tmp_path / "a" / "esmfold_v1" / "pytorch_model.bin").read_bytes() == content
    # across runs: the part stays, the next run resumes from it
    mirror.cut_once[path] = 700_000
    once = replace(FAST, mirror=mirror.url, attempts=1)
    with pytest.raises(FetchError, match="run the same command again to resume from 700,000 bytes"):
        fetch_set(weights, tmp_path / "b", once, lambda _: None)
    part = tmp_path / "b" / "esmfold_v1" / "pytorch_model.bin.part"
    assert part.stat().st_size == 700_000
    fetch_set(weights, tmp_path / "b", once, lambda _: None)
    assert [r for p, r in mirror.requests if p == path][-1] == "bytes=700000-"
    assert (tmp_path / "b" / "esmfold_v1" / "pytorch_model.bin").read_bytes() == content and not part.exists()


@pytest.mark.integration
def test_a_mirror_that_refuses_the_connection_is_said_unreachable_not_interrupted(mirror: Mirror,
                                                                                  tmp_path: Path) -> None:
    """No connection made at all (a wrong --mirror, no network) was said as "interrupted (HTTPConnectionPool...
    Connection refused); retrying", three times, then "resume from 0 bytes"."""
    weights = esmfold_like(mirror, b"weights")
    with socket.socket() as probe:  # a loopback port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    said: list[str] = []
    with pytest.raises(FetchError) as refused:
        fetch_set(weights, tmp_path / "w", replace(FAST, mirror=f"http://127.0.0.1:{port}"), said.append)
    message = str(refused.value)
    assert f"could not reach 127.0.0.1:{port} (connection refused); check the address (--mirror)" in message
    assert "interrupted" not in message and "resume" not in message and "HTTPConnectionPool" not in message
    assert [line for line in said if "trying again" in line] == [
        f"  could not reach 127.0.0.1:{port} (connection refused); trying again"] * (FAST.attempts - 1)


@pytest.mark.integration
def test_archives_unpack_into_the_loaders_layout(mirror: Mirror, tmp_path: Path) -> None:
    params = tar_of({"params_model_1.npz": b"npz1", "params_model_1_ptm.npz": b"npz2", "LICENSE": b"CC BY 4.0"})
    af2 = WEIGHT_SETS["alphafold2"]
    mirror.put(af2.files[0].url, params)
    directory = fetch_set(af2, tmp_path, replace(FAST, mirror=mirror.url), lambda _: None)
    assert (directory / "params" / "params_model_1_ptm.npz").read_bytes() == b"npz2"
    assert not (directory / af2.files[0].path).exists(), "the archive is removed after unpacking"
    # a release zip that wraps everything in one folder is lifted into the layout DiffDock reads
    release = zip_of({"v1.1/score_model/model_parameters.yml": b"a: 1", "v1.1/confidence_model/model_parameters.yml":
                      b"b: 2", "v1.1/score_model/best_ema_inference_epoch_model.pt": b"pt"})
    dd = WEIGHT_SETS["diffdock"]
    item = replace(dd.files[0], sha256=sha(release), size=len(release))
    mirror.put(item.url, release)
    directory = fetch_set(replace(dd, files=(item,)), tmp_path, replace(FAST, mirror=mirror.url), lambda _: None)
    assert (directory / "score_model" / "model_parameters.yml").read_bytes() == b"a: 1"


@pytest.mark.integration
def test_an_archive_member_outside_the_directory_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    archive.write_bytes(tar_of({"../escaped.txt": b"x"}))
    with pytest.raises(FetchError, match="outside"):
        unpack(archive, "tar")
    assert not (tmp_path.parent / "escaped.txt").exists()


@pytest.mark.e2e
def test_cli_refuses_files_that_are_not_the_published_ones(mirror: Mirror, tmp_path: Path) -> None:
    # The real table through the real command: small stand-ins cannot match ESMFold's published SHA-256.
    for item in WEIGHT_SETS["esmfold"].files:
        mirror.put(item.url, b"not the real " + item.path.encode())
    command = [sys.executable, "-m", "launcher.cli", "weights", "fetch", "esmfold", "--dir", str(tmp_path),
               "--mirror", mirror.url]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "pytorch_model.bin: SHA-256" in done.stderr and "Refusing it" in done.stderr
    assert not (tmp_path / "esmfold_v1" / "pytorch_model.bin").exists()
    assert "recorded sha256" in done.stdout  # config.json came first and was pinned
    listed = subprocess.run([sys.executable, "-m", "launcher.cli", "weights", "list"], capture_output=True,
                            text=True, cwd=REPO, timeout=60)
    assert "2ee07356b125d1e3e57503c204111fd7323347fc4735d41d3caac57c2a78e116" in listed.stdout


@pytest.mark.unit
def test_every_entry_points_at_its_publisher_and_cites_its_checksum() -> None:
    hosts = {"esmfold": "huggingface.co", "esm2": "huggingface.co", "alphafold2": "storage.googleapis.com",
             "diffdock": "github.com"}
    for name, weights in WEIGHT_SETS.items():
        for item in weights.files:
            assert urlsplit(item.url).netloc == hosts[name] and item.url.startswith("https://")
            assert item.checksum_source and (item.sha256 is None) == ("trust on first use" in item.checksum_source)
            assert item.sha256 is None or len(item.sha256) == 64


@pytest.mark.unit
@pytest.mark.parametrize(("error", "unreachable"), [
    (requests.ConnectionError("Failed to establish a new connection: [Errno 111] Connection refused"), True),
    (requests.ConnectTimeout("timed out connecting"), True),
    (requests.exceptions.SSLError("certificate verify failed: unable to get local issuer certificate"), False),
    (requests.exceptions.ProxyError("Unable to connect to proxy"), False),
    (requests.ReadTimeout("read timed out waiting for the headers"), False),
])
def test_only_a_connection_never_made_is_said_unreachable(error: Exception, unreachable: bool) -> None:
    """A certificate failure or a mirror slow to answer is no "could not reach": their own words are kept."""
    assert _no_connection(error) is unreachable
