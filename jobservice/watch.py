"""Live job events for the watch streams: one source in the database, fanned out in memory.

State events come from `job_events`, the log that triggers write in the same statement as every
transition (sql/migrations/0030_job_events.sql), so a stream can never miss or invent a state change,
and an event's id is the resume cursor. Progress events come straight from dispatch (the model's
progress responses) and are never stored: they are advisory, and a watcher that joins late gets the
latest one.

Cost does not grow with the number of watchers: the hub runs **one** tail query after each commit
that changed a job (the job store wakes it), plus one every `poll_s` as a safety net, and only while
someone watches; it hands each event to the subscriptions of that job and of its account. A watcher
reads the database only when it opens (its snapshot or its replay) and when it fell behind.

Ordering: a watcher subscribes first, then reads its snapshot, and drops queued state events it
already has (by id), so nothing committed in between is lost or repeated. Progress is delivered
only after the `running` state event of the same job, so a client never sees progress of a job it
still believes pending. A watcher that joins mid-run gets the latest progress at once, and a progress event
queued meanwhile that is not newer than it (the same step, or an older one) is dropped: each progress event
carries the hub's sequence number.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, replace
from typing import TypeVar

from phonos_models.common.progress import Progress

from jobservice.database_outage_log import DatabaseOutageLog
from jobservice.errors import (
    InvalidArgument,
    NotFound,
    ServiceUnavailable,
    TooManyStreams,
    echoed_id,
    json_value_text,
)
from jobservice.iteration import abandon
from jobservice.jobs import JobRecord, queue_places, with_place
from jobservice.opaque_ids import PLAIN, IdCipher
from jobservice.states import TERMINAL, JobStatus
from jobservice.store import Row, Store

log = logging.getLogger(__name__)
T = TypeVar("T")

TAIL_BATCH = 500  # events per tail query; a longer backlog takes several rounds
# A missing event id below delivered ones: on PostgreSQL, a transaction of another job service that took
# the id earlier may commit later (or roll back and never fill it). The hub delivers past such a gap at
# once but keeps its cursor before it, re-reading, until the id appears or this long has passed.
GAP_WAIT_S = 10.0
GAP_RECHECK_S = 0.2


class _OfJob:
    job: JobRecord

    @property
    def job_id(self) -> str:
        return self.job.id

    @property
    def account_id(self) -> int:
        return self.job.account_id


@dataclass(frozen=True)
class StateEvent(_OfJob):
    """The job entered `status` at `at` (or, first on a stream, is in it)."""

    event_id: int
    status: JobStatus
    at: float
    job: JobRecord  # the job's row when the event was read (at or after the event)

    @classmethod
    def from_row(cls, row: Row) -> StateEvent:
        return cls(int(row["event_id"]), JobStatus(row["event_status"]), float(row["event_at"]), JobRecord.from_row(row))

    @classmethod
    def current(cls, row: Row) -> StateEvent:
        """The job's current state, as the event that put it there (`event_id` column beside the job)."""
        job = JobRecord.from_row(row)
        return cls(int(row["event_id"] or 0), job.status, job.updated_at, job)


@dataclass(frozen=True)
class ProgressEvent(_OfJob):
    job: JobRecord  # as claimed: the running job
    progress: Progress
    at: float
    seq: int = 0  # the hub's count of progress events: a stream never sends one older than one it sent


Event = StateEvent | ProgressEvent


class KeepAlive:
    """What `with_keepalives` yields after a quiet spell: the stream is open and has nothing to say."""


KEEP_ALIVE = KeepAlive()


class QueueMoved:
    """What `Subscription.next` returns when another job of the watched pending job's model changed state (one
    started, left the queue or joined it): the watcher reads the job's place again."""


QUEUE_MOVED = QueueMoved()


class Lagged(Exception):
    """The watcher fell so far behind that events were dropped: it must re-read from the database."""


