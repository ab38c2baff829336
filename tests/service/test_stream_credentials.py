"""An ended credential ends its open watch streams at once (jobservice/stream_guard.py), not at the guard's poll.

Was: a key revoked, or a dashboard session signed out, while a WatchJob or an SSE stream of it was open kept
receiving the account's job events until the guard's next round (PHONOS_WATCH_POLL_S, 5 s by default). Now the
revoke (sign-out, password change) ends its streams before it returns, and on a shared PostgreSQL every other job
service ends its own at the NOTIFY. Here the poll is 30 s, so a stream that ends within a second was ended by the
revoke, never by the poll. Every stream is read on its own thread, which notes when each event arrived.

The same holds for a stream whose key is revoked between its key check and its registration with the guard (made
certain by pausing it there), on this job service or another, and a stream learns its key's expiry as it opens.
A key given a new expiry (PATCH /v1/keys/{key_id}) is the same: its streams go by the new expiry at once, here and on
another job service. (Those tests count a day as a second, or a microsecond: a key's expiry is whole days.)
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Self, TypeVar

import grpc
import pytest
import requests

from jobservice import admin, key_policy
from jobservice.key_policy import KeyExpired
from jobservice.keys import hash_key
from jobservice.memory_inference import Slow
from jobservice.stream_guard import ENDED_SESSION, REVOKED_KEY
from phonos.v1 import phonos_pb2 as pb
from tests.conftest import store_env
from tests.support import ALL_STORES, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES
T = TypeVar("T")

PASSWORD = "a long enough password 1"
PROMPT_S = 1.0  # the bound: a revoke ends its streams well within it (the poll, 30 s here, never does)
# What each test measured (revoke started -> stream ended, seconds), printed at the end of the module (`-s`).
MEASURED: dict[str, float] = {}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, store: str,
            request: pytest.FixtureRequest) -> Iterator[InProcessService]:
    """A poll far beyond the bound, and a stream cap small enough to see an ended stream's subscription freed."""
    env = {**store_env(store, request), "PHONOS_WATCH_POLL_S": "30", "PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT": "3",
           "PHONOS_SSE_KEEPALIVE_S": "0.3"}  # an account stream with nothing to say yet opens at its first keep-alive
    running = InProcessService(tmp_path_factory.mktemp("streams"), env)
    yield running
    running.stop()
    for name, seconds in MEASURED.items():
        print(f"\n[{store}] {name}: {seconds * 1000:.0f} ms")


class Stream:
    """Events of one open stream as they arrive, each with its time.monotonic(); `end` is how it ended."""

    def __init__(self) -> None:
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.end: tuple[float, str, str] | None = None  # (when, status, message)
        self._thread = threading.Thread(target=self._read, daemon=True)

    def open(self) -> Self:
        """Read on its thread, without waiting for anything."""
        self._thread.start()
        return self

    def start(self) -> Self:
        self.open()
        wait_until(lambda: self.events or self.end, 30)  # opened: its first event is the job's state
        assert self.events, self.end
        return self

    def _read(self) -> None:
        raise NotImplementedError

    def ended_within(self, since: float, timeout_s: float = 10) -> float:
        """Wait for the end; seconds from `since` to it."""
        wait_until(lambda: self.end, timeout_s)
        assert self.end is not None
        return self.end[0] - since

    def states_after(self, since: float) -> list[str]:
        return [event["job"]["status"] for at, event in self.events if at >= since and event.get("type") == "state"]


class SseStream(Stream):
    def __init__(self, service: InProcessService, path: str, headers: dict[str, str],
                 cookies: str | None = None) -> None:
        super().__init__()
        self._connection = http.client.HTTPConnection("127.0.0.1", service.http_port, timeout=60)
        self._connection.request("GET", path, headers={**headers, **({"Cookie": cookies} if cookies else {})})
        self.response = self._connection.getresponse()

    def _read(self) -> None:
        name, data = "message", None
        while True:
            try:
                raw = self.response.readline()
            except (AttributeError, ValueError):  # http.client: the response closed under the read (its last chunk
                raw = b""  # read, or close()): 'NoneType' object has no attribute 'readline', a thread's warning
            if not raw:
                if self.end is None:
                    self.end = (time.monotonic(), "closed", "")
                return
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                data = json.loads(line.removeprefix("data: "))
            elif line == "" and data is not None:
                if name == "error":
                    self.end = (time.monotonic(), str(data["status"]), data["message"])
                else:
                    self.events.append((time.monotonic(), {**data, "type": name}))
                name, data = "message", None

    def close(self) -> None:
        self._connection.close()


