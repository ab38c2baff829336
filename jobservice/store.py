"""The store port: the job service's state, as named queries over one of two engines.

* `Database` (jobservice/db.py): SQLite in the data directory, owned by one job service (a file lock).
* `PgDatabase` (jobservice/pg.py): PostgreSQL shared by many job services (PHONOS_DATABASE_URL).

Both load the same query names from their own `.sql` files (jobservice/sql/queries.sql,
jobservice/sql/postgres/queries.sql) with the same meaning, and both enforce money and events in the
database (constraints and triggers), so jobs, accounts, usage and webhooks run unchanged on either.
tests/store/ runs one contract suite over both and proves both schemas mean the same.

What differs is said by `shared`: on a shared store other job services claim work too, so dispatch
claims with `claim_next_job` (SKIP LOCKED) under a lease instead of owning every job outright.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar

import asyncpg

from jobservice.errors import DatabaseUnavailable
from jobservice.schema_guard import SchemaTooNew
from phonos_config.service import ServiceSettings, check_database_url

Params = Mapping[str, Any]
S = TypeVar("S")
R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)

# NOTIFY channels of a shared store (payloads: a model name, a job id, nothing).
JOBS_CHANNEL = "phonos_jobs"  # a job became pending: wake that model's workers
CANCEL_CHANNEL = "phonos_cancel"  # a running job was cancelled: stop it wherever it runs
WEBHOOKS_CHANNEL = "phonos_webhooks"  # deliveries were queued: wake the senders
JOB_EVENTS_CHANNEL = "phonos_job_events"  # a job's state changed: wake the watch hubs

# What a user is told while the database's disk is full (SQLite's, or PostgreSQL's own): DatabaseUnavailable, a 503
# with Retry-After; the service's side, and it passes once the operator frees space.
DISK_FULL_MESSAGE = "The service cannot store anything right now: its disk is full. Try again later."


class ConstraintViolation(Exception):
    """The database refused a write: `kind` is "check", "unique" or "foreign_key"."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class Row(Protocol):
    """A result row: by column name or position (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: Any) -> Any: ...

    def keys(self) -> Iterable[str]: ...


class Reads(Protocol):
    async def fetch_all(self, name: str, params: Params | None = None) -> list[Any]: ...

    async def fetch_one(self, name: str, params: Params | None = None) -> Any: ...

    async def scalar(self, name: str, params: Params | None = None) -> Any: ...

    async def drain(self) -> None: ...


class Transaction(Protocol):
    async def fetch_all(self, name: str, params: Params | None = None) -> list[Any]: ...

    async def fetch_one(self, name: str, params: Params | None = None) -> Any: ...

    async def scalar(self, name: str, params: Params | None = None) -> Any: ...

    async def execute(self, name: str, params: Params | None = None) -> int: ...

    async def execute_many(self, name: str, rows: Iterable[Params]) -> None: ...


class Guard(Protocol[R_contra]):
    """A keyed call's part in the transaction of the work its Idempotency-Key guards (jobservice/idempotency.py,
    KeyGuard). `check` comes first: it raises (and so rolls the work back) unless this request still holds the key's
    claim, and holds the claim row until the commit, so no other service can take the key over meanwhile. `done`
    comes last, with what the work made: the response is stored with the work, so a retry either replays it or finds
    no work done."""

    async def check(self, tx: Transaction) -> None: ...

    async def done(self, tx: Transaction, result: R_contra) -> None: ...


class Adapted(Generic[S, R]):
    """`guard` for a work whose result is an `S`, made into what `guard` answers for by `convert`."""

    def __init__(self, guard: Guard[R], convert: Callable[[S], R]) -> None:
        self._guard = guard
        self._convert = convert

    async def check(self, tx: Transaction) -> None:
        await self._guard.check(tx)

    async def done(self, tx: Transaction, result: S) -> None:
        await self._guard.done(tx, self._convert(result))


class Store(Protocol):
    """Named queries in, rows out; every write that breaks a constraint raises `ConstraintViolation`."""

    @property
    def read(self) -> Reads: ...

    @property
    def shared(self) -> bool:
        """Other job services use this store at the same time."""
        ...

    async def write_one(self, name: str, params: Params | None = None) -> Any:
        """One writing statement, atomic with its triggers; its first RETURNING row or None."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def listen(self, channel: str, callback: Callable[[str], object]) -> None:
        """Call `callback(payload)` for what other job services announce (nothing to hear on SQLite)."""
        ...

    async def reachable(self) -> bool:
        """The database answers now (health's `database` component). A statement meeting a database that does
        not raises `jobservice.errors.DatabaseUnavailable`."""
        ...

    async def close(self) -> None: ...


# What opening the store (or its data directory) raises when it cannot be used: a path that is not a
# directory or not writable, a full disk (SQLite's own error, or DatabaseUnavailable from a first write), a locked
# or corrupt SQLite file, PostgreSQL down or refusing us.
STORE_UNUSABLE = (OSError, sqlite3.Error, asyncpg.PostgresError, SchemaTooNew, DatabaseUnavailable)


def store_unusable_message(settings: ServiceSettings, exc: BaseException) -> str:
    """One line for an operator: which store could not be used, and why (never the URL: it holds a password).
    SQLite meeting a full disk at start says "disk I/O error" (its shared-memory file cannot grow): the line
    says the disk is full, and what to do."""
    if settings.database_url:
        return f"cannot open the database at PHONOS_DATABASE_URL: {exc}"
    message = f"cannot use the data directory {settings.data_dir}: {exc}"
    if _no_room(settings.data_dir):
        message += "; its disk is full: free space on that file system and start again"
    return message


def _no_room(directory: os.PathLike[str]) -> bool:
    """`directory`'s file system has no room left for a writer (a full disk); False if that cannot be told."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 65536


async def open_store(settings: ServiceSettings) -> Store:
    """PostgreSQL when PHONOS_DATABASE_URL is set, else SQLite in the data directory."""
    if settings.database_url:
        check_database_url(settings.database_url)  # settings built with overrides may not have been checked
        from jobservice.pg import PgDatabase

        return await PgDatabase.open(settings.database_url, connect_timeout_s=settings.database_connect_timeout_s,
                                     command_timeout_s=settings.database_command_timeout_s)
    from jobservice.db import Database

    return await Database.open(settings.database_path)
