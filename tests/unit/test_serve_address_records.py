"""`serve-address.json` keeps one record per serve (host, pid): on PostgreSQL several serves share a data directory.
One record for all let the last serve to start hide the others, its stop remove the file while they still ran
(`phonos status` then asked 127.0.0.1:8080), and a host read another host's 127.0.0.1 address."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launcher.serve_address import ADDRESS_FILE, ServeAddress, forget, record, recorded, this_host

pytestmark = pytest.mark.unit


def a_live_pid() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_second_serves_stop_leaves_the_first_ones_record(tmp_path: Path) -> None:
    first, second = a_live_pid(), a_live_pid()
    try:
        record(tmp_path, ServeAddress(first.pid, "http://127.0.0.1:1001", None))
        record(tmp_path, ServeAddress(second.pid, "http://127.0.0.1:1002", "http://127.0.0.1:9002/metrics"))
        assert recorded(tmp_path) == ServeAddress(second.pid, "http://127.0.0.1:1002", "http://127.0.0.1:9002/metrics",
                                                  this_host())  # the newest
        forget(tmp_path, second.pid)
        assert recorded(tmp_path) == ServeAddress(first.pid, "http://127.0.0.1:1001", None, this_host())
        second.kill()
        second.wait()
        forget(tmp_path, first.pid)
        assert not (tmp_path / ADDRESS_FILE).exists()  # the last one out takes the file
    finally:
        for process in (first, second):
            process.kill()
            process.wait()


def test_another_hosts_record_is_never_read_nor_removed_here(tmp_path: Path) -> None:
    record(tmp_path, ServeAddress(os.getpid(), "http://127.0.0.1:2002", None, host="other-host.example"))
    assert recorded(tmp_path) is None  # its 127.0.0.1 is not this machine's
    forget(tmp_path, os.getpid())
    assert json.loads((tmp_path / ADDRESS_FILE).read_text())["serves"][0]["host"] == "other-host.example"
    record(tmp_path, ServeAddress(os.getpid(), "http://127.0.0.1:3003", None))
    assert recorded(tmp_path) == ServeAddress(os.getpid(), "http://127.0.0.1:3003", None, this_host())
    assert len(json.loads((tmp_path / ADDRESS_FILE).read_text())["serves"]) == 2


def test_a_killed_serves_record_is_skipped_and_replaced(tmp_path: Path) -> None:
    gone = a_live_pid()
    gone.kill()
    gone.wait()
    record(tmp_path, ServeAddress(gone.pid, "http://127.0.0.1:4004", None))
    assert recorded(tmp_path) is None and recorded(tmp_path, require_alive=False) is not None
    record(tmp_path, ServeAddress(os.getpid(), "http://127.0.0.1:5005", None))
    serves = json.loads((tmp_path / ADDRESS_FILE).read_text())["serves"]
    assert [s["pid"] for s in serves] == [os.getpid()]  # this host's dead record went with the next write


def test_a_record_written_before_hosts_were_kept_is_still_read(tmp_path: Path) -> None:
    (tmp_path / ADDRESS_FILE).write_text(json.dumps({"pid": os.getpid(), "url": "http://127.0.0.1:6006",
                                                     "metrics_url": None}))
    assert recorded(tmp_path) == ServeAddress(os.getpid(), "http://127.0.0.1:6006", None, "")
    forget(tmp_path, os.getpid())
    assert not (tmp_path / ADDRESS_FILE).exists()


def test_a_mount_without_working_locks_still_keeps_the_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NFS without lockd answers flock with ENOLCK: that stopped `phonos serve` right after its banner."""
    import errno
    import fcntl

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    record(tmp_path, ServeAddress(os.getpid(), "http://127.0.0.1:7007", None))
    assert recorded(tmp_path) == ServeAddress(os.getpid(), "http://127.0.0.1:7007", None, this_host())
    forget(tmp_path, os.getpid())
    assert not (tmp_path / ADDRESS_FILE).exists()