class GrpcStream(Stream):
    def __init__(self, service: InProcessService, job_id: str, key: str) -> None:
        super().__init__()
        self._channel, stub = service.grpc_stub()
        self._call = stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=(("authorization", f"Bearer {key}"),),
                                   timeout=60)

    def _read(self) -> None:
        try:
            for response in self._call:
                event = response.event
                self.events.append((time.monotonic(), {"type": event.type, "job": {"status": event.job.status}}))
            self.end = (time.monotonic(), "OK", "")
        except grpc.RpcError as failure:
            self.end = (time.monotonic(), failure.code().name, failure.details() or "")
        finally:
            self._channel.close()


def running_job(service: InProcessService, key: str) -> str:
    """A job that stays running (the twin holds it) until cancelled."""
    service.settle()
    service.inference.script("esmfold", Slow(600))
    api = service.client(key)
    job_id = api.predict().json()["job_id"]
    wait_until(lambda: api.get(f"/v1/jobs/{job_id}").json()["status"] == "running", 30)
    return str(job_id)


@contextlib.contextmanager
def paused_before_registering(service: InProcessService, api_key: str) -> Iterator[tuple[threading.Event,
                                                                                          threading.Event]]:
    """A watch stream of `api_key` waits for `resume` after the servicer read its key and before it registers with
    the guard (`reached` says it got there): the rate-limit count between the two (the real one) waits. This is
    the interleaving a revoke's commit can meet on a loaded host, made certain."""
    limits: Any = service.running.service.rate_limits
    real = limits.check
    paused_key = hash_key(api_key)
    reached, resume = threading.Event(), threading.Event()

    async def check(key: str, limit: int) -> Any:
        state = await real(key, limit)
        if key == paused_key:
            reached.set()
            await asyncio.to_thread(resume.wait, 30)
        return state

    limits.check = check
    try:
        yield reached, resume
    finally:
        resume.set()
        del limits.check


def changed_while_opening(service: InProcessService, job_id: str, api_key: str,
                          change: Callable[[], T]) -> tuple[GrpcStream, T, float]:
    """A WatchJob stream of `api_key` that `change` (a revoke, a new expiry) lands on after the stream read its key
    and before it registered with the guard; what `change` returned, and when the stream went on (monotonic)."""
    with paused_before_registering(service, api_key) as (reached, resume):
        stream = GrpcStream(service, job_id, api_key).open()
        assert reached.wait(30)
        changed = change()
        resumed = time.monotonic()
        resume.set()
    return stream, changed, resumed


def signed_in(service: InProcessService, username: str) -> tuple[requests.Session, str, str]:
    """A browser signed in as `username` (PASSWORD): its session, CSRF token, and Cookie header."""
    browser = requests.Session()
    answer = browser.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": PASSWORD},
                          timeout=30)
    assert answer.status_code == 200, answer.text
    return browser, answer.json()["csrf_token"], "; ".join(f"{k}={v}" for k, v in browser.cookies.items())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_expiry(service: InProcessService, key_id: str) -> tuple[float, float]:
    """The key's expiry as stored (a KeyExpired's message says it), epoch and time.monotonic()."""
    expires_at = float(service.sql("SELECT expires_at FROM api_keys WHERE id = ?", key_id)[0][0])
    return expires_at, time.monotonic() + (expires_at - time.time())


@contextlib.contextmanager
def a_day_is(seconds: float) -> Iterator[None]:
    """A day of key expiry counted as `seconds` (a key's expiry is whole days), by the in-process service and the
    operator CLI run here (both compute it in jobservice.key_policy.expiry)."""
    real = key_policy.DAY_S
    key_policy.DAY_S = seconds
    try:
        yield
    finally:
        key_policy.DAY_S = real


def expire_in_a_day(service: InProcessService, api: Any, key_id: str, day_s: float) -> tuple[float, float]:
    """PATCH the key to expire in one day of `day_s` seconds: `key_expiry`."""
    with a_day_is(day_s):
        answer = api.patch(f"/v1/keys/{key_id}", json={"expires_in_days": 1})
    assert answer.status_code == 200, answer.text
    return key_expiry(service, key_id)


