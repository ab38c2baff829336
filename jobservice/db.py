"""The SQLite database: connection set-up, numbered migrations and named queries.

Two sqlite3 connections per job service process, each owned by one thread of
its own (`_Connection`): a writer and a read-only reader. WAL journal,
`synchronous=NORMAL` (durable at checkpoints; a crash of the process loses
nothing that was committed, a power cut may lose the last transactions).
Queries are data: they live in `sql/queries.sql` and are looked up by name.
This is the SQLite side of the store port (jobservice/store.py).

Planner statistics: SQLite's documented practice for long-lived connections, `PRAGMA optimize` on each of them
every few hours (`OPTIMIZE_EVERY_S`) and when it closes, with `analysis_limit` set (`ANALYSIS_LIMIT`): it runs
ANALYZE only on the tables that connection's queries used whose statistics are missing or 25 times out of date
(SQLite 3.40; from 3.46 on it judges every table), so a round where nothing changed costs next to nothing (0.1 ms), and
one that analyzes reads about ANALYSIS_LIMIT rows of each index (6 ms for every hot query's tables in a lab of
100,000 jobs, bench/query_scale.py --statistics; a whole ANALYZE without the limit took 330 ms). Without statistics SQLite plans by guesses that do not
look at the data; tests/store/test_query_plans.py checks the hot queries' plans both ways. PostgreSQL needs none of
this: its autovacuum daemon analyzes a table once enough of it changed (autovacuum_analyze_scale_factor).

A full disk (SQLITE_FULL: the database, its WAL or a temporary cannot grow) is an outage to wait out, not a bug:
the statement raises DatabaseUnavailable (503 with Retry-After, the transaction rolled back, so a submission is
never a job without its charge or a charge without its job), health says the database is unavailable until space
returns, and reads go on meanwhile (the reader writes nothing). Nothing needs a restart: the next write after
space returns works.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import sqlite3
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from functools import cache, partial
from pathlib import Path
from typing import Any, TypeVar

from jobservice import metrics, schema_guard
from jobservice.errors import DatabaseUnavailable, ServiceUnavailable
from jobservice.periodic import Periodic
from jobservice.store import DISK_FULL_MESSAGE, ConstraintViolation

SQL_DIR = Path(__file__).parent / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
_NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)

log = logging.getLogger(__name__)

Row = sqlite3.Row
Params = Mapping[str, Any]
RoundRunner = Callable[[sqlite3.Connection, list[tuple[str, Params]]], list[Any]]
T = TypeVar("T")

# Free bytes on the database's file system at which health stops saying the database is unavailable once a write
# met a full disk (no write has worked since): room for a few transactions' WAL frames, so health does not turn
# ready at the first freed block only to fail the next submission.
RECOVERED_FREE_BYTES = 1 << 20
# Free inodes at which it does so too: a file system out of inodes has bytes free but refuses every new file (a
# rollback journal, a WAL after a checkpoint, a backup's copy), so bytes alone turned health ready while writes
# still failed. A few, for SQLite's side files.
RECOVERED_FREE_INODES = 16
# Rows of each index an ANALYZE run by `PRAGMA optimize` reads, about (SQLite's recommended 400): it bounds that
# run's cost whatever the table's size, and the planner needs proportions, not exact counts.
ANALYSIS_LIMIT = 400
# How often each connection runs `PRAGMA optimize` (SQLite suggests every few hours for a long-lived connection);
# a round where nothing grew much is a few microseconds.
OPTIMIZE_EVERY_S = 3 * 3600.0


class StorageState:
    """Whether the database's last write met a full disk, and when that has passed (health's `database`). The
    operator's log says so once, and once when the disk has room again: before, it said only that usage could not
    be flushed, and health `unavailable`, so a full disk read as a broken database. (A write may still fit in pages
    the file already has while the disk is full, so `full` can come and go within one episode; the log does not.)"""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.full = False
        self._said_full = False

    def failed(self, exc: BaseException) -> None:
        if is_disk_full(exc):
            if not self._said_full:
                self._said_full = True
                log.warning("the database's disk is full (%s): writes answer 503 until space is freed on it",
                            self._path.parent, extra={"action": "db.disk_full", "path": str(self._path)})
            self.full = True
            metrics.storage_full("database")

    def worked(self) -> None:
        self.full = False
        self._room_again()

    def writable(self) -> bool:
        """Not known to be full, or enough space came back (a write would work now)."""
        if self.full and has_room(self._path.parent):
            self.full = False
        self._room_again()
        return not self.full

    def _room_again(self) -> None:
        if self._said_full and has_room(self._path.parent):
            self._said_full = False
            log.info("the database's disk has room again; writes resume", extra={"action": "db.disk_space_back"})


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL


def has_room(directory: Path) -> bool:
    """`directory`'s file system has room for a few more transactions: bytes, and inodes for new files. A file
    system that does not count inodes (f_files 0: btrfs, some network file systems) is judged by its bytes. A
    quota is not seen by statvfs: a write that meets one keeps health unavailable until a write works."""
    try:
        stat = os.statvfs(directory)
    except OSError:
        return False
    inodes_ok = stat.f_files == 0 or stat.f_favail >= RECOVERED_FREE_INODES
    return stat.f_bavail * stat.f_frsize >= RECOVERED_FREE_BYTES and inodes_ok


def as_outage(exc: BaseException) -> BaseException:
    """A full disk as the domain's DatabaseUnavailable (503, retried later); any other error as it is."""
    if is_disk_full(exc):
        unavailable = DatabaseUnavailable(DISK_FULL_MESSAGE)
        unavailable.__cause__ = exc
        return unavailable
    return exc


