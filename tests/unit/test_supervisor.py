"""The restart policy of `phonos serve`, driven with real (tiny) child processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from launcher.supervisor import Event, State, Supervised, describe_exit
from phonos_config.supervisor import SupervisorSettings

pytestmark = pytest.mark.integration

FAST = SupervisorSettings(max_restarts=2, restart_window_s=60, backoff_s=0.05, backoff_max_s=0.2)


class SleeperChild:
    """A real process that sleeps; 'ready' a moment after it starts, unless told to fail at once."""

    name = "sleeper"

    def __init__(self, exit_at_once: bool = False, never_ready: bool = False) -> None:
        self.exit_at_once = exit_at_once
        self.never_ready = never_ready
        self.popen: subprocess.Popen[bytes] | None = None
        self.spawned = 0
        self.killed = 0
        self._started = 0.0

    def spawn(self) -> None:
        code = "raise SystemExit(3)" if self.exit_at_once else "import time; time.sleep(60)"
        self.popen = subprocess.Popen([sys.executable, "-c", code])
        self.spawned += 1
        self._started = time.monotonic()

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def is_ready(self) -> bool:
        if self.never_ready or self.exit_at_once:  # (a loaded machine may take a while to start Python)
            return False
        return time.monotonic() - self._started > 0.05

    def fatal_reason(self) -> str | None:
        return None

    def kill(self) -> None:
        self.killed += 1
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
        if self.popen is not None:
            self.popen.wait(10)

    def stop(self) -> None:
        self.kill()

    def crash(self) -> None:
        assert self.popen is not None
        os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(10)


def run_until(supervised: Supervised, kinds: set[str], timeout_s: float = 10) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events += supervised.tick()
        if kinds & {e.kind for e in events}:
            return events
        time.sleep(0.01)
    raise AssertionError(f"no {kinds} event; got {events}")


@pytest.fixture
def child() -> Iterator[SleeperChild]:
    sleeper = SleeperChild()
    yield sleeper
    sleeper.stop()


def test_a_crash_after_ready_is_restarted_and_reported(child: SleeperChild) -> None:
    supervised = Supervised(child, FAST, ready_timeout_s=10)
    supervised.start()
    assert [e.kind for e in run_until(supervised, {"ready"})] == ["ready"]
    first = child.popen
    child.crash()
    events = run_until(supervised, {"ready_again"})
    assert [e.kind for e in events] == ["crashed", "restarting", "ready_again"]
    assert "exited with signal SIGKILL; restarting in 0 s (crash 1 of 2 allowed within 60 s)" in events[0].message
    assert events[-1].downtime_s is not None and 0.05 <= events[-1].downtime_s < 5
    assert child.popen is not first and child.spawned == 2 and supervised.state is State.READY


def test_too_many_crashes_within_the_window_give_up(child: SleeperChild) -> None:
    supervised = Supervised(child, FAST, ready_timeout_s=10)
    supervised.start()
    run_until(supervised, {"ready"})
    for _ in range(2):
        child.crash()
        run_until(supervised, {"ready_again"})
    child.crash()
    events = run_until(supervised, {"gave_up"})
    assert events[-1].kind == "gave_up" and supervised.state is State.GAVE_UP
    assert "crashed 3 times within 60 s, more than PHONOS_RESTART_MAX=2: giving up" in events[-1].message
    assert child.spawned == 3


def test_a_child_that_never_got_ready_is_fatal_at_once() -> None:
    failing = SleeperChild(exit_at_once=True)
    supervised = Supervised(failing, FAST, ready_timeout_s=10)
    supervised.start()
    events = run_until(supervised, {"gave_up"})
    assert events[-1].message == "sleeper exited with status 3 before it was ever ready"
    assert failing.spawned == 1


def test_a_hung_start_counts_as_a_crash() -> None:
    hung = SleeperChild(never_ready=True)
    supervised = Supervised(hung, FAST, ready_timeout_s=0.2)
    try:
        supervised.start()
        events = run_until(supervised, {"gave_up"})
        assert "was not ready within 0 s before it was ever ready" in events[-1].message
        assert hung.killed == 1 and hung.exit_code() is not None
    finally:
        hung.stop()


def test_backoff_doubles_up_to_its_cap() -> None:
    policy = SupervisorSettings(backoff_s=1, backoff_max_s=30)
    assert [policy.backoff(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert describe_exit(-9) == "signal SIGKILL" and describe_exit(2) == "status 2"
    with pytest.raises(ValueError):
        SupervisorSettings.from_env({"PHONOS_RESTART_BACKOFF_MAX_S": "0.5"})


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_serves_supervision_lines_are_log_records_with_a_time_and_an_action(
        log_format: str, capsys: pytest.CaptureFixture[str], serve_log_handlers: None) -> None:
    """`tritonserver exited with signal SIGKILL; restarting in 1 s ...` came hours after the banner among the job
    service's timestamped records, itself with no time, no level and no action, and as plain text in a JSON log."""
    import json
    import re

    from launcher import serve

    serve.log_supervision_as(log_format)
    nobody = type("Child", (), {"name": "x", "process": None, "popen": None})()
    assert serve.report(Event("tritonserver", "crashed", "tritonserver exited with signal SIGKILL; restarting in 1 s"),
                        nobody, nobody)  # type: ignore[arg-type]
    assert serve.report(Event("tritonserver", "restarting", "restarting tritonserver"), nobody, nobody)  # type: ignore[arg-type]
    crashed, restarting = capsys.readouterr().err.splitlines()
    if log_format == "json":
        record = json.loads(crashed)
        assert (record["level"], record["action"], record["child"]) == ("WARNING", "supervisor.crashed", "tritonserver")
        assert record["message"].startswith("tritonserver exited with signal SIGKILL") and record["time"]
        assert json.loads(restarting)["action"] == "supervisor.restarting"
    else:
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING launcher\.supervision tritonserver exited with "
                        r"signal SIGKILL; restarting in 1 s action=supervisor\.crashed child=tritonserver$", crashed)
        assert " INFO launcher.supervision restarting tritonserver action=supervisor.restarting" in restarting


@pytest.fixture
def serve_log_handlers() -> Iterator[None]:
    """`log_supervision_as` gives this process's loggers handlers on the stderr of the moment (a test's capture):
    taken off again, so later tests' records do not go to a closed capture."""
    import logging

    from jobservice.schema_guard import say_migrated
    from launcher import serve

    loggers = [serve.supervision_log, logging.getLogger(say_migrated.__module__)]
    before = [(list(logger.handlers), logger.level) for logger in loggers]
    yield
    for logger, (handlers, level) in zip(loggers, before, strict=True):
        logger.handlers[:] = handlers
        logger.setLevel(level)


def test_serve_says_when_its_first_start_migrates_the_schema(
        tmp_path: object, capsys: pytest.CaptureFixture[str], serve_log_handlers: None) -> None:
    """`phonos serve` opens the database in its first-account step, before the job service starts, so the
    migration ran there, where nothing logged: the `db.schema_migrated` line the README promises was missing from a
    serve's log (a job service started alone says it)."""
    import asyncio
    from pathlib import Path

    from launcher import serve
    from phonos_config.service import ServiceSettings

    data_dir = Path(str(tmp_path)) / "var"
    settings = ServiceSettings.from_env({}).with_overrides(data_dir=data_dir)
    serve.log_supervision_as("text")
    assert asyncio.run(serve.first_account_waiting(settings)) is not None  # a first start: the account made
    said = capsys.readouterr().err
    assert " INFO jobservice.schema_guard SQLite schema created at " in said, said
    assert "action=db.schema_migrated" in said