def test_a_revoked_key_ends_its_grpc_and_sse_streams_at_once_and_frees_them(service: InProcessService) -> None:
    keeper = service.new_key()
    api = service.client(keeper)
    doomed = api.post("/v1/keys", json={"name": "doomed"}).json()
    job_id = running_job(service, keeper)
    over_grpc = GrpcStream(service, job_id, doomed["api_key"]).start()
    over_sse = SseStream(service, f"/v1/jobs/{job_id}/events", bearer(doomed["api_key"])).start()
    other_key = SseStream(service, f"/v1/jobs/{job_id}/events", bearer(keeper)).start()  # the cap's 3 are held

    started = time.monotonic()
    assert api.post(f"/v1/keys/{doomed['key']['key_id']}/revoke").status_code == 200
    returned = time.monotonic()
    # A transition right after the revoke's answer: the revoked key's streams never see it, the other key's does.
    assert api.post(f"/v1/jobs/{job_id}/cancel").status_code == 200

    MEASURED["key revoked -> gRPC WatchJob ended"] = over_grpc.ended_within(started)
    MEASURED["key revoked -> SSE stream ended"] = over_sse.ended_within(started)
    assert MEASURED["key revoked -> gRPC WatchJob ended"] < PROMPT_S
    assert MEASURED["key revoked -> SSE stream ended"] < PROMPT_S
    assert over_grpc.end is not None and over_grpc.end[1:] == ("UNAUTHENTICATED", REVOKED_KEY)
    assert over_sse.end is not None and over_sse.end[1:] == ("401", REVOKED_KEY)
    assert over_grpc.states_after(returned) == [] and over_sse.states_after(returned) == []
    wait_until(lambda: other_key.states_after(returned) == ["cancelled"], 30)  # the account's other key goes on
    # The ended streams' subscriptions were freed: under the account's cap of 3, the two of them left held would
    # refuse the second of these (429).
    for _ in range(2):
        more = SseStream(service, "/v1/events", bearer(keeper))
        assert more.response.status == 200, more.response.read()
        more.close()
    over_sse.close()
    other_key.close()


def test_signing_out_ends_the_sessions_stream_at_once(service: InProcessService) -> None:
    name = f"streams{time.monotonic_ns()}"
    keeper = service.new_key(username=name)
    asyncio.run(admin.set_password(service.settings, username=name, password=PASSWORD))
    browser, csrf, cookies = signed_in(service, name)
    job_id = running_job(service, keeper)
    watching = SseStream(service, f"/v1/jobs/{job_id}/events", {}, cookies=cookies).start()
    keyed = SseStream(service, f"/v1/jobs/{job_id}/events", bearer(keeper)).start()

    started = time.monotonic()
    assert browser.post(f"{service.base_url}/auth/sign-out", headers={"X-CSRF-Token": csrf}, timeout=30).ok
    returned = time.monotonic()
    assert service.client(keeper).post(f"/v1/jobs/{job_id}/cancel").status_code == 200

    MEASURED["signed out -> SSE stream ended"] = watching.ended_within(started)
    assert MEASURED["signed out -> SSE stream ended"] < PROMPT_S
    assert watching.end is not None and watching.end[1:] == ("401", ENDED_SESSION)
    assert watching.states_after(returned) == []
    wait_until(lambda: keyed.states_after(returned) == ["cancelled"], 30)  # the account's key is not the session
    watching.close()
    keyed.close()


def test_a_password_change_ends_every_sessions_stream_at_once(service: InProcessService) -> None:
    """The signed-in person's own password change (POST /auth/password) ends the account's other sessions and
    replaces its own token: the streams of both end before it answers (the page opens its own again with the new
    cookie), not at the guard's poll (30 s here). A guard: this held already (jobservice/sessions.py)."""
    name = f"streams{time.monotonic_ns()}"
    keeper = service.new_key(username=name)
    asyncio.run(admin.set_password(service.settings, username=name, password=PASSWORD))
    changing, csrf, changing_cookies = signed_in(service, name)
    _, _, other_cookies = signed_in(service, name)
    job_id = running_job(service, keeper)
    try:
        own = SseStream(service, f"/v1/jobs/{job_id}/events", {}, cookies=changing_cookies).start()
        other = SseStream(service, f"/v1/jobs/{job_id}/events", {}, cookies=other_cookies).start()
        started = time.monotonic()
        changed = changing.post(f"{service.base_url}/auth/password", headers={"X-CSRF-Token": csrf}, timeout=30,
                                json={"current_password": PASSWORD, "new_password": PASSWORD + " changed"})
        assert changed.status_code == 200, changed.text
        MEASURED["password changed -> the other session's SSE stream ended"] = other.ended_within(started)
        MEASURED["password changed -> its own old token's SSE stream ended"] = own.ended_within(started)
        for stream in (own, other):
            assert stream.ended_within(started) < PROMPT_S
            assert stream.end is not None and stream.end[1:] == ("401", ENDED_SESSION)
            stream.close()
    finally:
        service.client(keeper).post(f"/v1/jobs/{job_id}/cancel")