@cache
def queries() -> dict[str, str]:
    """Every named query in sql/queries.sql, parsed once."""
    text = (SQL_DIR / "queries.sql").read_text()
    parts = _NAME_LINE.split(text)
    named = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}
    return {name: sql for name, sql in named.items() if sql}


def migrations() -> list[tuple[int, str]]:
    """(version, sql) for each `NNNN_name.sql`, in order."""
    found = []
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        found.append((int(path.name.split("_", 1)[0]), path.read_text()))
    return found


class _Connection:
    """A sqlite3 connection used only from one thread of its own; `run` hands it a callable.

    One hop per call: the caller's coroutine waits while the thread runs the callable, and the
    event loop stays free. A call queued to the thread runs even if its caller stops waiting.
    """

    def __init__(self, conn: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._executor = executor

    @classmethod
    async def open(cls, path: Path, *, read_only: bool) -> _Connection:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{'reader' if read_only else 'writer'}")
        conn = await asyncio.get_running_loop().run_in_executor(executor, partial(connect, path, read_only=read_only))
        return cls(conn, executor)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn, *args)

    async def close(self) -> None:
        await self.run(sqlite3.Connection.close)
        self._executor.shutdown(wait=True)


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    # Autocommit (isolation_level None): transactions are explicit. The connection moves to the
    # executor's thread once, here, and stays there.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    pragmas = ["journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000",
               f"analysis_limit={ANALYSIS_LIMIT}"]
    if read_only:
        pragmas.append("query_only=ON")
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")
    # SQLite's own lower() folds ASCII letters only; job names are searched ignoring case as PostgreSQL's
    # lower() does it, so "α-syn" finds "Α-SYN" on both stores.
    conn.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)
    # What job-name search's trigram index holds (migration 0081's triggers and backfill call it).
    conn.create_function("name_search_text", 1, _name_search_text, deterministic=True)
    conn.create_function("name_search_account", 1, _name_search_account, deterministic=True)
    conn.create_function("name_search_match", 2, name_search_match, deterministic=True)
    conn.create_function("name_search_unicode", 0, lambda: unicodedata.unidata_version, deterministic=True)
    return conn


def _unicode_lower(text: str | None) -> str | None:
    return None if text is None else text.lower()


def _name_search_text(text: str | None) -> str | None:
    """unicode_lower(name) with each NUL a space: FTS5's tokenizer ends a text at a NUL, so the trigrams after one
    (in a name stored before NUL was refused) would be missing. A needle never holds one (jobservice/jobs.py), so a
    match lies within a NUL-free run of the name and all its trigrams are indexed."""
    return None if text is None else text.lower().replace("\x00", " ")


def _name_search_account(account_id: int) -> str:
    """The account's one trigram in the name index (three code points of Unicode's private use plane 15, 16 bits of
    the id each): a search reads only the account's matches, however common the text is in other accounts. Ids past
    2^48 would share one with another account: slower, never wrong (the queries check account_id)."""
    return "".join(chr(0xF0000 + ((account_id >> shift) & 0xFFFF)) for shift in (32, 16, 0))


