"""The dashboard's static files, read once at start-up and served from memory with cache headers.

Two roots: the page code in `gateway/static/` and the molecular viewer (3Dmol.js, BSD-3-Clause)
that `scripts/install.sh` installs from the npm registry into `node_modules/` with a lock file.
Nothing is fetched at run time: no build server, no CDN.

Caching: every file has a strong ETag (its SHA-256); page code is `no-cache` (revalidated on each
load, answered 304 when unchanged, so a new release shows at once) and the pinned viewer is
cached for a day. Text files are gzipped once here, not per request.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from gateway.dashboard.security import SECURITY_HEADERS

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = PACKAGE_DIR / "static"
NODE_MODULES = PACKAGE_DIR.parent / "node_modules"
VIEWER_PREFIX = "vendor/3dmol/"
# (file in node_modules/3dmol, name served under /static/vendor/3dmol/)
VIEWER_FILES = (("build/3Dmol.es6-min.js", "3Dmol.es6-min.js"), ("LICENSE", "LICENSE.txt"))

MEDIA_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    ".json": "application/json",
}
_COMPRESSIBLE = (".html", ".js", ".css", ".svg", ".txt", ".json")


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str
    cache_control: str


def _asset(data: bytes, suffix: str, cache_control: str) -> Asset:
    gzipped = gzip.compress(data, 6, mtime=0) if suffix in _COMPRESSIBLE and len(data) > 1024 else None
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    return Asset(data, gzipped, MEDIA_TYPES.get(suffix, "application/octet-stream"), etag, cache_control)


class Assets:
    """path under /static/ → Asset."""

    def __init__(self, files: dict[str, Asset], viewer_version: str | None) -> None:
        self._files = files
        self.viewer_version = viewer_version

    @classmethod
    def load(cls, static_dir: Path = STATIC_DIR, node_modules: Path = NODE_MODULES) -> Assets:
        files: dict[str, Asset] = {}
        for path in sorted(static_dir.rglob("*")):
            if path.is_file() and path.suffix in MEDIA_TYPES:
                files[path.relative_to(static_dir).as_posix()] = _asset(path.read_bytes(), path.suffix, "no-cache")
        viewer = node_modules / "3dmol"
        version = None
        if all((viewer / source).is_file() for source, _ in VIEWER_FILES):
            version = json.loads((viewer / "package.json").read_text()).get("version")
            for source, name in VIEWER_FILES:
                files[VIEWER_PREFIX + name] = _asset((viewer / source).read_bytes(), Path(name).suffix,
                                                     "public, max-age=86400")
        else:
            log.warning("3Dmol.js not found in %s: the dashboard's 3D viewer is off; run scripts/install.sh",
                        node_modules, extra={"action": "dashboard.viewer_missing"})
        return cls(files, version)

    def get(self, path: str) -> Asset | None:
        return self._files.get(path)

    def response(self, request: web.Request, asset: Asset) -> web.Response:
        headers = {"ETag": asset.etag, "Cache-Control": asset.cache_control, "Vary": "Accept-Encoding",
                   **SECURITY_HEADERS}
        if asset.etag in _etags(request.headers.get("If-None-Match", "")):
            return web.Response(status=304, headers=headers)
        headers["Content-Type"] = asset.media_type
        if asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return web.Response(body=asset.gzipped, headers=headers)
        return web.Response(body=asset.body, headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