class Subscription:
    """The queue of one watcher: state events in id order, progress events in between."""

    def __init__(self, account_id: int, job_id: str | None, capacity: int) -> None:
        self.account_id = account_id
        self.job_id = job_id
        self._capacity = capacity
        self._queue: collections.deque[Event] = collections.deque()
        self._ready = asyncio.Event()
        self._lagged = False
        self._moved = False  # the queue of `queue_model` moved since the watcher last looked
        self.queue_model: str | None = None  # set while its job waits: the model whose queue it follows
        self.closed = False

    def offer(self, event: Event) -> None:
        if len(self._queue) >= self._capacity:
            if isinstance(event, StateEvent):
                self._lagged = True  # progress is dropped silently; a lost state event needs a resync
        else:
            self._queue.append(event)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self._ready.set()

    def queue_moved(self) -> None:
        """Coalesced: a burst of starts costs the watcher one read of its place."""
        self._moved = True
        self._ready.set()

    async def next(self, timeout_s: float | None) -> Event | QueueMoved | None:
        """The next event (`QUEUE_MOVED` when only its job's queue moved); None when the hub closed or `timeout_s`
        passed; `Lagged` after an overflow."""
        while not self._queue:
            if self._lagged:
                self._lagged = False
                raise Lagged()
            if self.closed:
                return None
            if self._moved:
                self._moved = False
                return QUEUE_MOVED
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._ready.wait()
            except TimeoutError:
                return None
        return self._queue.popleft()


