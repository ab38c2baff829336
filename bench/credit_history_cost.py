"""What writing the credit history costs a job submission and a refund, side by side in one run.

Every charge and refund now also inserts a `credit_entries` row in its trigger (migration 0062). This
opens two SQLite databases migrated alike, puts the pre-history triggers back in one of them (0002's
charge, 0050's refund), and times the same work on both, in alternating rounds so load on the machine
falls on both alike: single-job submissions, batches of 10, and pending cancels (each a refund).

    .venv/bin/python bench/credit_history_cost.py [--jobs 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobservice.accounts import Accounts  # noqa: E402
from jobservice.db import Database  # noqa: E402
from jobservice.jobs import JobStore, NewJob  # noqa: E402
from jobservice.modelspecs.base import ValidatedJob  # noqa: E402

WITHOUT_HISTORY = """
DROP TRIGGER jobs_debit_on_submit;
CREATE TRIGGER jobs_debit_on_submit AFTER INSERT ON jobs WHEN NEW.credits_used > 0
BEGIN
    UPDATE accounts SET credits = credits - NEW.credits_used WHERE id = NEW.account_id;
END;
DROP TRIGGER jobs_refund;
CREATE TRIGGER jobs_refund AFTER UPDATE OF refunded ON jobs WHEN NEW.refunded > OLD.refunded
BEGIN
    UPDATE accounts SET credits = credits + (NEW.refunded - OLD.refunded) WHERE id = NEW.account_id;
    INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, credits_used,
                              elapsed_ms)
    VALUES (NEW.account_id, CAST(NEW.updated_at / 3600 AS INTEGER) * 3600, NEW.endpoint, NEW.model, 0, 'refund', 0,
            -(NEW.refunded - OLD.refunded), 0)
    ON CONFLICT (account_id, hour, endpoint, model, status_code, transport) DO UPDATE SET
        credits_used = credits_used + excluded.credits_used;
END;
"""


def job() -> NewJob:
    return NewJob(model="esmfold", name=None, request=ValidatedJob(sequence="MKTVRQERLK", params={}), cost=1)


async def prepare(path: Path, with_history: bool) -> tuple[Database, JobStore, int]:
    db = await Database.open(path)
    await db.close()
    if not with_history:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.executescript(f"BEGIN;\n{WITHOUT_HISTORY}\nCOMMIT;")
        conn.close()
    db = await Database.open(path)
    who = (await Accounts(db).create("bench", email=None, credits=10**9, rate_limit=60)).account_id
    return db, JobStore(db), who


async def one_round(jobs: JobStore, who: int, count: int) -> dict[str, float]:
    """Microseconds per job: submitted one by one, submitted in batches of 10, cancelled while pending."""
    started = time.perf_counter()
    singles = [(await jobs.submit(who, [job()]))[0] for _ in range(count)]
    single_us = (time.perf_counter() - started) / count * 1e6
    started = time.perf_counter()
    for _ in range(count // 10):
        await jobs.submit(who, [job() for _ in range(10)])
    batch_us = (time.perf_counter() - started) / (count // 10 * 10) * 1e6
    started = time.perf_counter()
    for job_id in singles:
        await jobs.cancel(who, job_id)
    cancel_us = (time.perf_counter() - started) / count * 1e6
    return {"submit": single_us, "batch of 10": batch_us, "cancel (refund)": cancel_us}


async def main(count: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        stores = {name: await prepare(Path(tmp) / f"{name}.sqlite3", name == "with history")
                  for name in ("without history", "with history")}
        seen: dict[str, list[dict[str, float]]] = {name: [] for name in stores}
        for _ in range(rounds):
            for name, (_, jobs, who) in stores.items():
                seen[name].append(await one_round(jobs, who, count))
        for db, _, _ in stores.values():
            await db.close()
    print(f"µs per job, median of {rounds} rounds of {count} jobs (SQLite, one writer)")
    print(f"{'':<18}{'without history':>16}{'with history':>14}{'ratio':>8}")
    for step in seen["with history"][0]:
        before = statistics.median(r[step] for r in seen["without history"])
        after = statistics.median(r[step] for r in seen["with history"])
        print(f"{step:<18}{before:>16.1f}{after:>14.1f}{after / before:>8.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.jobs, args.rounds))
