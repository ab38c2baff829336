"""A writer killed between a result file's temporary and its rename (SIGKILL, the OOM killer) left the temporary
for ever: the job ran again and wrote new ones, and neither deleting the job nor retention matched the leftover's
name (`.<job id>.pdb.<hex>.tmp`). The job's next write removes stale ones; deleting its files removes them all."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from phonos_models.common.result_files import ModelResult, ResultFile

from jobservice.results import STALE_TEMPORARY_S, ResultStore

pytestmark = pytest.mark.unit

JOB = "2f1c0a9b-0000-4000-8000-000000000001"
RESULT = ModelResult(files=(ResultFile("pdb", "pdb", "chemical/x-pdb", b"ATOM\n"),))


def leftover(store: ResultStore, name: str, age_s: float) -> Path:
    """A temporary as a killed writer leaves it, last written `age_s` ago."""
    store.shard(JOB).mkdir(parents=True, exist_ok=True)
    path = store.shard(JOB) / name
    path.write_bytes(b"ATO")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_a_rerun_removes_a_killed_writers_temporaries_and_a_deletion_all_of_them(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "results")
    stale = leftover(store, f".{JOB}.pdb.0badc0de.tmp", STALE_TEMPORARY_S + 60)
    fresh = leftover(store, f".{JOB}.pdb.5eed5eed.tmp", 5)  # another service writing this job now: left alone
    other = leftover(store, ".2f000000-0000-4000-8000-000000000002.pdb.0badc0de.tmp", STALE_TEMPORARY_S + 60)
    store.write(JOB, RESULT)  # a first run: no attempt before it could have left one, so it does not look
    assert stale.exists()
    store.write(JOB, RESULT, rerun=True)
    assert not stale.exists() and fresh.exists() and other.exists()
    assert store.read(JOB, f"{JOB}.pdb") == b"ATOM\n"
    store.remove(JOB)
    assert sorted(p.name for p in store.shard(JOB).iterdir()) == [other.name]


def test_finding_a_jobs_files_compiles_no_pattern_per_job(tmp_path: Path) -> None:
    """Removing a job's files (and a rerun's look for stale temporaries) globbed `<job id>.*`: a new regex per job id
    in `re`'s process-wide cache (512 entries), evicting every other module's patterns as jobs went by. A listing
    with a prefix check finds the same files and compiles nothing."""
    store = ResultStore(tmp_path / "results")
    ids = [f"2f1c0a9b-0000-4000-8000-{n:012d}" for n in range(40)]
    for job_id in ids:
        store.write(job_id, RESULT)
    kept = leftover(store, f".{ids[0]}.pdb.0badc0de.tmp", 5)
    re.purge()
    for job_id in ids[1:]:
        store.write(job_id, RESULT, rerun=True)
        store.remove(job_id)
    assert len(re._cache) <= 2, sorted(map(str, re._cache))[:5]  # type: ignore[attr-defined]
    assert sorted(p.name for p in store.shard(JOB).iterdir()) == sorted([f"{ids[0]}.pdb", kept.name])
