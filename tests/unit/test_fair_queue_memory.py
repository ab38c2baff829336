"""FairQueue kept the latest start of every account that ever ran a job of its model, for the life of the process
(`_served`): a lab's service, months up, held an entry per account ever seen. It now forgets the entries of idle
accounts that no choice can turn on, and hands out jobs in the very order the rule gives with full memory."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from jobservice.fairness import FairQueue

pytestmark = pytest.mark.unit


class Reference:
    """The rule (jobservice/fairness.py's docstring) with every account's latest start kept for ever."""

    def __init__(self) -> None:
        self.waiting: dict[int, list[tuple[int, str]]] = {}
        self.running: dict[int, int] = {}
        self.served: dict[int, int] = {}
        self.ticks = itertools.count(1)

    def put(self, job_id: str, account: int) -> None:
        self.waiting.setdefault(account, []).append((next(self.ticks), job_id))

    def get(self) -> tuple[str, int]:
        account = min(self.waiting, key=lambda a: (self.running.get(a, 0), self.served.get(a, 0), self.waiting[a][0][0]))
        _, job_id = self.waiting[account].pop(0)
        if not self.waiting[account]:
            del self.waiting[account]
        self.running[account] = self.running.get(account, 0) + 1
        self.served[account] = next(self.ticks)
        return job_id, account

    def done(self, account: int) -> None:
        self.running[account] -= 1


def test_the_map_of_latest_starts_stays_bounded_and_the_order_is_the_rules() -> None:
    """Two accounts flood the model all along; one comes back a job at a time (idle between its jobs, its entry
    forgotten and needed again); 3,000 accounts come once each, one a round, two slots a round (one job stays
    in flight a round longer). Every job goes in the reference's order, and the map holds a few dozen entries, not 3,000."""

    async def scenario() -> tuple[list[str], list[str], int]:
        queue, reference = FairQueue(), Reference()
        order: list[str] = []
        expected: list[str] = []
        largest = 0
        jobs = itertools.count()

        def put(account: int) -> None:
            job_id = f"job-{next(jobs)}"
            queue.put(job_id, account)
            reference.put(job_id, account)

        for flooder in (1, 2):
            for _ in range(5):
                put(flooder)
        running = []
        for newcomer in range(1000, 4000):
            put(newcomer)
            if newcomer % 10 == 0 and 3 not in reference.waiting and reference.running.get(3, 0) == 0:
                put(3)  # the one that comes back
            for _ in range(2):
                turn = await queue.get()
                job_id, account = reference.get()
                order.append(turn.job_id)
                expected.append(job_id)
                running.append(turn)
                largest = max(largest, len(queue._served))
            for turn in running[:-1]:  # one job stays in flight a round longer
                queue.done(turn)
                reference.done(turn.account_id)
                if turn.account_id in (1, 2):
                    put(turn.account_id)
            running = running[-1:]
        return order, expected, largest

    order, expected, largest = asyncio.run(scenario())
    assert order == expected
    assert largest < 200, largest