def test_an_expiring_key_ends_its_stream_at_its_expiry_not_at_the_next_poll(service: InProcessService) -> None:
    """Once a round has read a held key's expiry, the next round is due at it. Was: the poll after it (30 s here)."""
    keeper = service.new_key()
    api = service.client(keeper)
    expiring = api.post("/v1/keys", json={"name": "expiring"}).json()
    job_id = running_job(service, keeper)
    watching = SseStream(service, f"/v1/jobs/{job_id}/events", bearer(expiring["api_key"])).start()
    expires_at = time.time() + 1.5  # a key's expiry is days away at least: set under the hood
    service.sql("UPDATE api_keys SET expires_at = ? WHERE id = ?", expires_at, expiring["key"]["key_id"])
    expires_mono = time.monotonic() + (expires_at - time.time())
    guard = service.running.service.stream_guard

    async def round_now() -> None:  # the round that would come within PHONOS_WATCH_POLL_S of the stream opening
        guard.wake()

    service.call(round_now())
    MEASURED["key expired -> SSE stream ended (after its expiry)"] = watching.ended_within(expires_mono)
    assert -0.05 < MEASURED["key expired -> SSE stream ended (after its expiry)"] < PROMPT_S
    assert watching.end is not None and watching.end[1:] == ("401", KeyExpired(expires_at).message)
    api.post(f"/v1/jobs/{job_id}/cancel")
    watching.close()