# At most this many of a needle's trigrams are asked of the name index (spread over the needle): enough to make the
# candidates few, never so many that FTS5 pays per repeat of each in every row (below).
MATCH_TRIGRAMS = 12


def name_search_match(account_id: int, needle: str) -> str:
    """The FTS5 query of job-name search (migration 0081's index) for `needle` (3+ characters once lowered, no NUL:
    jobservice/jobs.py): the account's trigram AND a few of the lowered needle's distinct trigrams, each a quoted
    string (its quotes doubled: no FTS5 syntax gets through). A prefilter only: a name holding the needle holds
    every one of its trigrams, and the queries' instr() check decides.

    Not the needle as one phrase: FTS5 checks a phrase's positions in each candidate, term by term and position by
    position, so a repetitive name ('QQQQ...' stretches, a pasted sequence) searched with itself cost ~200 trigrams
    x ~200 positions per row: 2.3 s for 20,000 such jobs, every other reader waiting behind it."""
    lowered = needle.lower()
    grams = list(dict.fromkeys(lowered[i:i + 3] for i in range(len(lowered) - 2)))
    if len(grams) > MATCH_TRIGRAMS:  # first, last and evenly between: the needle's whole length narrows the rows
        step = (len(grams) - 1) / (MATCH_TRIGRAMS - 1)
        grams = [grams[round(i * step)] for i in range(MATCH_TRIGRAMS)]
    terms = " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)
    return f'account : "{_name_search_account(account_id)}" AND name : ({terms})'


