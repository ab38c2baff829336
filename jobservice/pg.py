"""The PostgreSQL database: a connection pool, numbered migrations and the named queries, for many job
services sharing one database (PHONOS_DATABASE_URL=postgresql://…).

Queries are data, as for SQLite: `sql/postgres/queries.sql` holds the PostgreSQL text of each named
query, written with the same `:name` parameters; they are turned into asyncpg's `$n` once, at load.
Migrations live in `sql/postgres/migrations/NNNN_name.sql` and are applied under an advisory lock, so
job services starting together migrate once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import asyncpg

from jobservice import metrics, schema_guard
from jobservice.errors import DatabaseUnavailable
from jobservice.store import DISK_FULL_MESSAGE, ConstraintViolation
from phonos_common.ratelog import RateLimitedLog

log = logging.getLogger(__name__)


class _PoolFloorWithoutTraceback(logging.Filter):
    """asyncpg's pool says "Failed to restore the pool connection floor; retrying" with the connection error's whole
    traceback, at 1, 2, 4 ... 60 s while the server is away: dozens of lines each, beside `pg.unreachable`'s one.
    Said in one line, the error's type and text at its end."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and str(record.msg).startswith("Failed to restore"):
            exc = record.exc_info[1]
            record.msg, record.args = f"{record.getMessage()}: {type(exc).__name__}: {exc}", ()
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_PoolFloorWithoutTraceback())

PG_SQL_DIR = Path(__file__).parent / "sql" / "postgres"
PG_MIGRATIONS_DIR = PG_SQL_DIR / "migrations"
_NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)
# A comment, quoted literal or identifier (skipped), or a `:name` parameter that is not part of a `::type` cast.
_TOKEN = re.compile(r"--[^\n]*|'(?:[^']|'')*'|\"[^\"]*\"|(?<![:\w]):([A-Za-z_]\w*)")
# Any constant: every job service takes the same lock around its migrations.
MIGRATION_LOCK = 0x70686F6E6F73  # "phonos"

Row: TypeAlias = asyncpg.Record
Params = Mapping[str, Any]


# A query's `-- plan: per call` line: planned with each call's values, never with a generic plan (see `call`).
_PER_CALL_LINE = re.compile(r"^-- plan: per call\s*$", re.MULTILINE)
# What a statement planned per call can be asked for (asyncpg's PreparedStatement has these, not `execute`).
_PER_CALL_METHODS = frozenset({"fetch", "fetchrow", "fetchval"})


@dataclass(frozen=True)
class Statement:
    """A named query in asyncpg's positional form and the parameter name behind each `$n`; `per_call`: planned with
    each call's values (its `-- plan: per call` line)."""

    sql: str
    names: tuple[str, ...]
    per_call: bool = False

    def args(self, params: Params) -> list[Any]:
        return [params[name] for name in self.names]


def positional(sql: str) -> Statement:
    """`:name` parameters → `$1…$n` (a repeated name reuses its number); literals are left alone."""
    names: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return Statement(_TOKEN.sub(replace, sql), tuple(names), per_call=bool(_PER_CALL_LINE.search(sql)))


async def call(conn: asyncpg.Connection, method: str, sql: str, args: Iterable[Any], per_call: bool = False,
               timeout_s: float | None = None) -> Any:
    """`conn.<method>(sql, *args)`. asyncpg keeps each statement prepared on its connection, and after 5 runs
    PostgreSQL may plan it once for all values (a generic plan). For most queries the plan does not depend on the
    values, but a job-name search's does: a rare name is best read through the trigram index, a common one by walking
    the account's jobs newest first until the page is full, and the generic plan read the index whatever the name
    (a common name's list at 22,000 jobs: 0.4 → 9-16 ms). `per_call` runs it as PostgreSQL's unnamed statement
    instead, which is planned with the values of the call that binds it: one more round trip (the statement's
    description) and a planning per call (bench/query_scale.py --only name). `timeout_s` (the command timeout)
    bounds its two round trips together, as asyncpg bounds a cached statement's describe and run (each with the
    whole budget, such a call took up to twice the command timeout).

    The unnamed statement is one per connection: two per-call queries must not run at once on one connection (the
    second's describe would replace the first's statement before it runs). Pooled queries never share a connection,
    and a transaction's queries run one after another."""
    if not per_call:
        return await getattr(conn, method)(sql, *args)
    assert method in _PER_CALL_METHODS, method
    loop = asyncio.get_running_loop()
    deadline = None if timeout_s is None else loop.time() + timeout_s
    # "": the unnamed statement, replaced by the next; nothing to close
    prepared = await conn.prepare(sql, name="", timeout=timeout_s)
    left = None if deadline is None else max(deadline - loop.time(), 0.001)
    return await getattr(prepared, method)(*args, timeout=left)