def test_a_revoke_on_one_job_service_ends_the_stream_on_another(service: InProcessService, store: str) -> None:
    """Two job services on one PostgreSQL: the revoke's NOTIFY wakes the other's guard (its poll is 30 s)."""
    if store == "sqlite":
        pytest.skip("a SQLite store is never shared by two job services")
    keeper = service.new_key()
    api = service.client(keeper)
    doomed = api.post("/v1/keys", json={"name": "doomed"}).json()
    job_id = running_job(service, keeper)  # on A's twin, before B's dispatcher could claim it
    other = InProcessService(service.settings.data_dir, service.env)  # the shared results directory too
    try:
        on_b = SseStream(other, f"/v1/jobs/{job_id}/events", bearer(doomed["api_key"])).start()
        started = time.monotonic()
        assert api.post(f"/v1/keys/{doomed['key']['key_id']}/revoke").status_code == 200  # on A
        MEASURED["key revoked on A -> SSE stream on B ended"] = on_b.ended_within(started)
        assert MEASURED["key revoked on A -> SSE stream on B ended"] < PROMPT_S
        assert on_b.end is not None and on_b.end[1:] == ("401", REVOKED_KEY)

        # The operator CLI writes the database itself: its NOTIFY reaches the job services as well.
        second = api.post("/v1/keys", json={"name": "second"}).json()
        on_b_again = SseStream(other, f"/v1/jobs/{job_id}/events", bearer(second["api_key"])).start()
        started = time.monotonic()
        asyncio.run(admin.revoke_key(service.settings, key_id=second["key"]["key_id"], confirm_last_key=False))
        MEASURED["key revoked by the operator CLI -> SSE stream on B ended"] = on_b_again.ended_within(started)
        assert MEASURED["key revoked by the operator CLI -> SSE stream on B ended"] < PROMPT_S
        assert on_b_again.end is not None and on_b_again.end[1:] == ("401", REVOKED_KEY)

        # The revoke's NOTIFY wakes B's guard while B's stream of that key has been checked but not registered, so
        # that round cannot see it: the stream asks for one more round as it registers. Was: it ran until B's next
        # poll (30 s here).
        third = api.post("/v1/keys", json={"name": "third"}).json()
        guard = other.running.service.stream_guard
        with paused_before_registering(other, third["api_key"]) as (reached, resume):
            opening = GrpcStream(other, job_id, third["api_key"]).open()
            assert reached.wait(30)
            rounds = guard.rounds
            assert api.post(f"/v1/keys/{third['key']['key_id']}/revoke").status_code == 200  # on A
            wait_until(lambda: guard.rounds > rounds, 30)  # B heard the NOTIFY and checked (nothing held yet)
            started = time.monotonic()
            resume.set()
            MEASURED["key revoked on A while its stream opened on B -> ended"] = opening.ended_within(started)
        assert MEASURED["key revoked on A while its stream opened on B -> ended"] < PROMPT_S
        assert opening.end is not None and opening.end[1:] == ("UNAUTHENTICATED", REVOKED_KEY)

        # A key given a nearer expiry on A: the update's NOTIFY has B's guard read it, and B's stream ends at it.
        # Was: at B's next poll (30 s here).
        fourth = api.post("/v1/keys", json={"name": "fourth"}).json()
        on_b_expiring = SseStream(other, f"/v1/jobs/{job_id}/events", bearer(fourth["api_key"])).start()
        expires_at, expires_mono = expire_in_a_day(service, api, fourth["key"]["key_id"], 1.0)  # on A
        MEASURED["expiry shortened on A -> SSE stream on B ended (after it)"] = on_b_expiring.ended_within(expires_mono)
        assert -0.05 < MEASURED["expiry shortened on A -> SSE stream on B ended (after it)"] < PROMPT_S
        assert on_b_expiring.end is not None and on_b_expiring.end[1:] == ("401", KeyExpired(expires_at).message)

        # The operator CLI's `phonos keys update --expires-in-days` writes the database itself: its NOTIFY too.
        fifth = api.post("/v1/keys", json={"name": "fifth"}).json()
        on_b_by_cli = SseStream(other, f"/v1/jobs/{job_id}/events", bearer(fifth["api_key"])).start()
        with a_day_is(1.0):
            asyncio.run(admin.update_key(service.settings, key_id=fifth["key"]["key_id"], name=None, rate_limit=None,
                                         expires_in_days=1))
        expires_at, expires_mono = key_expiry(service, fifth["key"]["key_id"])
        MEASURED["expiry shortened by the operator CLI -> SSE stream on B ended (after it)"] = \
            on_b_by_cli.ended_within(expires_mono)
        assert -0.05 < MEASURED["expiry shortened by the operator CLI -> SSE stream on B ended (after it)"] < PROMPT_S
        assert on_b_by_cli.end is not None and on_b_by_cli.end[1:] == ("401", KeyExpired(expires_at).message)
        api.post(f"/v1/jobs/{job_id}/cancel")
        on_b.close()
        on_b_again.close()
        on_b_expiring.close()
        on_b_by_cli.close()
    finally:
        other.stop()


def test_a_key_revoked_while_its_stream_opens_ends_the_stream_at_once(service: InProcessService) -> None:
    """The revoke commits after the stream's key check and before the stream registers with the guard, so the
    revoke's own ending found nothing to end. Now the stream ends as it registers; was: at the guard's next round
    (30 s here), with the job's events sent meanwhile."""
    keeper = service.new_key()
    api = service.client(keeper)
    doomed = api.post("/v1/keys", json={"name": "doomed"}).json()
    job_id = running_job(service, keeper)
    try:
        stream, revoked, started = changed_while_opening(
            service, job_id, doomed["api_key"], lambda: api.post(f"/v1/keys/{doomed['key']['key_id']}/revoke"))
        assert revoked.status_code == 200
        MEASURED["key revoked while its stream opened -> gRPC WatchJob ended"] = stream.ended_within(started)
        assert MEASURED["key revoked while its stream opened -> gRPC WatchJob ended"] < PROMPT_S
        assert stream.end is not None and stream.end[1:] == ("UNAUTHENTICATED", REVOKED_KEY)
        assert stream.events == []
    finally:
        api.post(f"/v1/jobs/{job_id}/cancel")  # the next test's twin is free whatever this one found


