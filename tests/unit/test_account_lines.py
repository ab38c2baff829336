"""jobservice/modelspecs/account_lines.py: the one per-account line of slow submission checks, which both the text
checks (text_checks.py) and DiffDock's ligand check (diffdock.py) use; before, each had its own copy. Here: the
budget (the caller stops waiting, a running check runs on, a queued one is dropped) and the bookkeeping order. The
checks block until the test lets them go (events, no timing); a spent budget is the only clock."""

from __future__ import annotations

import asyncio
import threading

import pytest

from jobservice.modelspecs.account_lines import AccountLines

pytestmark = pytest.mark.unit

WAIT_S = 30.0  # a bound on waiting for a condition that, when the code is right, holds at once
SPENT_S = 0.01  # a budget that ends while the check it bounds is held


class Held:
    """Checks that note they started and block until let go."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.started = {label: threading.Event() for label in ("a1", "a2", "b")}
        self.release = {label: threading.Event() for label in ("a1", "a2", "b")}

    def check(self, label: str) -> str:
        self.ran.append(label)
        self.started[label].set()
        assert self.release[label].wait(WAIT_S), f"{label} never released"
        return label

    async def until_started(self, label: str) -> None:
        assert await asyncio.to_thread(self.started[label].wait, WAIT_S), f"{label} never started"

    def let_all_go(self) -> None:
        for event in self.release.values():
            event.set()


def test_past_its_budget_the_caller_stops_waiting_and_the_accounts_next_check_waits_for_the_thread() -> None:
    lines, held = AccountLines(2, "test-lines"), Held()

    async def scenario() -> None:
        try:
            with pytest.raises(TimeoutError):
                await lines.run(1, held.check, "a1", budget_s=SPENT_S)  # it runs on in its thread
            assert held.ran == ["a1"] and lines.checks_of(1) == 1
            second = asyncio.ensure_future(lines.run(1, held.check, "a2", budget_s=WAIT_S))
            held.release["b"].set()
            assert await lines.run(2, held.check, "b", budget_s=WAIT_S) == "b"  # another account: the other thread
            assert not second.done() and held.ran == ["a1", "b"]  # a2 waits for a1's thread, not its caller
            held.release["a2"].set()
            held.release["a1"].set()
            assert await second == "a2"
            assert lines.accounts() == 0  # the outcome comes after the bookkeeping: nothing left listed
        finally:
            held.let_all_go()

    asyncio.run(scenario())


def test_a_check_still_queued_when_its_budget_ends_never_runs() -> None:
    lines, held = AccountLines(1, "test-lines"), Held()  # one thread: b holds it, a1 queues in the pool

    async def scenario() -> None:
        try:
            other = asyncio.ensure_future(lines.run(2, held.check, "b"))
            await held.until_started("b")
            with pytest.raises(TimeoutError):
                await lines.run(1, held.check, "a1", budget_s=SPENT_S)  # first in its line, queued in the pool
            behind = asyncio.ensure_future(lines.run(1, held.check, "a2", budget_s=WAIT_S))
            await asyncio.sleep(0)  # one turn of the loop: a2 joins account 1's line behind the dropped a1
            held.release["a2"].set()
            held.release["b"].set()
            assert await other == "b" and await behind == "a2"
            assert held.ran == ["b", "a2"]  # a1 never ran
            assert lines.accounts() == 0
        finally:
            held.let_all_go()

    asyncio.run(scenario())


def test_a_check_waiting_in_its_line_when_its_budget_ends_leaves_the_line() -> None:
    lines, held = AccountLines(2, "test-lines"), Held()

    async def scenario() -> None:
        try:
            first = asyncio.ensure_future(lines.run(1, held.check, "a1"))
            await held.until_started("a1")
            with pytest.raises(TimeoutError):
                await lines.run(1, held.check, "a2", budget_s=SPENT_S)  # behind a1 in account 1's line
            assert lines.checks_of(1) == 1  # its text is not held until its turn
            held.release["a1"].set()
            assert await first == "a1"
            assert held.ran == ["a1"] and lines.accounts() == 0
        finally:
            held.let_all_go()

    asyncio.run(scenario())


def test_a_checks_exception_is_raised_to_its_caller_and_the_next_check_runs() -> None:
    lines = AccountLines(1, "test-lines")

    def refuse(text: str) -> str:
        raise ValueError(f"bad {text}")

    async def scenario() -> None:
        failing = asyncio.ensure_future(lines.run(1, refuse, "a1"))
        passing = asyncio.ensure_future(lines.run(1, str.upper, "a2"))
        with pytest.raises(ValueError, match="^bad a1$"):
            await failing
        assert await passing == "A2" and lines.accounts() == 0

    asyncio.run(scenario())