@contextmanager
def constraints(storage: StorageState | None = None) -> Iterator[None]:
    """sqlite3's IntegrityError as the store port's ConstraintViolation, a full disk as DatabaseUnavailable
    (noted in `storage`, for health)."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        text = str(exc)
        kind = "check" if "CHECK" in text else "unique" if "UNIQUE" in text else "foreign_key" if "FOREIGN" in text \
            else "not_null"
        raise ConstraintViolation(text, kind) from exc
    except sqlite3.OperationalError as exc:
        if storage is not None:
            storage.failed(exc)
        outage = as_outage(exc)
        if outage is exc:
            raise
        raise outage from exc


def _fetch_all(conn: sqlite3.Connection, sql: str, params: Params) -> list[Row]:
    return conn.execute(sql, params).fetchall()


def _execute(conn: sqlite3.Connection, sql: str, params: Params) -> int:
    return conn.execute(sql, params).rowcount


def _execute_many(conn: sqlite3.Connection, sql: str, rows: list[Params]) -> None:
    conn.executemany(sql, rows)


class Queries:
    """Named queries on one connection, inside `Database.transaction()` (which holds the writer lock)."""

    def __init__(self, conn: _Connection, storage: StorageState | None = None) -> None:
        self._conn = conn
        self._sql = queries()
        self._storage = storage

    async def fetch_one(self, name: str, params: Params | None = None) -> Row | None:
        rows = await self.fetch_all(name, params)
        return rows[0] if rows else None

    async def fetch_all(self, name: str, params: Params | None = None) -> list[Row]:
        with constraints(self._storage):
            return await self._conn.run(_fetch_all, self._sql[name], params or {})

    async def scalar(self, name: str, params: Params | None = None) -> Any:
        row = await self.fetch_one(name, params)
        return None if row is None else row[0]

    async def execute(self, name: str, params: Params | None = None) -> int:
        with constraints(self._storage):
            return await self._conn.run(_execute, self._sql[name], params or {})

    async def execute_many(self, name: str, rows: Iterable[Params]) -> None:
        with constraints(self._storage):
            await self._conn.run(_execute_many, self._sql[name], list(rows))


class _Grouped:
    """Statements issued while a round is in flight run together in the next round: one hop to the
    connection's thread for many statements. Under load this turns N thread hops into one; the hop
    (a GIL hand-off between loop and thread), not SQLite, is what costs here.
    """

    def __init__(self, conn: _Connection, run_round: RoundRunner, lock: asyncio.Lock | None) -> None:
        self._conn = conn
        self._run_round = run_round
        self._lock = lock
        self._queued: list[tuple[str, Params, asyncio.Future[list[Row]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, sql: str, params: Params) -> list[Row]:
        future: asyncio.Future[list[Row]] = asyncio.get_running_loop().create_future()
        self._queued.append((sql, params, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="db-group")
        return await future

    async def drain(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            statements = [(sql, params) for sql, params, _ in batch]
            try:
                async with self._lock or contextlib.nullcontext():
                    outcomes = await self._conn.run(self._run_round, statements)
            except BaseException as exc:  # the whole round failed (e.g. the database is gone)
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, _, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


class GroupedReads:
    """Named read queries on the reader connection, grouped into rounds (see `_Grouped`)."""

    def __init__(self, conn: _Connection) -> None:
        self._group = _Grouped(conn, _run_reads, lock=None)
        self._sql = queries()
        self.statements = 0  # read statements run so far (benchmarks and the idle-watcher test)

    async def fetch_all(self, name: str, params: Params | None = None) -> list[Row]:
        self.statements += 1
        with constraints():  # a read spilling a big sort to a temporary file can meet a full disk too
            return await self._group.run(self._sql[name], params or {})

    async def fetch_one(self, name: str, params: Params | None = None) -> Row | None:
        rows = await self.fetch_all(name, params)
        return rows[0] if rows else None

    async def scalar(self, name: str, params: Params | None = None) -> Any:
        row = await self.fetch_one(name, params)
        return None if row is None else row[0]

    async def drain(self) -> None:
        await self._group.drain()


class Database:
    """Two connections: one writer behind an asyncio lock, one reader (WAL lets reads run beside writes).

    Every statement on one connection shares its transaction, so all
    writes hold the lock: `write_one()` for a single statement (triggers make
    most state changes a single statement) and `transaction()` for
    BEGIN … COMMIT around several.

    `write_one()` group-commits: the statements of one round run in one
    transaction with a savepoint each, so each still succeeds or fails alone.
    Reads (`read`) are grouped the same way, without a transaction.
    """

    shared = False  # one job service owns the file (datadir_lock.py)

    def __init__(self, writer: _Connection, reader: _Connection, path: Path,
                 optimize_every_s: float = OPTIMIZE_EVERY_S) -> None:
        self.path = path
        self._writer_conn = writer
        self._reader_conn = reader
        self.storage = StorageState(path)
        self._writer = Queries(writer, self.storage)
        self.read = GroupedReads(reader)
        self._lock = asyncio.Lock()
        self._sql = queries()
        self._writes = _Grouped(writer, _run_group, lock=self._lock)
        self._optimizer = Periodic("sqlite-optimize", optimize_every_s, self.optimize, "database.optimize_failed",
                                   first_now=False) if optimize_every_s > 0 else None

    @classmethod
    async def open(cls, path: Path, *, optimize_every_s: float = OPTIMIZE_EVERY_S) -> Database:
        """`optimize_every_s`: how often `optimize` runs (0: only at `close`)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(_refuse_a_newer_schema, path)
        writer = await _Connection.open(path, read_only=False)
        await writer.run(_migrate)
        await writer.run(_name_index_in_this_unicode)
        reader = await _Connection.open(path, read_only=True)
        db = cls(writer, reader, path, optimize_every_s)
        if db._optimizer is not None:
            db._optimizer.start()
        return db

    async def close(self) -> None:
        if self._optimizer is not None:
            await self._optimizer.stop()
        await self._writes.drain()
        await self.read.drain()
        try:  # SQLite's advice for a connection that closes; a stop is no time to fail over statistics
            await self.optimize(logging.DEBUG)  # not among what a stop says (phonos serve prints its lines)
        except (sqlite3.Error, ServiceUnavailable) as exc:
            log.warning("PRAGMA optimize at close failed: %s", exc, extra={"action": "database.optimize_failed"})
        await self._reader_conn.close()
        await self._writer_conn.close()

    async def optimize(self, log_level: int = logging.INFO) -> list[str]:
        """`PRAGMA optimize` on both connections (each judges the tables its own queries used: the reader's are most
        of them; the reader skips what the writer just did), then each re-reads the statistics the other wrote: SQLite loads them with the schema, and
        an ANALYZE on one connection leaves another planning by what it had. Under the writer lock: the reader
        writes sqlite_stat1 here, and SQLite has one writer at a time. Returns the ANALYZE statements run."""
        async with self._lock:
            with constraints(self.storage):
                by_writer = await self._writer_conn.run(_optimize)
                # Not again what the writer just analyzed: a reader that planned by older statistics of a table asks
                # for it too (even after re-reading them: SQLite marks the table by the queries that used them).
                by_reader = await self._reader_conn.run(_optimize, frozenset(by_writer))
                if by_writer:
                    await self._reader_conn.run(_reload_statistics)
                if by_reader:
                    await self._writer_conn.run(_reload_statistics)
        analyzed = by_writer + by_reader
        if analyzed:
            log.log(log_level, "planner statistics updated: %s", "; ".join(analyzed),
                    extra={"action": "database.optimized"})
        return analyzed

    async def write_one(self, name: str, params: Params | None = None) -> Row | None:
        """One writing statement, atomic on its own (triggers included); its first RETURNING row."""
        with constraints(self.storage):
            rows = await self._writes.run(self._sql[name], params or {})
        self.storage.worked()
        return rows[0] if rows else None

    async def listen(self, channel: str, callback: Callable[[str], object]) -> None:
        """Nothing to hear: no other process writes this database."""

    async def reachable(self) -> bool:
        """A file this process holds open: there is nothing to reach, but a disk that is full is an outage to
        wait out (writes answer DatabaseUnavailable meanwhile): unavailable from a write that met it until one
        works again or the disk has room again. Any other SQLite error (a corrupt file, a bug) is no outage and
        stays a 500."""
        return self.storage.writable()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        """BEGIN IMMEDIATE … COMMIT under the writer lock; rolled back on any exception (cancellation too).

        The BEGIN/COMMIT/ROLLBACK round trips are shielded: a statement queued to the writer thread runs
        whether or not its caller waits, so the bookkeeping must see every one of them through.
        """
        conn = self._writer_conn
        async with self._lock:
            begin = asyncio.ensure_future(conn.run(_execute, "BEGIN IMMEDIATE", {}))
            try:
                with constraints(self.storage):
                    await asyncio.shield(begin)
                yield self._writer
            except BaseException:
                await asyncio.shield(_rollback_after(conn, begin))
                raise
            try:
                # A COMMIT that met a full disk: SQLite rolls the transaction back itself; make sure of it, so the
                # next BEGIN does not find it open.
                with constraints(self.storage):
                    await asyncio.shield(conn.run(_execute, "COMMIT", {}))
            except BaseException:
                await asyncio.shield(conn.run(_rollback_if_open))
                raise
            self.storage.worked()

    async def schema(self) -> list[tuple[str, str]]:
        """(name, sql) of every table and index, for the migration test."""
        rows = await self._reader_conn.run(
            _fetch_all,
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY name", {},
        )
        return [(r[0], r[1]) for r in rows]