def test_a_stream_opened_shortly_before_its_keys_expiry_ends_at_it(service: InProcessService) -> None:
    """A stream learns its key's expiry from its own authentication. Was: from the guard's first round after it
    opened (the poll, 30 s here), so a key expiring sooner kept its stream up to a period past its expiry."""
    keeper = service.new_key()
    api = service.client(keeper)
    expiring = api.post("/v1/keys", json={"name": "expiring"}).json()
    job_id = running_job(service, keeper)
    try:
        expires_at = time.time() + 1.5  # a key's expiry is days away at least: set under the hood
        service.sql("UPDATE api_keys SET expires_at = ? WHERE id = ?", expires_at, expiring["key"]["key_id"])
        expires_mono = time.monotonic() + (expires_at - time.time())
        watching = SseStream(service, f"/v1/jobs/{job_id}/events", bearer(expiring["api_key"])).start()
        MEASURED["key expired -> SSE stream opened before it ended (after its expiry)"] = \
            watching.ended_within(expires_mono)
        assert -0.05 < MEASURED["key expired -> SSE stream opened before it ended (after its expiry)"] < PROMPT_S
        assert watching.end is not None and watching.end[1:] == ("401", KeyExpired(expires_at).message)
        watching.close()
    finally:
        api.post(f"/v1/jobs/{job_id}/cancel")



def test_a_shortened_expiry_reaches_the_keys_open_streams_at_once(service: InProcessService) -> None:
    """PATCH /v1/keys/{key_id} with an expiry already past ends the key's streams before it returns, as a revoke
    does; one a moment away ends them at it. Was: they kept the expiry they opened with (none here) until the
    guard's next round, 30 s here, sending the job's events meanwhile."""
    keeper = service.new_key()
    api = service.client(keeper)
    past = api.post("/v1/keys", json={"name": "past"}).json()
    soon = api.post("/v1/keys", json={"name": "soon"}).json()
    job_id = running_job(service, keeper)
    try:
        over_sse = SseStream(service, f"/v1/jobs/{job_id}/events", bearer(past["api_key"])).start()
        over_grpc = GrpcStream(service, job_id, soon["api_key"]).start()
        other_key = SseStream(service, f"/v1/jobs/{job_id}/events", bearer(keeper)).start()

        expires_at, expires_mono = expire_in_a_day(service, api, soon["key"]["key_id"], 1.0)
        MEASURED["expiry shortened to 1 s -> gRPC WatchJob ended (after it)"] = over_grpc.ended_within(expires_mono)
        assert -0.05 < MEASURED["expiry shortened to 1 s -> gRPC WatchJob ended (after it)"] < PROMPT_S
        assert over_grpc.end is not None and over_grpc.end[1:] == ("UNAUTHENTICATED", KeyExpired(expires_at).message)

        started = time.monotonic()
        past_at, _ = expire_in_a_day(service, api, past["key"]["key_id"], 1e-6)  # over before the update's answer
        returned = time.monotonic()
        # A transition right after the update's answer: the key's stream never sees it, the other key's does.
        assert api.post(f"/v1/jobs/{job_id}/cancel").status_code == 200
        MEASURED["expiry set to a time past -> SSE stream ended"] = over_sse.ended_within(started)
        assert MEASURED["expiry set to a time past -> SSE stream ended"] < PROMPT_S
        assert over_sse.end is not None
        assert over_sse.end[1:] == ("401", KeyExpired(past_at).message)
        assert over_sse.states_after(returned) == []
        wait_until(lambda: other_key.states_after(returned) == ["cancelled"], 30)  # the account's other key goes on
        over_sse.close()
        other_key.close()
    finally:
        api.post(f"/v1/jobs/{job_id}/cancel")


def test_an_expiry_changed_while_a_stream_opens_holds_for_it(service: InProcessService) -> None:
    """The update commits after the stream read its key (no expiry) and before it registers with the guard: the
    stream goes by the new expiry as it registers. Was: by the one it read, until the next round (30 s here)."""
    keeper = service.new_key()
    api = service.client(keeper)
    changing = api.post("/v1/keys", json={"name": "changing"}).json()
    job_id = running_job(service, keeper)
    try:
        stream, (expires_at, expires_mono), _ = changed_while_opening(
            service, job_id, changing["api_key"],
            lambda: expire_in_a_day(service, api, changing["key"]["key_id"], 1.0))
        MEASURED["expiry shortened while its stream opened -> ended (after it)"] = stream.ended_within(expires_mono)
        assert -0.05 < MEASURED["expiry shortened while its stream opened -> ended (after it)"] < PROMPT_S
        assert stream.end is not None and stream.end[1:] == ("UNAUTHENTICATED", KeyExpired(expires_at).message)
    finally:
        api.post(f"/v1/jobs/{job_id}/cancel")
