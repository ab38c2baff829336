"""What authenticating every request against SQLite costs, next to the in-process key cache it replaced.

Revocation must take effect on the very next request, also when another process (`phonos keys
revoke`) writes the database, so `Accounts.authenticate` reads the key row each time. This prints,
side by side in one run on one database, microseconds per authentication:

* cached: a dict lookup after the first read (the old behaviour, which kept revoked keys alive);
* database, one at a time: one indexed read on the reader connection per request;
* database, N concurrent: the reads of requests in flight share a round on the reader thread.

    .venv/bin/python bench/auth_lookup.py [--keys 1000] [--requests 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jobservice.accounts import Accounts, Principal  # noqa: E402
from jobservice.db import Database  # noqa: E402


class CachedAccounts:
    """The replaced behaviour: first lookup reads the database, later ones a dict."""

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts
        self._cache: dict[str, Principal] = {}

    async def authenticate(self, authorization: str) -> Principal:
        found = self._cache.get(authorization)
        if found is None:
            found = await self._accounts.authenticate(authorization)
            self._cache[authorization] = found
        return found


async def timed(label: str, calls: list[str], concurrency: int, auth: object) -> float:
    queue = list(calls)

    async def worker() -> None:
        while queue:
            await auth.authenticate(queue.pop())  # type: ignore[attr-defined]

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    per_call_us = (time.perf_counter() - start) / len(calls) * 1e6
    print(f"{label:<44} {per_call_us:8.1f} µs/auth  ({len(calls) / (per_call_us * len(calls) / 1e6):,.0f}/s)")
    return per_call_us


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bench.sqlite3")
        try:
            accounts = Accounts(db)
            keys = [(await accounts.create(f"user{i}", email=None, credits=0, rate_limit=60)).api_key
                    for i in range(args.keys)]
            calls = [f"Bearer {random.choice(keys)}" for _ in range(args.requests)]
            cached = CachedAccounts(accounts)
            for key in keys:  # warm the cache, as a long-running process would be
                await cached.authenticate(f"Bearer {key}")
            print(f"{args.keys} keys, {args.requests} authentications per row")
            base = await timed("cached (old: revoked keys stayed valid)", calls, 1, cached)
            one = await timed("database, one at a time", calls, 1, accounts)
            many = await timed(f"database, {args.concurrency} concurrent", calls, args.concurrency, accounts)
            print(f"ratio database/cached: {one / base:.1f}x sequential, {many / base:.1f}x at concurrency "
                  f"{args.concurrency}")
        finally:
            await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=64)
    asyncio.run(main(parser.parse_args()))
