"""`phonos jobs watch` without ids (every job of the account, until Ctrl-C) prints an event a line; at a 60-column
terminal a progress event's line (`<job id> (name): model_1: pass 1 of 4 (recycle 0 of 3)`, 83 cells) was left to
the terminal to wrap, cutting wherever the edge fell. Now it is broken between words, the id whole; piped it is the
one line a script reads."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
from collections.abc import AsyncIterator

import pytest
from phonos_client import cli
from phonos_client.models import Job, JobEvent, Progress

pytestmark = pytest.mark.unit

JOB_ID = "85298cf0-ec9b-4839-baac-4855ec0642ab"


class Stdout(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Watching:
    """The one call `jobs watch` without ids makes: the account's event stream."""

    async def watch(self) -> AsyncIterator[JobEvent]:
        job = Job(JOB_ID, "running", "alphafold2", name="prot2")
        progress = Progress("recycle", 1, 4, "model_1: pass 1 of 4 (recycle 0 of 3)")
        yield JobEvent("progress", JOB_ID, job, progress=progress)
        yield JobEvent("state", JOB_ID, Job(JOB_ID, "completed", "alphafold2", name="prot2"), event_id="evt_7")


def printed(monkeypatch: pytest.MonkeyPatch, tty: bool, as_json: bool = False) -> str:
    stdout = Stdout(tty)
    monkeypatch.setattr("sys.stdout", stdout)
    monkeypatch.setenv("COLUMNS", "60")
    args = argparse.Namespace(job_ids=[], json=as_json)
    assert asyncio.run(cli.run_jobs_watch(args, Watching(), cli.Session())) == 0  # type: ignore[arg-type]
    return stdout.getvalue()


def test_an_event_line_fits_a_60_column_terminal_and_stays_one_line_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    line = f"{JOB_ID} (prot2): model_1: pass 1 of 4 (recycle 0 of 3)"
    on_screen = printed(monkeypatch, tty=True).splitlines()[:-1]  # the last: the state event's own line
    assert all(len(shown) < 60 for shown in on_screen) and len(on_screen) == 2, on_screen
    assert on_screen[0].startswith(JOB_ID) and on_screen[1].startswith("  ")  # the id whole, the rest under it
    assert " ".join(part.strip() for part in on_screen) == line
    assert printed(monkeypatch, tty=False).splitlines()[0] == line


def test_json_lines_carry_the_progress_and_the_event_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--json` printed the job and `"event": "progress"` alone: the stage, step, total and message the text line
    shows were missing, and so was a state event's id, needed to resume after it."""
    progress, state = (json.loads(line) for line in printed(monkeypatch, tty=False, as_json=True).splitlines())
    assert progress["event"] == "progress" and "event_id" not in progress
    assert progress["progress"] == {"stage": "recycle", "step": 1, "total": 4,
                                    "message": "model_1: pass 1 of 4 (recycle 0 of 3)"}
    assert (state["event"], state["event_id"], "progress" in state) == ("state", "evt_7", False)


def test_ctrl_c_while_watching_the_account_speaks_of_no_jobs(monkeypatch: pytest.MonkeyPatch, tmp_path: object,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C ended `phonos jobs watch` (every job of the account) with "interrupted: the jobs keep running on the
    server.", of jobs it never submitted or named."""
    async def interrupted(*_: object) -> int:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, as the terminal sends it (the command's handler takes it)
        await asyncio.sleep(30)
        return 0

    monkeypatch.setattr(cli, "run_jobs_watch", interrupted)
    monkeypatch.setenv("PHONOS_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PHONOS_API_KEY", "pk_test")
    monkeypatch.setenv("PHONOS_CONFIG", f"{tmp_path}/config.toml")
    assert cli.main(["jobs", "watch"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"
