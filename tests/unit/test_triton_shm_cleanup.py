"""Stopping one tritonserver removes the python-backend shm regions it left, never another live server's.

Two servers on one host (a fleet, parallel test workers) create regions at overlapping times; the stop used to
remove every region that appeared since its server started, and the other server's stubs died with SIGSEGV on
their next request (seen as the shared test Triton exiting with -11).
"""
from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from launcher import triton
from launcher.triton import SHM_DIR, SHM_PREFIX, TritonPorts, TritonProcess

pytestmark = pytest.mark.integration

# Stands in for another server's stub: maps its region (as a python-backend stub does) and keeps it mapped.
MAPS_A_REGION = ("import mmap, sys, time\n"
                 "f = open(sys.argv[1], 'r+b'); m = mmap.mmap(f.fileno(), 4096)\n"
                 "print('mapped', flush=True)\n"
                 "time.sleep(60)\n")


def _region() -> Path:
    path = SHM_DIR / f"{SHM_PREFIX}test-{uuid.uuid4()}"
    path.write_bytes(b"\0" * 4096)
    return path


def test_stop_keeps_a_region_another_live_process_maps_and_removes_its_own(tmp_path: Path) -> None:
    before = triton._shm_regions()
    ours = _region()  # left behind by this server's killed stubs: nobody maps it
    theirs = _region()
    other = subprocess.Popen([sys.executable, "-c", MAPS_A_REGION, str(theirs)], stdout=subprocess.PIPE,
                             start_new_session=True)
    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        assert other.stdout is not None and other.stdout.readline() == b"mapped\n"
        TritonProcess(server, TritonPorts(http=1, grpc=2, metrics=3), ["echo"], None, before).stop(timeout_s=5)
        assert not ours.exists()
        assert theirs.exists()
    finally:
        for process in (other, server):
            process.kill()
            process.wait()
        ours.unlink(missing_ok=True)
        theirs.unlink(missing_ok=True)