@cache
def pg_queries() -> dict[str, Statement]:
    """Every named query in sql/postgres/queries.sql, parsed once."""
    text = (PG_SQL_DIR / "queries.sql").read_text()
    parts = _NAME_LINE.split(text)
    named = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}
    return {name: positional(sql) for name, sql in named.items() if sql}


def pg_migrations() -> list[tuple[int, str]]:
    """(version, sql) for each `NNNN_name.sql`, in order."""
    return [(int(path.name.split("_", 1)[0]), path.read_text()) for path in sorted(PG_MIGRATIONS_DIR.glob("*.sql"))]


@cache
def newest_migration() -> int:
    """The newest schema version this job service knows (its last migration file)."""
    return max((version for version, _ in pg_migrations()), default=0)


# The schema's version, as `migrate` reads it (the table exists once this service has started).
SCHEMA_VERSION_SQL = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"


def application_name() -> str:
    """Every connection's `application_name`: the schema version this phonos knows, so that a job service about to
    migrate can tell older ones still connected (pg_stat_activity) and an operator can see who is on which."""
    return f"{APPLICATION_PREFIX}{newest_migration()}"


APPLICATION_PREFIX = "phonos schema "
# Sessions of other phonos processes on this database, by the schema version they know and where they connect from
# (a Unix socket has no address). Same role as ours: pg_stat_activity shows its sessions' details to it.
_CONNECTED_SQL = ("SELECT application_name, COALESCE(host(client_addr), 'local') AS address FROM pg_stat_activity "
                  "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE $1")


async def warn_of_older_services(conn: asyncpg.Connection, target: int) -> None:
    """Before migrating to `target`: older phonos processes still connected (an upgrade that did not stop the old
    job services first, README "Upgrades") are named in a warning, with their addresses. Migrating anyway keeps the
    start as it was; those of this version on then read degraded on their own (`PgDatabase.reachable`), but only
    this line says which machines to stop. Processes of releases that did not label their connections are unseen."""
    older: dict[int, set[str]] = {}
    for row in await conn.fetch(_CONNECTED_SQL, APPLICATION_PREFIX + "%"):
        known = row["application_name"].removeprefix(APPLICATION_PREFIX)
        if known.isdigit() and int(known) < target:
            older.setdefault(int(known), set()).add(row["address"])
    if older:
        who = "; ".join(f"schema {known} from {', '.join(sorted(addresses))}" for known, addresses in sorted(older.items()))
        log.warning("older phonos processes are still connected to the database (%s): this one migrates its schema "
                    "to version %d now, which they are not guaranteed to read or write correctly; stop them (README, "
                    "Upgrades)", who, target, extra={"action": "pg.older_services_connected", "target": target})


async def warn_without_name_index(conn: asyncpg.Connection) -> None:
    """Said at each start while job-name search has no usable trigram index: migration 0031 could not install pg_trgm
    (the role lacks CREATE on the database, or PostgreSQL's contrib is absent) and went on without it, or a later
    build of it failed. Searches still
    answer, reading the account's jobs; README "Job-name search" says how to add the index."""
    # Valid too: a CREATE INDEX CONCURRENTLY that failed (the README's later repair) leaves an INVALID index behind,
    # which the planner never uses.
    # In this store's own schema (current_schema()), not the first on search_path that has one.
    valid = await conn.fetchval("SELECT i.indisvalid FROM pg_index i "
                                "WHERE i.indexrelid = to_regclass(quote_ident(current_schema()) || '.jobs_name_trgm')")
    if not valid:
        log.warning("job-name search has no trigram index (jobs_name_trgm; migration 0031 builds it only where pg_trgm "
                    "could be installed): each ?name= search reads the account's jobs; README, Job-name search, says "
                    "how to add it", extra={"action": "pg.no_name_index"})


