"""The submission text checks (jobservice/modelspecs/text_checks.py: AlphaFold2's A3M, DiffDock's receptor) have two
threads for everyone. One client sending several A3Ms that miss a3m_fast.py's fast path (seconds each in the parser)
held both, and every other account's submissions waited behind them. Now an account has at most one check in a
thread at a time, its others waiting in its own line in the order they came; another account's check finds the
other thread. The slow check here is one that blocks until the test lets it go (a condition, no timing)."""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any

import pytest

import jobservice.modelspecs.alphafold2 as alphafold2
from jobservice.modelspecs import text_checks

pytestmark = pytest.mark.unit

QUERY = "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQ"
WAIT_S = 30.0  # a bound on waiting for a condition that, when the code is right, holds at once


class Outputs:
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("AlphaFold2 never reads other jobs")


class HeldChecks:
    """`_check_a3m` replaced: each check says it started (by its A3M's label) and blocks until released."""

    def __init__(self) -> None:
        self.started: queue.Queue[str] = queue.Queue()
        self.release: dict[str, threading.Event] = {}

    def check(self, a3m: list[str], chains: list[str]) -> None:
        label = a3m[0].split("\n", 1)[0].removeprefix(">")
        self.started.put(label)
        assert self.release.setdefault(label, threading.Event()).wait(WAIT_S), f"{label} never released"

    def let_go(self, label: str) -> None:
        self.release.setdefault(label, threading.Event()).set()

    async def next_started(self) -> str:
        return await asyncio.to_thread(self.started.get, True, WAIT_S)

    def let_all_go(self) -> None:
        for event in self.release.values():
            event.set()


def _submit(account: int, label: str) -> asyncio.Task[Any]:
    params = {"a3m": f">{label}\n{QUERY}\n"}
    return asyncio.ensure_future(alphafold2.build_spec({}).validate(QUERY, params, Outputs(account)))


def test_one_accounts_slow_a3ms_hold_one_thread_and_wait_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldChecks()
    monkeypatch.setattr(alphafold2, "_check_a3m", held.check)
    held.let_go("b")  # account 2's check is quick

    async def scenario() -> None:
        try:
            first = _submit(1, "a1")
            assert await held.next_started() == "a1"
            second, third = _submit(1, "a2"), _submit(1, "a3")
            # Account 2's submission is decided while account 1's first still holds a thread: not behind its others.
            other = await asyncio.wait_for(_submit(2, "b"), WAIT_S)
            assert other.params["msa_mode"] == "a3m"
            assert await held.next_started() == "b"
            assert not second.done() and held.started.empty()  # a2 waits for a1, not in the free thread
            held.let_go("a1")
            assert await held.next_started() == "a2"  # in the order they came
            await first
            assert held.started.empty() and not third.done()  # one at a time for the account
            held.let_go("a2")
            assert await held.next_started() == "a3"
            held.let_go("a3")
            await asyncio.gather(second, third)
            assert text_checks.waiting_accounts() == 0  # nothing kept for accounts with nothing waiting
        finally:
            held.let_all_go()  # the pool's threads end whatever happened

    asyncio.run(scenario())


def test_a_check_whose_submission_stopped_waiting_is_dropped_from_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldChecks()
    monkeypatch.setattr(alphafold2, "_check_a3m", held.check)

    async def scenario() -> None:
        try:
            first = _submit(1, "a1")
            assert await held.next_started() == "a1"
            gone, last = _submit(1, "a2"), _submit(1, "a3")
            await asyncio.sleep(0)  # one turn of the loop (no wait): validate runs to its check without awaiting
            assert text_checks.TEXT_CHECKS.checks_of(1) == 3  # a1 in its thread, a2 and a3 in the account's line
            gone.cancel()  # its client went away (a deadline, a closed connection)
            with pytest.raises(asyncio.CancelledError):
                await gone
            held.let_go("a1")
            held.let_go("a3")
            await asyncio.wait_for(asyncio.gather(first, last), WAIT_S)
            assert held.started.get_nowait() == "a3" and held.started.empty()  # a2 never ran
            assert text_checks.waiting_accounts() == 0
        finally:
            held.let_all_go()

    asyncio.run(scenario())
