"""A real PostgreSQL server for the tests: Debian's `postgresql` package, started in a temporary directory.

The server refuses to run as root, so when the tests run as root (CI here) every server command runs as
the unprivileged `postgres` user the package creates (`runuser -u postgres --`); as anyone else it runs
as that user. The data directory, the Unix socket and the log live in one temporary directory that only
that user can read, on a loopback port chosen at run time. `fsync=off`: a test server never survives a
power cut, and its speed matters more.

One server per test session (tests/conftest.py: `postgres`); each test that needs a clean slate takes a
fresh namespace from it (`PostgresServer.new_store_url`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from launcher.ports import free_port

PG_ROOT = Path("/usr/lib/postgresql")
SERVER_USER = "postgres"  # created by Debian's postgresql-common
DB_USER = "phonos"


class PostgresMissing(RuntimeError):
    """The postgresql package is not installed (scripts/install.sh installs it)."""


def pg_bin_dir() -> Path:
    """The newest installed major version's binaries (Debian keeps them off PATH)."""
    versions = sorted((p for p in PG_ROOT.glob("*/bin") if (p / "initdb").exists()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if not versions:
        raise PostgresMissing(f"no PostgreSQL server under {PG_ROOT}; install Debian's postgresql (scripts/install.sh)")
    return versions[-1]


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *args] if os.geteuid() == 0 else args


@dataclass
class PostgresServer:
    directory: Path
    port: int
    bin_dir: Path

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{DB_USER}@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = pg_bin_dir()
        # Not under pytest's tmp dirs: their parents are 0700 root, which the server user cannot traverse.
        directory = Path(tempfile.mkdtemp(prefix="phonos-pg-"))
        if os.geteuid() == 0:
            server_user = pwd.getpwnam(SERVER_USER)
            os.chown(directory, server_user.pw_uid, server_user.pw_gid)
        server = cls(directory, free_port(), bin_dir)
        try:
            server._run([str(bin_dir / "initdb"), "-D", str(server.data_dir), "-A", "trust", "-U", DB_USER,
                         "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
            server.resume()
        except BaseException:
            server.stop()
            raise
        return server

    def resume(self) -> None:
        """Start the server (again, after `pause`) on the same port and data: an outage ends."""
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-o", options,
                   "-l", str(self.directory / "log"), "-w", "-t", "60", "start"])

    def pause(self) -> None:
        """Stop the server but keep its data, as an operator's restart or a crash would (fast: open connections
        are ended by the server), until `resume`. Callers then meet refused connections."""
        self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop"])

    def _run(self, args: list[str]) -> str:
        done = subprocess.run(_as_server_user(args), capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed ({done.returncode}): {done.stderr or done.stdout}"
                               f"\n{self.log_tail()}")
        return done.stdout

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run([str(self.bin_dir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At",
                          "-h", "127.0.0.1", "-p", str(self.port), "-U", DB_USER, "-d", database, "-c", sql])

    def new_store_url(self, prefix: str = "t") -> str:
        """The URL of a fresh, empty namespace for one store (no migrations applied): a schema of the session's
        database, named in the URL's search_path, which every connection made from the URL uses. A schema
        is one catalog row; a database per test would copy ~300 files each, and removing thousands of
        them at the end of a session takes longer than the tests. (NOTIFY channels are per database, so
        stores of one session hear each other's announcements: extra wake-ups, never a wrong claim.)"""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?search_path={name}"

    def log_tail(self, lines: int = 20) -> str:
        log = self.directory / "log"
        try:
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server and remove its directory. Immediate: no shutdown checkpoint, which would write out
        every database the session created only for the directory to be deleted."""
        if (self.data_dir / "postmaster.pid").exists():
            subprocess.run(_as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                                            "-w", "-t", "30", "stop"]), capture_output=True, timeout=60)
            deadline = time.monotonic() + 10
            while (self.data_dir / "postmaster.pid").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