def _run_reads(conn: sqlite3.Connection, statements: list[tuple[str, Params]]) -> list[list[Row] | Exception]:
    """In the reader thread: each statement's rows, or its error."""
    outcomes: list[list[Row] | Exception] = []
    for sql, params in statements:
        try:
            outcomes.append(conn.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            outcomes.append(exc)
    return outcomes


def _run_group(conn: sqlite3.Connection, statements: list[tuple[str, Params]]) -> list[list[Row] | Exception]:
    """In the writer thread: one transaction, a savepoint per statement; per-statement outcomes."""
    outcomes: list[list[Row] | Exception] = []
    if conn.in_transaction:  # left open by a failed earlier round; nothing else can own it (the lock)
        conn.rollback()
    with _immediate(conn):
        for sql, params in statements:
            conn.execute("SAVEPOINT statement")
            try:
                rows = conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK TO statement")
                conn.execute("RELEASE statement")
                outcomes.append(exc)
                continue
            conn.execute("RELEASE statement")
            outcomes.append(rows)
    return outcomes


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """In the writer thread: BEGIN IMMEDIATE ... COMMIT around the block, ROLLBACK on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


async def _rollback_after(conn: _Connection, begin: asyncio.Future[Any]) -> None:
    try:
        await begin
    except Exception:
        return  # BEGIN itself failed: there is no transaction to end
    await conn.run(_rollback_if_open)


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _optimize(conn: sqlite3.Connection, skip: frozenset[str] = frozenset()) -> list[str]:
    """What `PRAGMA optimize` would run on this connection, less the statements in `skip`, run; the ANALYZE
    statements run. The reader is query_only: lifted for this alone (SQLite writes the statistics through the
    connection whose queries asked for them)."""
    with _writable(conn):
        # mask 0x10002: what the default does, and from SQLite 3.46 on for every table, not only those this
        # connection used. 0x01 (debug) lists the ANALYZE statements it would run without running them; they are
        # run here as listed (the connection's analysis_limit applies to them as to the pragma's own).
        planned = [row[0] for row in conn.execute("PRAGMA optimize=0x10003").fetchall() if row[0] not in skip]
        for statement in planned:
            conn.execute(statement)
    return planned


def _reload_statistics(conn: sqlite3.Connection) -> None:
    """Re-read sqlite_stat1 into this connection's planner ("ANALYZE sqlite_schema" analyzes nothing)."""
    with _writable(conn):
        conn.execute("ANALYZE sqlite_schema")


@contextmanager
def _writable(conn: sqlite3.Connection) -> Iterator[None]:
    read_only = bool(conn.execute("PRAGMA query_only").fetchone()[0])
    if read_only:
        conn.execute("PRAGMA query_only=OFF")
    try:
        yield
    finally:
        if read_only:
            conn.execute("PRAGMA query_only=ON")


def _refuse_a_newer_schema(path: Path) -> None:
    """SchemaTooNew for a database a newer phonos wrote, read without changing a backup's file: the writer's
    connection switches it to write-ahead logging (the header, a -wal and a -shm beside it) before _migrate's check,
    and a backup copied aside for a test of the upgrade was then refused by `phonos backup` as served from, though
    nothing had run there. (A file already in write-ahead-log mode, one a job service has served from, may gain an
    empty -wal and -shm here: SQLite's read-only connection to such a file makes them.)"""
    if not path.is_file():
        return
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()
    schema_guard.check(found, max((version for version, _ in migrations()), default=0))


def _migrate(conn: sqlite3.Connection) -> int:
    """Apply every migration newer than `PRAGMA user_version`; returns the new version."""
    current = int(conn.execute("PRAGMA user_version").fetchone()[0])
    schema_guard.check(current, max((version for version, _ in migrations()), default=0))
    started, first, applied = time.perf_counter(), current, 0
    for version, sql in migrations():
        if version <= current:
            continue
        conn.executescript(f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;")
        # each at DEBUG: a new data directory's first start applies them all; the line below says it at INFO
        log.debug("migration applied", extra={"action": "db.migrated", "version": version})
        current, applied = version, applied + 1
    schema_guard.say_migrated("SQLite", first, current, applied, time.perf_counter() - started)
    return current


def _name_index_in_this_unicode(conn: sqlite3.Connection) -> None:
    """Rebuild job-name search's index (migration 0081) when this Python's Unicode version is not the one that lowered
    its names (a Python upgrade): a letter that lowers differently now would otherwise miss the names indexed before.
    Once per such upgrade, ~1 s per 100,000 jobs, at the start."""
    if _indexed_unicode(conn) == unicodedata.unidata_version:  # the usual start: one row read, no lock
        return
    started = time.perf_counter()
    with _immediate(conn):
        indexed = _indexed_unicode(conn)  # again under the write lock: another process may have rebuilt it meanwhile
        if indexed == unicodedata.unidata_version:
            return
        # One statement at a time (executescript would commit the open transaction first, lock and all).
        for statement in ("CREATE TABLE IF NOT EXISTS jobs_name_search_unicode (version TEXT NOT NULL)",
                          "DELETE FROM jobs_name_search",
                          "INSERT INTO jobs_name_search (rowid, account, name) SELECT seq, name_search_account(account_id),"
                          " name_search_text(name) FROM jobs WHERE name IS NOT NULL",
                          "DELETE FROM jobs_name_search_unicode",
                          "INSERT INTO jobs_name_search_unicode (version) VALUES (name_search_unicode())"):
            conn.execute(statement)
    log.info("job-name search index rebuilt for Unicode %s (it held names lowered by Unicode %s) in %.1f s",
             unicodedata.unidata_version, indexed or "unknown", time.perf_counter() - started,
             extra={"action": "database.name_index_rebuilt"})


def _indexed_unicode(conn: sqlite3.Connection) -> str | None:
    """The Unicode version the name index was built with; None when unknown (no row, or a store an unreleased draft
    of migration 0081 made without the table: it is rebuilt, table and all)."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'jobs_name_search_unicode'").fetchone() is None:
        return None
    row = conn.execute("SELECT version FROM jobs_name_search_unicode").fetchone()
    return None if row is None else str(row[0])


def now() -> float:
    """Wall-clock seconds; every timestamp in the database is this."""
    return time.time()