def _say_migration_warnings(_conn: asyncpg.Connection, message: asyncpg.PostgresLogMessage) -> None:
    """A migration's own `RAISE WARNING 'phonos: ...'` (0031: why job-name search has no index) in the job service's
    log: asyncpg drops a server's notices unless a listener takes them, and the server's log is not the operator's."""
    text = str(getattr(message, "message", "") or message)
    if getattr(message, "severity", "") == "WARNING" and text.startswith("phonos: "):
        log.warning("%s", text.removeprefix("phonos: "), extra={"action": "pg.migration_warning"})


async def migrate(conn: asyncpg.Connection) -> int:
    """Apply every migration newer than the recorded version, all in one transaction under the advisory lock (a
    failed one leaves none of them applied, and a job service starting meanwhile waits); the new version."""
    conn.add_log_listener(_say_migration_warnings)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                           "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        current = int(await conn.fetchval(SCHEMA_VERSION_SQL))
        schema_guard.check(current, newest_migration())
        started, first, applied = time.perf_counter(), current, 0
        if current < newest_migration():
            await warn_of_older_services(conn, newest_migration())
        for version, sql in pg_migrations():
            if version <= current:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            log.info("migration applied", extra={"action": "pg.migrated", "version": version})
            current, applied = version, applied + 1
    schema_guard.say_migrated("PostgreSQL", first, current, applied, time.perf_counter() - started)
    return current


