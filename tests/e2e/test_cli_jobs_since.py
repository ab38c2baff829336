"""`phonos jobs ls --since WHEN`: this morning's jobs without paging back through last week's. The API has no time
filter, so the command walks the list newest first and stops at the first older job; --limit, --starting-after,
--all and --json keep their meaning over that window."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from phonos_client import Client

from tests.support import REPO, InProcessService

pytestmark = pytest.mark.e2e

CLIENT_PATH = str(REPO / "clients" / "python")
CONFIG = str(Path(tempfile.mkdtemp(prefix="phonos-since-")) / "config.toml")


def phonos(service: InProcessService, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_") and k not in ("COLUMNS", "LINES")}
    env.update({"PHONOS_URL": service.base_url, "PHONOS_API_KEY": key, "PYTHONPATH": CLIENT_PATH,
                "PHONOS_CONFIG": CONFIG})
    return subprocess.run([sys.executable, "-m", "phonos_client", *args], env=env, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(scope="module")
def jobs(twin_service: InProcessService) -> tuple[InProcessService, str, list[dict[str, str]]]:
    """A key with three finished jobs, one after another (their created_at differ); newest first."""
    key = twin_service.new_key(credits=1000)
    with Client(twin_service.base_url, key) as client:
        for name in ("old", "middle", "new"):
            client.wait(client.predict("esmfold", "MKTAYIAKQRQISFVKSHFSRQ", name=name).job_id, timeout=60)
        listed = [job.raw for job in client.iter_jobs()]
    return twin_service, key, listed


def test_since_keeps_the_jobs_created_from_then_on(jobs: tuple[InProcessService, str, list[dict[str, str]]]) -> None:
    service, key, listed = jobs
    new, middle, _old = listed
    from_middle = phonos(service, key, "jobs", "ls", "--since", middle["created_at"])
    assert from_middle.returncode == 0, from_middle.stderr
    assert [line.split("\t")[0] for line in from_middle.stdout.splitlines()] == [new["job_id"], middle["job_id"]]
    hour = phonos(service, key, "jobs", "ls", "--since", "1h")  # a time back from now: all three
    assert len(hour.stdout.splitlines()) == 3, hour.stderr
    later = phonos(service, key, "jobs", "ls", "--since", "2999-01-01")  # a date alone: UTC midnight
    assert later.returncode == 0 and later.stdout == "" and later.stderr == "no jobs\n"


def test_since_pages_with_limit_and_starting_after_in_the_apis_shape(
        jobs: tuple[InProcessService, str, list[dict[str, str]]]) -> None:
    service, key, listed = jobs
    new, middle, _old = listed
    page = phonos(service, key, "jobs", "ls", "--since", middle["created_at"], "--limit", "1", "--json")
    document = json.loads(page.stdout)
    assert [job["job_id"] for job in document["jobs"]] == [new["job_id"]]
    assert document["pagination"] == {"total": 2, "limit": 1, "offset": 0, "has_more": True,
                                      "next_starting_after": new["job_id"]}
    rest = phonos(service, key, "jobs", "ls", "--since", middle["created_at"], "--starting-after", new["job_id"],
                  "--json", "--limit", "1")
    last = json.loads(rest.stdout)
    assert [job["job_id"] for job in last["jobs"]] == [middle["job_id"]]
    assert last["pagination"] == {"total": 1, "limit": 1, "offset": 0, "has_more": False}  # no cursor: the end
    every = json.loads(phonos(service, key, "jobs", "ls", "--since", "1d", "--all", "--json").stdout)
    assert len(every["jobs"]) == 3 and every["pagination"]["has_more"] is False


def test_a_since_that_is_not_a_time_is_a_usage_error(jobs: tuple[InProcessService, str, list[dict[str, str]]]) -> None:
    service, key, _ = jobs
    bare = phonos(service, key, "jobs", "ls", "--since", "2")  # 2 what? hours, days: said, not guessed
    assert bare.returncode == 2
    assert bare.stderr == 'phonos jobs ls: --since: "2" is neither a time back from now (90m, 2h, 3d, 1w) nor a ' \
        "UTC date or time (2026-12-01, 2026-12-01T09:00Z); see phonos jobs ls --help\n"
    assert phonos(service, key, "jobs", "ls", "--since", "1h", "--limit", "0").returncode == 2
