"""`phonos jobs watch` without ids (every job of the account, until Ctrl-C) prints an event a line; at a 60-column
terminal a progress event's line (`<job id> (name): model_1: pass 1 of 4 (recycle 0 of 3)`, 83 cells) was left to
the terminal to wrap, cutting wherever the edge fell. Now it is broken between words, the id whole; piped it is the
one line a script reads."""

from __future__ import annotations

import argparse
import asyncio
import io
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


def printed(monkeypatch: pytest.MonkeyPatch, tty: bool) -> str:
    stdout = Stdout(tty)
    monkeypatch.setattr("sys.stdout", stdout)
    monkeypatch.setenv("COLUMNS", "60")
    args = argparse.Namespace(job_ids=[], json=False)
    assert asyncio.run(cli.run_jobs_watch(args, Watching(), cli.Session())) == 0  # type: ignore[arg-type]
    return stdout.getvalue()


def test_an_event_line_fits_a_60_column_terminal_and_stays_one_line_piped(monkeypatch: pytest.MonkeyPatch) -> None:
    line = f"{JOB_ID} (prot2): model_1: pass 1 of 4 (recycle 0 of 3)"
    on_screen = printed(monkeypatch, tty=True).splitlines()
    assert all(len(shown) < 60 for shown in on_screen) and len(on_screen) == 2, on_screen
    assert on_screen[0].startswith(JOB_ID) and on_screen[1].startswith("  ")  # the id whole, the rest under it
    assert " ".join(part.strip() for part in on_screen) == line
    assert printed(monkeypatch, tty=False) == line + "\n"