class WatchHub:
    """Fans job events out to subscriptions; see the module docstring for the one-source rule."""

    def __init__(self, db: Store, *, poll_s: float = 5.0, capacity: int = 1000,
                 max_per_account: int = 0) -> None:
        self._db = db
        self._poll_s = poll_s
        self._capacity = capacity
        self._max_per_account = max_per_account  # open subscriptions one account may hold here; 0: no cap
        self._by_job: dict[str, set[Subscription]] = collections.defaultdict(set)
        self._by_account: dict[int, set[Subscription]] = collections.defaultdict(set)
        self._by_model: dict[str, set[Subscription]] = collections.defaultdict(set)  # watchers of a waiting job
        self._count = 0
        self._cursor: int | None = None  # every event id up to here was dispatched; None while nobody watches
        self._ahead: set[int] = set()  # ids past a gap in the log, already dispatched
        self._gap_since: float | None = None  # when the cursor stopped at the current gap
        self._generation = 0  # bumped when the cursor is dropped, so an in-flight tail is discarded
        self._woken = asyncio.Event()
        self._latest: dict[str, ProgressEvent] = {}
        self._progress_seq = 0
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.tail_queries = 0  # how many times the hub read the database (the idle-watcher test reads it)
        self._tail_outage = DatabaseOutageLog("the watch streams' tail (streams stay open)", "watch.tail", log)

    # -- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._tail(), name="watch-hub-tail")

    async def close(self) -> None:
        """End every stream (clients resume elsewhere or later) and stop tailing."""
        self._closed = True
        for subscriptions in list(self._by_account.values()):
            for subscription in subscriptions:
                subscription.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # -- subscriptions --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, account_id: int, job_id: str | None = None) -> AsyncIterator[Subscription]:
        """A subscription to one job (or all of an account's jobs), registered before any read; TooManyStreams
        when the account already holds `max_per_account` (a stream is cheap to open and lasts up to an hour)."""
        held = len(self._by_account.get(account_id, ()))
        if self._max_per_account and held >= self._max_per_account:
            raise TooManyStreams(
                f"This account already has {held} event streams open, the most one account may hold "
                f"(PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT): close one (a finished job's, another tab's) or watch "
                "every job on one stream (GET /v1/events)", limit=self._max_per_account)
        subscription = Subscription(account_id, job_id, self._capacity)
        if self._closed:
            subscription.close()
        self._by_account[account_id].add(subscription)
        if job_id is not None:
            self._by_job[job_id].add(subscription)
        self._count += 1
        try:
            if self._cursor is None:  # the first watcher: start tailing from what is committed now
                last = int(await self._db.read.scalar("last_job_event_id"))
                self.tail_queries += 1
                if self._cursor is None:
                    self._cursor = last
            yield subscription
        finally:
            self._discard(subscription)

    def follow_queue(self, subscription: Subscription, model: str | None) -> None:
        """While its job waits, `subscription` hears when another job of `model` changes state (None: no longer)."""
        if subscription.queue_model is not None:
            _remove(self._by_model, subscription.queue_model, subscription)
        subscription.queue_model = model
        if model is not None:
            self._by_model[model].add(subscription)

    def _discard(self, subscription: Subscription) -> None:
        self.follow_queue(subscription, None)
        self._count -= 1
        _remove(self._by_account, subscription.account_id, subscription)
        if subscription.job_id is not None:
            _remove(self._by_job, subscription.job_id, subscription)
        if self._count == 0:
            self._cursor = None
            self._ahead.clear()
            self._gap_since = None
            self._generation += 1

    # -- sources --------------------------------------------------------------------------------------

    def wake(self) -> None:
        """A transition committed (the job store calls this): tail the log if anyone watches."""
        if self._count:
            self._woken.set()

    def progress(self, job: JobRecord, update: Progress) -> None:
        """A running job's model reported progress (dispatch calls this)."""
        self._progress_seq += 1
        event = ProgressEvent(job, update, time.time(), self._progress_seq)
        self._latest[job.id] = event
        self._deliver(event)

    def finished(self, job_id: str) -> None:
        """The job's model call ended: its progress is history."""
        self._latest.pop(job_id, None)

    def latest_progress(self, job_id: str) -> ProgressEvent | None:
        return self._latest.get(job_id)

    def _deliver(self, event: Event) -> None:
        targets = self._by_account.get(event.account_id, ())
        for subscription in targets:
            if subscription.job_id is None or subscription.job_id == event.job_id:
                subscription.offer(event)
        if isinstance(event, StateEvent):  # any account's: the watcher learns only that its place may have moved
            for subscription in self._by_model.get(event.job.model, ()):
                if subscription.job_id != event.job_id:
                    subscription.queue_moved()

    async def _tail(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._woken.wait()
            self._woken.clear()
            if self._cursor is None:
                continue
            try:
                await self._tail_once()
            except ServiceUnavailable as exc:  # said once, not a traceback every poll while anyone watches
                self._tail_outage.began(exc)
                continue
            except Exception:
                log.exception("watch tail failed", extra={"action": "watch.tail_failed"})
                continue
            self._tail_outage.ended()

    async def _tail_once(self) -> None:
        generation, cursor = self._generation, self._cursor
        rows = await self._db.read.fetch_all("job_events_after", {"after": cursor, "limit": TAIL_BATCH})
        self.tail_queries += 1
        if generation != self._generation or self._cursor is None:
            return  # everybody left meanwhile; the next watcher starts from its own snapshot
        for row in rows:
            event = StateEvent.from_row(row)
            if event.event_id <= self._cursor or event.event_id in self._ahead:
                continue  # delivered on an earlier round (read again while a gap below it was open)
            self._ahead.add(event.event_id)
            self._deliver(event)
        self._advance(time.monotonic())
        if len(rows) == TAIL_BATCH:
            self._woken.set()
        elif self._ahead:  # a gap is open: look again soon rather than at the next poll
            asyncio.get_running_loop().call_later(GAP_RECHECK_S, self.wake)

    def _advance(self, now_s: float) -> None:
        """Move the cursor over every contiguous delivered id, and over a gap that waited GAP_WAIT_S."""
        assert self._cursor is not None
        while True:
            while self._cursor + 1 in self._ahead:
                self._cursor += 1
                self._ahead.discard(self._cursor)
            if not self._ahead:
                self._gap_since = None
                return
            if self._gap_since is None:
                self._gap_since = now_s
                return
            if now_s - self._gap_since < GAP_WAIT_S:
                return
            self._cursor = min(self._ahead) - 1  # the missing ids never committed (rolled back)
            self._gap_since = None


def _remove(index: dict, key: object, subscription: Subscription) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(subscription)
        if not members:
            del index[key]


async def with_keepalives(source: AsyncIterator[T], every_s: float) -> AsyncIterator[T | KeepAlive]:
    """`source`'s items, and KEEP_ALIVE after every `every_s` without one (a gRPC watch stream that asked for them:
    an L7 proxy ends a stream without messages for a while, whatever HTTP/2 pings say). Timers only: a quiet
    stream still reads nothing."""
    iterator = aiter(source)
    # A task, not wait_for(anext(...)): a keep-alive must not cancel the source mid-item.
    upcoming: asyncio.Future[T] | None = None
    try:
        while True:
            if upcoming is None:
                upcoming = asyncio.ensure_future(anext(iterator))
            done, _ = await asyncio.wait({upcoming}, timeout=every_s)
            if not done:
                yield KEEP_ALIVE
                continue
            item, upcoming = upcoming, None
            try:
                value = item.result()
            except StopAsyncIteration:
                return
            yield value
    finally:
        await abandon(upcoming, iterator)  # closed while waiting: the item in flight (or its error) goes nowhere


def parse_cursor(text: str | None, ids: IdCipher = PLAIN.events) -> int | None:
    """A client's `last_event_id`: None for a fresh start; the event's row number (`ids`, the store's opaque ids);
    InvalidArgument for anything but an event id."""
    if text is None or text == "":
        return None
    number = ids.number(text) if text.strip() == text else None
    if number is None:
        raise InvalidArgument(f"last_event_id must be the event_id of an event received, got {json_value_text(text)}")
    return number


class PlaceReads:
    """The places of waiting jobs whose queue moved, for every watcher at once: one read at a time, each covering
    every job asked for while the one before it ran (and each job once, however many streams watch it).

    Was: each watcher read its own job's place (`queue_places`, a scan of the model's waiting jobs) when its queue
    moved, so one move cost as many reads as there were watchers of waiting jobs: 2,000 streams (one account's cap)
    over 1,000 waiting jobs were 2,000 reads of ~3.5 ms, ~7 s of the database, at every start of that model. A job
    asked for is read by a read that begins after it was asked: never a place older than the move. Each watcher
    gets its own record back with the place read (or unchanged, when the job no longer waits), never another
    watcher's: streams of one job may hold different states of it."""

    def __init__(self, db: Store) -> None:
        self._db = db
        self._asked: dict[str, list[_Asker]] = {}
        self._reading: asyncio.Task[None] | None = None
        self.reads = 0  # reads made (a test compares them with the watchers served)

    async def place(self, job: JobRecord) -> JobRecord:
        """`job` with its place now (unchanged if it is no longer waiting)."""
        future: asyncio.Future[JobRecord] = asyncio.get_running_loop().create_future()
        self._asked.setdefault(job.id, []).append((job, future))
        if self._reading is None:
            self._reading = asyncio.create_task(self._read_all(), name="watch-queue-places")
            self._reading.add_done_callback(self._read_ended)  # also when cancelled before it ever ran
        try:
            return await asyncio.shield(future)  # a watcher that leaves does not cancel the others' read
        except asyncio.CancelledError:
            future.add_done_callback(_retrieved)  # its outcome goes nowhere: no "never retrieved" warning
            raise

    def _read_ended(self, task: asyncio.Task[None]) -> None:
        """A read task cancelled before it ever ran (so its own `finally` did not): its watchers are let go."""
        if self._reading is task:
            self._reading = None
            _settle_all(self._asked, None)
            self._asked = {}

    async def _read_all(self) -> None:
        asked: dict[str, list[_Asker]] = {}
        try:
            while self._asked:
                asked, self._asked = self._asked, {}
                ids = list(asked)
                try:
                    for start in range(0, len(ids), TAIL_BATCH):
                        self.reads += 1
                        batch = ids[start:start + TAIL_BATCH]
                        places = await queue_places(self._db, batch)
                        for job_id in batch:
                            for own, future in asked[job_id]:
                                if not future.done():
                                    future.set_result(replace(own, place=places[job_id]) if job_id in places else own)
                except Exception as exc:  # the database away: each watcher's stream fails as its own read would have
                    _settle_all(asked, exc)
        except BaseException:  # cancelled (the service stopping): nobody waits for a read that will not come
            _settle_all(asked, None)
            _settle_all(self._asked, None)
            self._asked = {}
            raise
        finally:
            self._reading = None


_Asker = tuple[JobRecord, "asyncio.Future[JobRecord]"]


def _settle_all(asked: dict[str, list[_Asker]], exc: Exception | None) -> None:
    """Every unanswered watcher in `asked` gets `exc` (None: is cancelled)."""
    for askers in asked.values():
        for _, future in askers:
            if not future.done():
                if exc is None:
                    future.cancel()
                else:
                    future.set_exception(exc)


def _retrieved(future: asyncio.Future[JobRecord]) -> None:
    if not future.cancelled():
        future.exception()


class JobWatcher:
    """What one watch stream yields: snapshot or replay from the database, then live events."""

    def __init__(self, hub: WatchHub, db: Store, *, max_stream_s: float) -> None:
        self._hub = hub
        self._db = db
        self._max_stream_s = max_stream_s
        self.places = PlaceReads(db)

    async def job(self, account_id: int, job_id: str, after: int | None) -> AsyncIterator[Event | KeepAlive]:
        """One job until it is terminal. NotFound before any event when it is not this account's.

        A resume (`after`) of a job still running with nothing newer than the cursor opens with one KEEP_ALIVE, as
        `account` does after an empty opening, so that the REST edge answers its status line at once."""
        async with self._hub.subscribe(account_id, job_id) as subscription:
            current = await self._db.read.fetch_one("job_with_last_event", {"job_id": job_id, "account_id": account_id})
            if current is None:
                raise NotFound(f"Job {echoed_id(job_id)} not found")
            # Its queue followed from now, before its place is read and the opening sent: a stream waits at each
            # `yield` until its reader asks again (a slow client, a busy server), and a move meanwhile set no flag,
            # so the stream kept its old place until the next move (hours behind a long job). A move now is read
            # once the opening is through.
            self._follow_queue(subscription, StateEvent.current(current))
            if after is None:
                now = StateEvent.current(current)
                opening = _just(replace(now, job=await with_place(self._db, now.job)))  # pending: where it stands
            else:
                opening = self._replay("job_events_of_job_after", after, account_id=account_id, job_id=job_id)
            stream = _Ordered()
            stream.delivered(StateEvent.current(current))  # what the job is in now, sent or not
            sent: StateEvent | None = None
            async with contextlib.aclosing(opening):
                async for state in opening:
                    yield state
                    stream.delivered(state)
                    sent = state
            if (sent.status if sent else JobStatus(current["status"])) in TERMINAL:
                return  # finished: nothing more will come (a resume after its last event gets nothing)
            if sent is None:
                yield KEEP_ALIVE  # open, nothing newer yet
            last = sent or StateEvent.current(current)
            self._follow_queue(subscription, last)
            async for event in self._live(subscription, stream, account_id, job_id):
                if isinstance(event, QueueMoved):
                    if last.status != JobStatus.PENDING:
                        continue
                    moved = await self.places.place(last.job)
                    if moved.place is None or (last.job.place and moved.place.jobs_ahead == last.job.place.jobs_ahead):
                        continue  # started meanwhile (its state event follows), or the same place (running: no news)
                    event = last = replace(last, job=moved)  # the job's latest state again, with its new place
                elif isinstance(event, StateEvent):
                    last = event
                    self._follow_queue(subscription, event)
                yield event
                if isinstance(event, StateEvent) and event.status in TERMINAL:
                    return

    def _follow_queue(self, subscription: Subscription, latest: StateEvent) -> None:
        waiting = latest.status == JobStatus.PENDING
        self._hub.follow_queue(subscription, latest.job.model if waiting else None)

    async def account(self, account_id: int, after: int | None) -> AsyncIterator[Event | KeepAlive]:
        """Every job of the account: active ones (or the replay) first, then live; ends after max_stream_s.

        An opening with nothing in it (no active job, nothing after the cursor) is followed by one KEEP_ALIVE: the
        stream is open and has nothing to say yet. The REST edge waits for a stream's first message before it
        sends its status line (so that a refusal is a plain 401/429), and without it an idle account's
        `GET /v1/events` had no status line for PHONOS_SSE_KEEPALIVE_S (15 s): clients with a 5-10 s read
        timeout gave up. (A job's own stream opens with the job's state, or a resume's events, or the same
        KEEP_ALIVE: `job`.)"""
        async with self._hub.subscribe(account_id) as subscription:
            if after is None:
                rows = await self._db.read.fetch_all("active_jobs_with_last_event", {"account_id": account_id})
                opening = _just(*(StateEvent.current(row) for row in rows))
            else:
                opening = self._replay("job_events_of_account_after", after, account_id=account_id)
            stream = _Ordered()
            said_anything = False
            async with contextlib.aclosing(opening):
                async for state in opening:
                    yield state
                    stream.delivered(state)
                    said_anything = True
            if not said_anything:
                yield KEEP_ALIVE
            async for event in self._live(subscription, stream, account_id, None):
                if not isinstance(event, QueueMoved):  # never: an account's stream follows no queue
                    yield event

    async def _replay(self, query: str, after: int, **scope: object) -> AsyncGenerator[StateEvent, None]:
        """The events after `after`, TAIL_BATCH read at a time as the stream takes them. (Was: all of them read into
        one list before the first was sent: a resume from an early event of an account with 50,000 held ~250 MB and
        ~10 s of the event loop per stream, and one key may hold 2,000 streams.)"""
        while True:
            rows = await self._db.read.fetch_all(query, {**scope, "after": after, "limit": TAIL_BATCH})
            for row in rows:
                event = StateEvent.from_row(row)
                yield event
                after = event.event_id
            if len(rows) < TAIL_BATCH:
                return

    async def _live(self, subscription: Subscription, stream: _Ordered, account_id: int,
                    job_id: str | None) -> AsyncIterator[Event | QueueMoved]:
        for job in stream.running_jobs():  # a watcher joining mid-run sees the latest progress at once
            latest = self._hub.latest_progress(job)
            if latest is not None:
                for ready in stream.admit(latest):
                    yield ready
        deadline = time.monotonic() + self._max_stream_s
        while True:
            try:
                event = await subscription.next(max(0.0, deadline - time.monotonic()))
            except Lagged:
                query = "job_events_of_job_after" if job_id else "job_events_of_account_after"
                scope: dict[str, object] = {"account_id": account_id, **({"job_id": job_id} if job_id else {})}
                async with contextlib.aclosing(self._replay(query, stream.last_id, **scope)) as missed_events:
                    async for missed in missed_events:
                        for ready in stream.admit(missed):
                            yield ready
                continue
            if event is None:
                return  # the server closes the stream (shutdown or max_stream_s); the client resumes
            if isinstance(event, QueueMoved):
                yield event
                continue
            for ready in stream.admit(event):
                yield ready


async def _just(*events: StateEvent) -> AsyncGenerator[StateEvent, None]:
    """Events already in hand, as an opening the replay's way."""
    for event in events:
        yield event


class _Ordered:
    """Per stream: drops state events already delivered and holds progress until its job is running."""

    def __init__(self) -> None:
        self._last_by_job: dict[str, int] = {}
        self._status: dict[str, JobStatus] = {}
        self._held: dict[str, ProgressEvent] = {}
        self._progress_sent: dict[str, int] = {}  # per job: the seq of the last progress event sent
        self.last_id = 0

    def delivered(self, event: StateEvent) -> None:
        self._last_by_job[event.job_id] = event.event_id
        self._status[event.job_id] = event.status
        self.last_id = max(self.last_id, event.event_id)

    def running_jobs(self) -> list[str]:
        return [job for job, status in self._status.items() if status == JobStatus.RUNNING]

    def admit(self, event: Event) -> list[Event]:
        if isinstance(event, ProgressEvent):
            if event.seq <= self._progress_sent.get(event.job_id, 0):
                return []  # sent already, or older than one sent (queued while the stream opened)
            if self._status.get(event.job_id) == JobStatus.RUNNING:
                self._progress_sent[event.job_id] = event.seq
                return [event]
            self._held[event.job_id] = event  # wait for the running event of this job
            return []
        if event.event_id <= self._last_by_job.get(event.job_id, 0):
            return []  # already in the snapshot or the replay
        self.delivered(event)
        held = self._held.pop(event.job_id, None)
        if event.status == JobStatus.RUNNING and held is not None:
            self._progress_sent[event.job_id] = held.seq
            return [event, held]
        return [event]