def server_of(url: str) -> str:
    """host:port of PHONOS_DATABASE_URL, for messages (never the URL: it holds the password); ValueError for a
    port that is not a number."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}" if parts.hostname else "PHONOS_DATABASE_URL's server"


class StartFailure(OSError):
    """Opening the database failed: `reason` says where and why, for an operator; `retry` says whether waiting
    can help (`start_failure`). An OSError, so every caller that reports an unusable store (STORE_UNUSABLE: the
    operator's CLI, `phonos serve`) words it as before."""

    def __init__(self, reason: str, retry: bool, kind: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        # What happened in a few words without the server's name or address ("connection refused"): the public
        # health says it while a starting job service waits (jobservice/db_wait.py); the log has the reason.
        self.kind = kind or ("cannot connect" if retry else "refused")

    def __str__(self) -> str:
        return self.reason


def start_failure(url: str, exc: BaseException, timeout_s: float) -> StartFailure:
    """Whether a failure to open the database is worth waiting out, and why it happened (README, "PostgreSQL").

    Worth waiting: the server cannot be reached yet (refused, no answer, a name DNS does not know yet, the
    connection lost) or is not taking connections yet (starting up, shutting down, in recovery, out of
    connection slots): a database started after its job services, or restarting, ends these on its own.
    Not worth it: the server answered and refused us (a wrong password or user, no pg_hba.conf entry, no such
    database) or the SSL settings cannot work (sslmode asks for SSL the server does not offer, a certificate
    that does not verify), or a migration failed: waiting changes nothing, the configuration must."""
    try:
        where = server_of(url)
    except ValueError:
        where = "PHONOS_DATABASE_URL's server"
    user = urlsplit(url).username or "(the default user)"
    if isinstance(exc, ssl.SSLError) or (isinstance(exc, ConnectionError) and "SSL" in str(exc)):
        return StartFailure(f"SSL with PostgreSQL at {where} failed: {exc} (check sslmode and the certificates "
                            "in PHONOS_DATABASE_URL)", retry=False, kind="SSL failed")
    if isinstance(exc, asyncpg.InvalidPasswordError):
        return StartFailure(f"PostgreSQL at {where} refused the password of user {user}: {exc}", retry=False,
                            kind="password refused")
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):  # no such role, no pg_hba.conf entry
        return StartFailure(f"PostgreSQL at {where} refused user {user}: {exc}", retry=False,
                            kind="user refused")
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return StartFailure(f"PostgreSQL at {where}: {exc}", retry=False, kind="no such database")
    if isinstance(exc, (asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)):
        return StartFailure(f"PostgreSQL at {where} does not take connections yet: {exc}", retry=True,
                            kind="not accepting connections yet")
    if isinstance(exc, OSError):
        return StartFailure(connect_failure(url, exc, timeout_s), retry=True, kind=_connect_kind(exc))
    if unreachable(exc):  # the connection lost mid-start, the server shut down or crashed meanwhile
        return StartFailure(f"PostgreSQL at {where} went away: {exc or type(exc).__name__}", retry=True,
                            kind="connection lost")
    return StartFailure(f"PostgreSQL at {where}: {exc}", retry=False)


def _connect_kind(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "host name not resolved"
    return "cannot connect"


def connect_failure(url: str, exc: OSError, timeout_s: float) -> str:
    """Why the first connection failed, for an operator: where it tried (host and port only: the URL holds the
    password) and what that means. Without it a server that never answers (a firewall dropping packets) said
    `cannot open the database at PHONOS_DATABASE_URL: ` and nothing more (asyncio's TimeoutError has no text),
    and a refusal `[Errno 111] Connect call failed ('10.0.0.5', 5432)`."""
    parts = urlsplit(url)
    try:
        where = server_of(url)
    except ValueError:  # a port that is not a number: asyncpg said so itself
        return str(exc)
    if isinstance(exc, TimeoutError):
        return (f"PostgreSQL at {where} did not answer within {timeout_s:g} s (PHONOS_DATABASE_CONNECT_TIMEOUT_S): "
                "a firewall dropping the packets, a wrong address, or the server overloaded")
    if isinstance(exc, ConnectionRefusedError):
        return f"PostgreSQL at {where} refused the connection: is it running, and listening on that address?"
    if isinstance(exc, socket.gaierror):
        return f"the host {parts.hostname} of PHONOS_DATABASE_URL is unknown ({exc.strerror or exc})"
    return f"PostgreSQL at {where}: {exc.strerror or exc}"


_KINDS: tuple[tuple[type[Exception], str], ...] = (
    (asyncpg.CheckViolationError, "check"),
    (asyncpg.UniqueViolationError, "unique"),
    (asyncpg.ForeignKeyViolationError, "foreign_key"),
    (asyncpg.NotNullViolationError, "not_null"),
)


# The server cannot be reached or is going away: refused, reset, unresolvable or unroutable (OSError from the
# socket), the connection lost mid-statement (08xxx), shut down, crashed or still starting (57P01-57P03), out of
# connection slots (53300). All pass once the server is back; anything else a statement raises is a bug or the
# request's fault and keeps its own meaning (a 500 unless typed).
UNREACHABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


def unreachable(exc: BaseException) -> bool:
    return isinstance(exc, UNREACHABLE)


# How long making one connection may take (PHONOS_DATABASE_CONNECT_TIMEOUT_S); asyncpg's own is 60 s, longer
# than a client waits for an answer.
DEFAULT_CONNECT_TIMEOUT_S = 5.0

# How long one statement, or waiting for a pooled connection, may take (PHONOS_DATABASE_COMMAND_TIMEOUT_S):
# asyncpg's own default is none, so a connection gone silent mid-statement held its call for ever.
DEFAULT_COMMAND_TIMEOUT_S = 15.0

# A listening connection the server ended is made again after this, doubling up to the max while it fails.
RELISTEN_FIRST_S = 0.5
RELISTEN_MAX_S = 5.0
# Each listening connection is asked to answer this often (see PgDatabase._ping_listeners).
LISTEN_PING_S = 30.0

# Every call meets the outage while it lasts: one line a minute says why (the client's 503 never does).
_outage_log = RateLimitedLog(log, per_minute=1)


def _outage(exc: BaseException) -> DatabaseUnavailable:
    _outage_log.log(logging.WARNING, "pg.unreachable", "database unreachable; calls answer 503: %s: %s",
                    type(exc).__name__, exc)
    return DatabaseUnavailable()


@contextmanager
def constraints() -> Iterator[None]:
    """asyncpg's integrity errors as the store port's ConstraintViolation, and a server that cannot be reached
    as the domain's DatabaseUnavailable (a 503 with Retry-After, not a bug's 500). Wraps asyncpg calls only: an
    OSError here is always the connection's."""
    try:
        yield
    except asyncpg.IntegrityConstraintViolationError as exc:
        kind = next((k for cls, k in _KINDS if isinstance(exc, cls)), "other")
        raise ConstraintViolation(str(exc), kind) from exc
    except asyncpg.DiskFullError as exc:  # the server's disk is full: an outage to wait out, as SQLite's (db.py)
        metrics.storage_full("database")
        _outage_log.log(logging.WARNING, "pg.disk_full", "the database server's disk is full; writes answer 503: %s",
                        exc)
        raise DatabaseUnavailable(DISK_FULL_MESSAGE) from exc
    except UNREACHABLE as exc:
        raise _outage(exc) from exc
    except asyncpg.InternalClientError as exc:
        if _poisoned(exc):
            raise _outage(exc) from exc
        raise


def _poisoned(exc: BaseException) -> bool:
    """asyncpg refused a statement on a connection that read an ErrorResponse while idle: in practice the
    server's FATAL goodbye (shut down, restarting, the backend terminated), which comes just before it closes the
    socket; the pool can hand the connection out in between. asyncpg refuses before sending anything, so the
    statement can be run on another connection. Was a 500 for a few calls whenever PostgreSQL restarted under load."""
    return isinstance(exc, asyncpg.InternalClientError) and "another operation (2) is in progress" in str(exc)


def _drop(conn: asyncpg.Connection) -> None:
    """Close a pooled connection now; one the pool already took back (it closed) needs nothing."""
    try:
        conn.terminate()
    except asyncpg.InterfaceError:
        pass


def _gone(conn: asyncpg.Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back when it closed
        return True


class PgQueries:
    """Named queries on one connection inside a transaction (`conn`), or each on a connection of the pool."""

    def __init__(self, conn: asyncpg.Connection | None = None, pooled: Pooled | None = None,
                 timeout_s: float | None = None) -> None:
        self._conn = conn
        self._pooled = pooled
        self._timeout_s = timeout_s  # `conn`'s command timeout, for per-call queries (`call`)
        self._sql = pg_queries()
        self.statements = 0  # fetches run so far (benchmarks and the idle-watcher test read it)

    async def _run(self, method: str, sql: str, *args: Any, per_call: bool = False) -> Any:
        with constraints():
            if self._conn is not None:
                return await call(self._conn, method, sql, args, per_call, self._timeout_s)
            assert self._pooled is not None
            return await self._pooled.run(method, sql, *args, per_call=per_call)

    async def _read(self, method: str, name: str, params: Params | None) -> Any:
        statement = self._sql[name]
        self.statements += 1
        return await self._run(method, statement.sql, *statement.args(params or {}), per_call=statement.per_call)

    async def fetch_all(self, name: str, params: Params | None = None) -> list[Row]:
        return list(await self._read("fetch", name, params))

    async def fetch_one(self, name: str, params: Params | None = None) -> Row | None:
        row: Row | None = await self._read("fetchrow", name, params)
        return row

    async def scalar(self, name: str, params: Params | None = None) -> Any:
        return await self._read("fetchval", name, params)

    async def execute(self, name: str, params: Params | None = None) -> int:
        statement = self._sql[name]
        status: str = await self._run("execute", statement.sql, *statement.args(params or {}))
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def execute_many(self, name: str, rows: Iterable[Params]) -> None:
        statement = self._sql[name]
        await self._run("executemany", statement.sql, [statement.args(row) for row in rows])

    async def drain(self) -> None:
        """Nothing is grouped here (the pool runs statements side by side); kept for the SQLite reader's API."""


def _stalled(exc: BaseException) -> bool:
    """The call ended while its connection may still be busy: the statement outlived the command timeout (asyncpg
    is now cancelling it) or the caller was cancelled. Waiting for that connection to be free again may take
    another command timeout, which the caller need not spend."""
    while exc is not None:
        if isinstance(exc, TimeoutError | asyncio.CancelledError):
            return True
        exc = exc.__cause__  # type: ignore[assignment]
    return False


class Pooled:
    """Single statements on pooled connections, each bounded: waiting for a connection (all busy, or a new one
    connecting) and the statement itself each take at most the command timeout, past which the call raises
    TimeoutError (an OSError: the outage's 503). A connection whose statement timed out is handed back in the
    background: asyncpg first sends the server a cancel (so a write that has not happened yet never does) and
    waits, at most one more command timeout, for it to be acknowledged, else drops the connection. The caller
    answers at once rather than after that wait."""

    def __init__(self, pool: asyncpg.Pool, timeout_s: float) -> None:
        self._pool = pool
        self.timeout_s = timeout_s
        self._releasing: set[asyncio.Task[None]] = set()

    async def acquire(self) -> asyncpg.Connection:
        return await self._pool.acquire(timeout=self.timeout_s)

    async def release(self, conn: asyncpg.Connection, exc: BaseException | None = None) -> None:
        """Back to the pool: now, or in the background after a stall (see the class)."""
        if exc is not None and _stalled(exc):
            self.later(self._pool.release(conn))
        else:
            await self._pool.release(conn)

    def later(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:  # the connection is dropped either way; the pool makes a new one
                log.debug("releasing a stalled connection failed", exc_info=True)

        task = asyncio.get_running_loop().create_task(run(), name="pg-release")
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def settle(self) -> None:
        """Wait for the background releases (each bounded by the command timeout)."""
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    async def run(self, method: str, sql: str, *args: Any, per_call: bool = False) -> Any:
        for retry in (True, False):
            conn = await self.acquire()
            try:
                result = await call(conn, method, sql, args, per_call, self.timeout_s)
            except BaseException as exc:
                if retry and _poisoned(exc):  # nothing was sent: once more, on another connection
                    _drop(conn)
                    await self._pool.release(conn)
                    continue
                await self.release(conn, exc)
                raise
            await self._pool.release(conn)
            return result
        raise AssertionError("unreachable")  # the second pass returns or raises


def session_settings(command_timeout_s: float) -> dict[str, str]:
    """What the server does about a job service that went away mid-transaction (its host gone from the network,
    the process stopped or killed without its socket closing): without these the server process waits for it
    for as long as TCP lets it (hours), holding the transaction's row and advisory locks, so every other job
    service's claims of that model, renewals of those jobs, ... wait on them and time out. Our transactions never
    sit idle longer than a statement takes, so one idle past the command timeout belongs to a job service that
    is gone: the server ends it (its locks go, its writes roll back). Keepalives make the server notice a host
    gone from the network within about a minute even outside a transaction (a TCP connection only)."""
    return {
        "application_name": application_name(),
        "idle_in_transaction_session_timeout": str(max(1000, int(command_timeout_s * 1000))),
        "tcp_keepalives_idle": "30",
        "tcp_keepalives_interval": "10",
        "tcp_keepalives_count": "3",
    }


async def _keep_session(conn: asyncpg.Connection) -> None:
    """A connection goes back to the pool as it is: asyncpg's default reset costs a round trip per use, and
    nothing here leaves session state behind (locks are per transaction, LISTEN has its own connections)."""


class PgDatabase:
    """A pool of connections to one PostgreSQL database, shared by every job service that points at it.

    Every statement runs in its own implicit transaction unless inside `transaction()`; triggers make each
    job transition one statement, as in SQLite. `listen` holds one dedicated connection per channel.
    """

    shared = True  # many job services use the same database

    def __init__(self, pool: asyncpg.Pool, url: str, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
                 command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S) -> None:
        self._pool = pool
        self._url = url
        self._connect_timeout_s = connect_timeout_s
        self._command_timeout_s = command_timeout_s
        self._pooled = Pooled(pool, command_timeout_s)
        self.read = PgQueries(pooled=self._pooled)
        self._writer = PgQueries(pooled=self._pooled)
        self._listeners: list[asyncpg.Connection] = []
        self._channels: dict[asyncpg.Connection, str] = {}  # what each listening connection listens to
        self._relistening: set[asyncio.Task[None]] = set()
        self._pinging: asyncio.Task[None] | None = None
        self._closing = False
        # A schema migrated past this service is said on every health check (each second, per request): once a
        # minute is enough to be seen in the log without burying everything else.
        self._schema_log = RateLimitedLog(log, per_minute=1)
        # Opened after the start waited for it (db_wait.open_waiting): it was away moments ago, so other services'
        # leases may have run out meanwhile (jobservice/dispatch.py: Dispatcher.start).
        self.reached_after_waiting = False
        # What the last health check found past this service's schema (None: nothing): health says
        # `database: schema_too_new`, not the `unavailable` of an outage, so the operator stops or upgrades it.
        self.schema_too_new: schema_guard.SchemaTooNew | None = None

    @classmethod
    async def open(cls, url: str, *, min_size: int = 2, max_size: int = 16,
                   connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
                   command_timeout_s: float = DEFAULT_COMMAND_TIMEOUT_S) -> PgDatabase:
        """Migrate, then open the pool. Every connection it makes later (after the server ended one) has
        `connect_timeout_s` too: asyncpg's TimeoutError is an OSError, so a call that meets it is a 503. Every
        statement on the pool has `command_timeout_s` (see `Pooled`); the migrations do not (one may take long)."""
        try:
            conn = await asyncpg.connect(url, timeout=connect_timeout_s,
                                         server_settings={"application_name": application_name()})
            try:
                await migrate(conn)
                await warn_without_name_index(conn)
            finally:
                try:  # the goodbye is bounded too: a server gone silent after migrating must not hold the start
                    await conn.close(timeout=connect_timeout_s)
                except (*UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError):
                    conn.terminate()
            pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, reset=_keep_session,
                                             timeout=connect_timeout_s, command_timeout=command_timeout_s,
                                             server_settings=session_settings(command_timeout_s))
        except (OSError, asyncpg.PostgresError) as exc:  # said where and why, and whether waiting helps
            raise start_failure(url, exc, connect_timeout_s) from exc
        return cls(pool, url, connect_timeout_s, command_timeout_s)

    async def close(self) -> None:
        self._closing = True  # before the listeners close: their termination must not reconnect them
        for task in [*self._relistening, *([self._pinging] if self._pinging else [])]:
            task.cancel()
        for conn in list(self._listeners):
            await conn.close()
        self._listeners.clear()
        await self._pooled.settle()
        await self._pool.close()

    async def write_one(self, name: str, params: Params | None = None) -> Row | None:
        """One writing statement, atomic on its own (triggers included); its first RETURNING row."""
        return await self._writer.fetch_one(name, params)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgQueries]:
        """BEGIN … COMMIT on one pooled connection; rolled back on any exception (cancellation too).

        Connecting, BEGIN, COMMIT and the rollback meeting a server that is away raise DatabaseUnavailable (the
        statements inside do so themselves, through PgQueries); each is bounded by the command timeout. After a
        stall (a statement timed out, the caller was cancelled) the rollback runs in the background: nothing
        commits without our COMMIT, and the caller answers now. An exception of the caller's own code passes
        unchanged, unless the rollback after it found the connection gone."""
        conn = await self._begin()
        try:
            yield PgQueries(conn, timeout_s=self._command_timeout_s)
            with constraints():
                await conn.execute("COMMIT")
        except BaseException as exc:
            if _stalled(exc):
                self._pooled.later(self._end(conn))
            else:
                await self._end(conn, strict=True)
            raise
        await self._pool.release(conn)

    async def _begin(self) -> asyncpg.Connection:
        """A pooled connection in a transaction; BEGIN on a poisoned connection is tried once more on another."""
        for retry in (True, False):
            with constraints():
                conn = await self._pooled.acquire()
            try:
                with constraints():
                    await conn.execute("BEGIN")
                return conn
            except BaseException as exc:
                if retry and isinstance(exc.__cause__, asyncpg.InternalClientError) and _poisoned(exc.__cause__):
                    _drop(conn)
                    await self._pool.release(conn)
                    continue
                if _stalled(exc):
                    self._pooled.later(self._end(conn))
                else:
                    await self._end(conn)
                raise
        raise AssertionError("unreachable")  # the second pass returns or raises

    async def _end(self, conn: asyncpg.Connection, strict: bool = False) -> None:
        """ROLLBACK (a no-op after a COMMIT that went through, or a BEGIN that did not) and back to the pool. A
        connection that cannot roll back is dropped: the server ends its transaction with it. Plain statements,
        not asyncpg's Transaction: it would log an error for a connection released after a BEGIN that stalled.
        `strict`: a rollback that found the connection gone raises the outage (the caller's exception replaced)."""
        try:
            if not _gone(conn):  # a lost connection's transaction ended with it
                await conn.execute("ROLLBACK")
        except Exception as exc:
            _drop(conn)
            if strict and (unreachable(exc) or _poisoned(exc)):
                raise _outage(exc) from exc
        finally:
            await self._pool.release(conn)

    async def reachable(self, timeout_s: float = 2.0) -> bool:
        """The schema's version within `timeout_s` (health; one index lookup, as cheap as the `SELECT 1` it was):
        False when the server is away or too slow to answer, and False when a newer job service migrated the
        schema past what this one knows while it runs. The start refuses such a schema (schema_guard), but a
        service already running beside the one that migrated (an upgrade that did not stop the old ones first)
        went on as healthy, reading and writing tables whose shape it does not know. Now it reads as degraded
        (/v1/health 503, gRPC readiness NOT_SERVING: an orchestrator routes no new work to it) and logs why, at
        most once a minute, until it is stopped."""
        try:
            async with asyncio.timeout(timeout_s):
                found = int(await self._pooled.run("fetchval", SCHEMA_VERSION_SQL))
        except UNREACHABLE:  # TimeoutError included: an OSError
            return False
        try:
            schema_guard.check(found, newest_migration())
        except schema_guard.SchemaTooNew as exc:
            self.schema_too_new = exc
            self._schema_log.log(logging.ERROR, "pg.schema_too_new", "the database is no longer one this job "
                                 "service can use; stop it: %s", exc, extra={"found": exc.found, "known": exc.known})
            return False
        self.schema_too_new = None
        return True

    async def listen(self, channel: str, callback: Callable[[str], object]) -> None:
        """Call `callback(payload)` for every NOTIFY on `channel` (delivered after the sender's commit).

        The connection is made again when the server ends it (restarted, stopped a while), so other job
        services' announcements reach this one once the database is back, without a restart. What was announced
        meanwhile is lost; every consumer also polls (dispatch, watch hub, webhook sender), so it is only late."""
        await self._subscribe(await self._connect(), channel, callback)
        if self._pinging is None:
            self._pinging = asyncio.get_running_loop().create_task(self._ping_listeners(), name="pg-listener-ping")

    async def _ping_listeners(self) -> None:
        """A listening connection only ever receives: one whose peer is gone without a close (a NAT or firewall
        that dropped the idle flow, a network cut) would never be noticed, and this job service would stay deaf
        to the others' announcements, for ever, living on the polls alone. So each says its LISTEN again (a
        no-op for the server) every LISTEN_PING_S, which also keeps such a flow from going idle; one that does
        not answer within the command timeout is dropped, and its termination makes it again (`_lost`)."""
        while not self._closing:
            await asyncio.sleep(LISTEN_PING_S)
            for conn in list(self._listeners):
                channel = self._channels.get(conn)
                if channel is None:
                    continue
                try:
                    await conn.execute('LISTEN "{}"'.format(channel.replace('"', '""')))  # as asyncpg quotes it
                except (*UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError):
                    if not self._closing:
                        log.info("a listening connection did not answer; making it again",
                                 extra={"action": "pg.listener_dropped"})
                        conn.terminate()

    async def _connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self._url, timeout=self._connect_timeout_s,
                                     command_timeout=self._command_timeout_s,
                                     server_settings={"application_name": application_name()})

    async def _subscribe(self, conn: asyncpg.Connection, channel: str, callback: Callable[[str], object]) -> None:
        self._listeners.append(conn)
        self._channels[conn] = channel
        await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: callback(payload))
        conn.add_termination_listener(lambda ended: self._lost(ended, channel, callback))

    def _lost(self, conn: asyncpg.Connection, channel: str, callback: Callable[[str], object]) -> None:
        if conn in self._listeners:
            self._listeners.remove(conn)
        self._channels.pop(conn, None)
        if self._closing:
            return
        task = asyncio.get_running_loop().create_task(self._relisten(channel, callback), name=f"relisten-{channel}")
        self._relistening.add(task)
        task.add_done_callback(self._relistening.discard)

    async def _relisten(self, channel: str, callback: Callable[[str], object]) -> None:
        delay_s = RELISTEN_FIRST_S
        while not self._closing:
            await asyncio.sleep(delay_s)
            try:
                conn = await self._connect()
            except (*UNREACHABLE, asyncpg.PostgresError):
                delay_s = min(delay_s * 2, RELISTEN_MAX_S)
                continue
            if self._closing:
                await conn.close()
                return
            try:
                await self._subscribe(conn, channel, callback)
            except (*UNREACHABLE, asyncpg.PostgresError, asyncpg.InterfaceError):  # gone again at once
                if conn in self._listeners:
                    self._listeners.remove(conn)
                self._channels.pop(conn, None)
                conn.terminate()
                continue
            log.info("listening again", extra={"action": "pg.relistened", "channel": channel})
            return

