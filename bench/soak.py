"""Soak: does a job service and its gateways grow (memory, file descriptors, threads, asyncio tasks) under weeks of
mixed use? README, "Long runs".

    python bench/soak.py [--rounds 12] [--warmup 3] [--jobs 24] [--idle S] [--postgres]
                         [--tracemalloc] [--types] [--follow TYPE]

Starts a job service with its in-process REST gateway on the in-memory inference twin (no Triton; the models
esmfold, alphafold2 and diffdock; SQLite, or with --postgres a PostgreSQL of its own) and a separate gateway
process (`python -m gateway`) in front of its gRPC port, then runs rounds of one mixed load through real sockets,
half of the REST calls through each gateway: jobs of every model submitted, polled and downloaded, a batch,
idempotent retries, cancels of running jobs, deletes, SSE streams (one job's and the account's) dropped by the
client mid-stream, gRPC WatchJob/WatchJobs streams cancelled, downloads dropped half-read, connections closed
mid-request (half a request line, headers without their body, a stream request), webhook deliveries to receivers
that answer 200, 500, slowly (past the timeout) or refuse the connection, dashboard sign-ins (right and wrong
passwords) and sign-outs, calls with unknown keys (401), a key past its rate limit (429), new keys, share links
created, opened and revoked, and usage, activity and list reads. `--idle S` leaves the service idle S seconds
after each round (what its polls and sweeps do with nothing to do is measured too).

After each round, once its jobs have ended and the webhook deliveries have stopped, it samples each process: RSS
and its anonymous part (RssAnon: heap, not mapped files) from /proc/PID/status, open descriptors from
/proc/PID/fd, threads from /proc/PID/task, and asyncio tasks alive from a sampler thread that this bench adds to its
own copy of each process (the service and gateway code are imported and run unchanged; no route is added). Then it
prints the growth per 1,000 jobs and per 1,000 requests after the warm-up rounds (least-squares slope over the
measured rounds). The twin's record of its calls (`calls`, which tests read) is emptied before each sample: it is
the twin's, not the service's.

`--tracemalloc` (slow: every allocation after the warm-up traced) makes each sample also print the 8 allocation
sites whose live memory grew most since the previous sample; `--types` the object types whose count grew most
(gc.get_objects); `--follow Future` what keeps alive each object of that type made since the previous sample. They
are for finding a leak the figures show, not for the figures themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import reprlib
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "triton_models"), str(REPO / "clients" / "python")]

MODELS = "esmfold,alphafold2,diffdock"
SEQ = "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQDIAYLRSLGYNIVATPRGYVLAGG"
LIGAND = "CC(=O)Oc1ccccc1C(=O)O"
RECEPTOR = (REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb").read_text()
PASSWORD = "correct horse battery"
SERVICE_ENV = {
    "PHONOS_MODELS": MODELS,
    "PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true",
    "PHONOS_USAGE_FLUSH_INTERVAL_S": "0.1",
    # Deliveries that fail are retried soon and given up after a few tries: each round's end the same state.
    "PHONOS_WEBHOOK_TIMEOUT_S": "1",
    "PHONOS_WEBHOOK_MAX_ATTEMPTS": "3",
    "PHONOS_WEBHOOK_BACKOFF_BASE_S": "0.2",
    # A round's unknown keys, several rounds a minute: over the default 30 the bench's own address is refused.
    "PHONOS_AUTH_FAILURES_PER_MINUTE": "600",
}
SAMPLE_PREFIX = "SOAK-SAMPLE "


# -- the processes under test, each with a sampler thread ------------------------------------------------------------

def where(traceback: tracemalloc.Traceback) -> str:
    """An allocation's line, and the innermost line of this repository's own code that led to it."""
    frames = list(traceback)  # oldest first
    site = f"{frames[-1].filename}:{frames[-1].lineno}"
    ours = [f for f in frames if f.filename.startswith(str(REPO)) and "/.venv/" not in f.filename
            and not f.filename.endswith("soak.py")]
    return site + (f" <- {ours[-1].filename.removeprefix(str(REPO) + '/')}:{ours[-1].lineno}" if ours else "")


def holders(thing: object, ignore: list[object], depth: int = 5) -> list[str]:
    """The chain of objects that keep `thing` alive (at each step the first referrer that is not a frame nor one of
    `ignore`, the sampler's own lists), as type names with a short repr."""
    chain: list[str] = []
    seen = {id(x) for x in ignore}
    for _ in range(depth):
        seen.add(id(thing))
        found = gc.get_referrers(thing)
        seen.add(id(found))  # the lists made here refer to it too
        referrers = [r for r in found if not isinstance(r, types.FrameType) and id(r) not in seen]
        seen.add(id(referrers))
        if not referrers:
            break
        thing = referrers[0]
        chain.append(f"{type(thing).__qualname__}:{reprlib.repr(thing)[:100]}")
    return chain


class Sampler:
    """Answers `sample` lines on stdin with one JSON line on stderr: asyncio tasks alive; once `trace` was sent, the
    allocation sites that grew since the previous sample; with SOAK_TYPES the object types that grew, with
    SOAK_FOLLOW what holds the new objects of one type."""

    def __init__(self, loop: Callable[[], asyncio.AbstractEventLoop | None]) -> None:
        self._loop = loop
        self._snapshot: tracemalloc.Snapshot | None = None
        self._types: collections.Counter[str] = collections.Counter()
        self._followed: set[int] = set()

    def answer(self) -> dict[str, Any]:
        loop = self._loop()
        tasks = -1
        for _ in range(5):  # the loop's thread may add a task while this one counts
            with contextlib.suppress(RuntimeError):
                tasks = len(asyncio.all_tasks(loop)) if loop is not None else -1
                break
        sample: dict[str, Any] = {"tasks": tasks}
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
            if self._snapshot is not None:
                sample["grew"] = [f"{stat.size_diff / 1024:+.1f} KiB {stat.count_diff:+d} blocks " + where(stat.traceback)
                                  for stat in snapshot.compare_to(self._snapshot, "traceback")[:8]
                                  if stat.size_diff > 0]
            self._snapshot = snapshot
        if os.environ.get("SOAK_TYPES"):
            gc.collect()
            counts = collections.Counter(type(o).__qualname__ for o in gc.get_objects())
            if self._types:
                grew = sorted(((n - self._types[t], t) for t, n in counts.items() if n > self._types[t]), reverse=True)
                sample["types"] = [f"+{n} {t} ({counts[t]})" for n, t in grew[:10]]
            self._types = counts
        followed = os.environ.get("SOAK_FOLLOW")  # a type name: what holds the ones new since the last sample
        if followed:
            gc.collect()
            now = {id(o): o for o in gc.get_objects() if type(o).__qualname__ == followed}
            fresh = [o for i, o in now.items() if i not in self._followed]
            first = fresh[:4]
            sample["follow"] = [f"{reprlib.repr(o)} <- " + " <- ".join(holders(o, [now, fresh, first])) for o in first]
            self._followed = set(now)
        return sample

    def serve(self, commands: Callable[[list[str]], None] | None = None) -> None:
        for line in sys.stdin:
            words = line.split()
            if words == ["sample"]:
                sys.stderr.write(SAMPLE_PREFIX + json.dumps(self.answer()) + "\n")
                sys.stderr.flush()
            elif words == ["trace"]:  # from now on: what the warm-up allocated is not traced (nor slowed)
                tracemalloc.start(12)
            elif words and commands is not None:
                commands(words)


def child_service(data_dir: Path) -> None:
    from jobservice.memory_inference import Slow
    from tests.support import InProcessService

    service = InProcessService(data_dir, {k: v for k, v in os.environ.items() if k.startswith("PHONOS_")})
    print(json.dumps({"event": "ready", "http_port": service.http_port, "grpc_port": service.grpc_port}), flush=True)

    def commands(words: list[str]) -> None:
        if words[0] == "forget":  # the twin's record of every call (tests read it), not the service's memory
            service.inference.calls.clear()
            service.inference.cancelled.clear()
        if words[0] == "slow":  # slow MODEL SECONDS COUNT: the model's next COUNT calls compute that long
            service.inference.script(words[1], *[Slow(float(words[2]))] * int(words[3]))

    Sampler(lambda: service._loop).serve(commands)
    service.stop()


def child_gateway(target: str) -> None:
    from gateway import __main__ as gateway_main

    loops: list[asyncio.AbstractEventLoop] = []
    real_new = asyncio.events.new_event_loop

    def remembered() -> asyncio.AbstractEventLoop:  # asyncio.run's loop, for the sampler to count its tasks
        loop = real_new()
        loops.append(loop)
        return loop

    asyncio.events.new_event_loop = remembered  # type: ignore[assignment]  # asyncio.Runner calls this one
    sampler = Sampler(lambda: loops[-1] if loops else None)

    def serve_then_stop() -> None:  # the bench gone (stdin closed): stop as on SIGTERM, never left behind
        sampler.serve()
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=serve_then_stop, daemon=True).start()
    sys.exit(gateway_main.main(["--target", target, "--port", "0", "--metrics-port", "0"]))


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[str]
    ready: dict[str, Any]
    samples: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)
    log: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=40))
    _arrived: threading.Condition = field(default_factory=threading.Condition)

    @classmethod
    def start(cls, name: str, args: list[str], env: dict[str, str]) -> Child:
        popen = subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, cwd=REPO, env=env, start_new_session=True)
        ready: dict[str, Any] = {}
        assert popen.stdout is not None
        for line in popen.stdout:
            if line.startswith("{") and json.loads(line).get("event") == "ready":
                ready = json.loads(line)
                break
        if not ready:
            popen.kill()
            raise RuntimeError(f"{name} did not start: {popen.stderr.read() if popen.stderr else ''}")
        child = cls(name, popen, ready)
        threading.Thread(target=child._drain, daemon=True).start()
        threading.Thread(target=lambda: [None for _ in popen.stdout or ()], daemon=True).start()
        return child

    def _drain(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            if line.startswith(SAMPLE_PREFIX):
                with self._arrived:
                    self.samples.append(json.loads(line[len(SAMPLE_PREFIX):]))
                    self._arrived.notify_all()
            else:
                self.log.append(line.rstrip())

    def send(self, line: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(line + "\n")
        self.popen.stdin.flush()

    def sample(self) -> dict[str, Any]:
        pid = self.popen.pid
        status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        figures: dict[str, Any] = {
            "rss_mb": int(status["VmRSS"].split()[0]) / 1024,
            "anon_mb": int(status["RssAnon"].split()[0]) / 1024,
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": len(os.listdir(f"/proc/{pid}/task")),
        }
        with self._arrived:
            self.samples.clear()
            self.send("sample")
            if not self._arrived.wait_for(lambda: bool(self.samples), timeout=600):
                raise RuntimeError(f"{self.name} gave no sample; its log:\n" + "\n".join(self.log))
            figures.update(self.samples.popleft())
        return figures

    def stop(self) -> None:
        for sig, wait_s in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):  # a graceful stop, else the end
            if self.popen.poll() is not None:
                return
            os.killpg(self.popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=wait_s)


# -- the load -------------------------------------------------------------------------------------------------------

class Receivers:
    """Webhook receivers on loopback: one answers 200, one 500, one past the sender's timeout; and a port that
    refuses connections."""

    def __init__(self) -> None:
        from aiohttp import web

        self._web = web
        self.loop = asyncio.new_event_loop()
        self.ports: dict[str, int] = {}
        self.deliveries = 0
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._started.wait(10)
        with socket.socket() as closed:  # bound then closed: nobody listens there
            closed.bind(("127.0.0.1", 0))
            self.ports["refused"] = closed.getsockname()[1]

    def url(self, kind: str) -> str:
        return f"http://127.0.0.1:{self.ports[kind]}/hook"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.set_exception_handler(lambda loop, context: None)  # its slow answers cut off at the bench's exit
        web = self._web

        def handler(status: int, delay_s: float) -> Any:
            async def handle(request: Any) -> Any:
                await request.read()
                self.deliveries += 1
                await asyncio.sleep(delay_s)
                return web.Response(status=status, text="ok")
            return handle

        async def start() -> None:
            for kind, status, delay in (("ok", 200, 0.0), ("error", 500, 0.0), ("slow", 200, 3.0)):
                app = web.Application()
                app.router.add_post("/hook", handler(status, delay))
                runner = web.AppRunner(app)
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                self.ports[kind] = runner.addresses[0][1]

        self.loop.run_until_complete(start())
        self._started.set()
        self.loop.run_forever()


@dataclass
class Counts:
    jobs: int = 0
    requests: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)


class Load:
    def __init__(self, service: Child, gateway: Child, data_dir: Path, receivers: Receivers) -> None:
        import requests

        from jobservice import admin
        from phonos_config.service import ServiceSettings
        from tests.support import wait_until

        self.requests = requests
        self.wait_until = wait_until
        self.bases = [f"http://127.0.0.1:{service.ready['http_port']}", f"http://127.0.0.1:{gateway.ready['http_port']}"]
        self.grpc_target = f"127.0.0.1:{service.ready['grpc_port']}"
        self.service = service
        self.settings = ServiceSettings.from_env({**SERVICE_ENV}).with_overrides(data_dir=data_dir)
        self.admin = admin
        self.counts = Counts()
        self._turn = 0
        self.user = self.new_key("soak", credits=10**9, rate_limit=10**6)
        asyncio.run(admin.set_password(self.settings, username="soak", password=PASSWORD))
        self.limited = self.new_key("limited", credits=10, rate_limit=5)
        for kind in ("ok", "error", "refused"):
            self.call("POST", "/v1/webhooks", json={"url": receivers.url(kind)}, expect=(200,))
        # The slow receiver hears only failures (none here) and each round's test delivery: every job's events
        # there, 2 at a time past a 1 s timeout, made a round wait a minute for its deliveries.
        self.slow_hook = self.call("POST", "/v1/webhooks", json={"url": receivers.url("slow"),
                                                                 "events": ["job.failed"]}).json()["webhook"]["webhook_id"]

    def new_key(self, username: str, credits: int = 1000, rate_limit: int = 1000) -> str:
        key = asyncio.run(self.admin.create_key(self.settings, username=username, email=f"{username}@example.org",
                                                credits=credits, rate_limit=rate_limit))
        return key.api_key

    def base(self) -> str:
        self._turn += 1
        return self.bases[self._turn % 2]

    def call(self, method: str, path: str, *, key: str | None = "", expect: tuple[int, ...] = (200,),
             base: str | None = None, session: Any = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}))
        key = self.user if key == "" else key
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        answer = (session or self.requests).request(method, (base or self.base()) + path, headers=headers,
                                                    timeout=60, **kwargs)
        self.counts.requests += 1
        self.counts.statuses[answer.status_code] += 1
        if answer.status_code not in expect:
            raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer

    def submit(self, body: dict[str, Any], **kwargs: Any) -> str:
        self.counts.jobs += 1
        return str(self.call("POST", "/v1/predict", json=body, **kwargs).json()["job_id"])

    def wait(self, job_id: str, statuses: tuple[str, ...] = ("completed", "failed", "cancelled")) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job = self.call("GET", f"/v1/jobs/{job_id}").json()
            return job if job["status"] in statuses else None
        return self.wait_until(done, 120, 0.05)  # type: ignore[no-any-return]

    def round(self, jobs: int) -> None:
        bodies: list[dict[str, Any]] = [{"model": "esmfold", "sequence": SEQ},
                  {"model": "alphafold2", "sequence": SEQ},
                  {"model": "diffdock", "sequence": LIGAND, "params": {"protein_pdb": RECEPTOR}}]
        # Cancels first, on running jobs (the twin's next two esmfold calls compute for a minute).
        self.service.send("slow esmfold 60 2")
        slow = [self.submit({"model": "esmfold", "sequence": SEQ}) for _ in range(2)]
        for job_id in slow:
            self.wait(job_id, ("running",))
            self.watch_grpc(job_id)
        # The account's streams while its slow jobs run: each starts with their state (an account with no job
        # pending or running sends only keep-alives).
        self.sse("/v1/events")
        self.watch_grpc(None)
        for job_id in slow:
            self.call("POST", f"/v1/jobs/{job_id}/cancel")
        ids: list[str] = []
        for i in range(jobs):
            body = bodies[i % len(bodies)]
            if i % 4 == 0:  # an idempotent retry: the same key twice, one job
                key = str(uuid.uuid4())
                first = self.submit(body, headers={"Idempotency-Key": key})
                again = self.call("POST", "/v1/predict", json=body, headers={"Idempotency-Key": key}).json()
                assert again["job_id"] == first, (again, first)
                ids.append(first)
            else:
                ids.append(self.submit(body))
        batch = self.call("POST", "/v1/batch", json={"jobs": [{"model": "esmfold", "sequence": SEQ}] * 4}).json()
        self.counts.jobs += 4
        ids += [item["job_id"] for item in batch["results"]]
        self.sse(f"/v1/jobs/{ids[0]}/events")
        for job_id in ids:
            self.wait(job_id)
        for job_id in slow:
            self.wait(job_id)
        for i, job_id in enumerate(ids):
            if i % 3 == 0:
                self.call("GET", f"/v1/jobs/{job_id}/download")
        self.dropped_download(ids[0])
        self.disconnects(ids[0])
        self.share(ids[0])
        self.sign_in_and_out()
        for _ in range(3):  # unknown keys: 401 (under the failed-auth throttle's 30 a minute)
            self.call("GET", "/v1/jobs", key="pk_" + uuid.uuid4().hex, expect=(401,))
        for _ in range(8):  # a key past its rate limit of 5 a minute
            self.call("GET", "/v1/account", key=self.limited, expect=(200, 429))
        self.call("GET", "/v1/account", key=self.new_key(f"u{uuid.uuid4().hex[:12]}"))  # a new key each round
        for path in ("/v1/usage", "/v1/jobs", "/v1/account", "/v1/account/activity", "/v1/account/credits",
                     "/v1/models", "/v1/webhooks", "/v1/health"):
            self.call("GET", path)
        self.call("POST", f"/v1/webhooks/{self.slow_hook}/test", expect=(200, 502, 504))
        hook = self.call("POST", "/v1/webhooks", json={"url": "http://127.0.0.1:9/hook"}).json()["webhook"]
        self.call("DELETE", f"/v1/webhooks/{hook['webhook_id']}")
        for i, job_id in enumerate(ids):
            if i % 2 == 0:
                self.call("DELETE", f"/v1/jobs/{job_id}")

    def sse(self, path: str) -> None:
        """An event stream opened, its first event read, then the connection dropped by the client."""
        with self.call("GET", path, stream=True, headers={"Accept": "text/event-stream"}) as answer:
            for line in answer.iter_lines():
                if line.startswith(b"data:"):
                    break

    def watch_grpc(self, job_id: str | None) -> None:
        import grpc

        from phonos.v1 import phonos_pb2 as pb
        from phonos.v1 import phonos_pb2_grpc

        with grpc.insecure_channel(self.grpc_target) as channel:
            stub = phonos_pb2_grpc.PhonosServiceStub(channel)
            metadata = [("authorization", f"Bearer {self.user}")]
            stream = (stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=metadata, timeout=60)
                      if job_id is not None else stub.WatchJobs(pb.WatchJobsRequest(), metadata=metadata, timeout=60))
            next(stream)
            stream.cancel()
        self.counts.requests += 1

    def dropped_download(self, job_id: str) -> None:
        """A download whose client reads a few bytes and closes the connection."""
        with self.call("GET", f"/v1/jobs/{job_id}/download", stream=True) as answer:
            answer.raw.read(16)

    def disconnects(self, job_id: str) -> None:
        """Clients that go away mid-request on each gateway: half a request line, a request's headers without its
        body, and a stream request closed before its answer is read."""
        partial_body = (f"POST /v1/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.user}\r\n"
                        "Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"model\":")
        stream = (f"GET /v1/jobs/{job_id}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {self.user}\r\n"
                  "Accept: text/event-stream\r\n\r\n")
        for base in self.bases:
            port = int(base.rsplit(":", 1)[1])
            for data in ("GET /v1/jo", partial_body, stream):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(data.encode())
                self.counts.requests += 1

    def share(self, job_id: str) -> None:
        link = self.call("POST", f"/v1/jobs/{job_id}/shares", json={}).json()
        self.call("GET", link["url"] + "/job", key=None)
        self.call("GET", link["url"] + "/download", key=None)
        self.call("DELETE", f"/v1/jobs/{job_id}/shares/{link['share']['share_id']}")
        self.call("GET", link["url"] + "/job", key=None, expect=(404,))

    def sign_in_and_out(self) -> None:
        for base in self.bases:
            browser = self.requests.Session()
            browser.headers["Origin"] = base
            if base == self.bases[0]:  # one wrong password a round: under the sign-in throttle's limits
                self.call("POST", "/auth/sign-in", key=None, base=base, session=browser,
                          json={"username": f"nobody{uuid.uuid4().hex[:8]}", "password": "guess"}, expect=(401,))
            signed_in = self.call("POST", "/auth/sign-in", key=None, base=base, session=browser,
                                  json={"username": "soak", "password": PASSWORD})
            csrf = signed_in.json()["csrf_token"]
            self.call("GET", "/auth/session", key=None, base=base, session=browser)
            self.call("GET", "/v1/jobs", key=None, base=base, session=browser)
            self.call("POST", "/auth/sign-out", key=None, base=base, session=browser, json={},
                      headers={"X-CSRF-Token": csrf})
            browser.close()


# -- figures ---------------------------------------------------------------------------------------------------------

def slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


@contextlib.contextmanager
def processes(data_dir: Path, types_on: bool, follow: str) -> Iterator[tuple[Child, Child]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    env.update(SERVICE_ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "triton_models"), str(REPO / "clients" / "python")])
    if types_on:
        env["SOAK_TYPES"] = "1"
    if follow:
        env["SOAK_FOLLOW"] = follow
    service = Child.start("service", ["child-service", str(data_dir)], env)
    try:
        gateway = Child.start("gateway", ["child-gateway", f"127.0.0.1:{service.ready['grpc_port']}"], env)
        try:
            yield service, gateway
        finally:
            gateway.stop()
    finally:
        service.stop()


def settle(load: Load, receivers: Receivers, idle_s: float) -> None:
    """Every job of the round has ended (the round waited for each); wait until the webhook deliveries have stopped
    (retries 0.2 s apart, a 1 s timeout, 3 tries), then `idle_s` more with nothing to do."""
    def quiet() -> bool:
        before = receivers.deliveries
        time.sleep(1.5)
        return receivers.deliveries == before
    load.wait_until(quiet, 120, 0)
    time.sleep(idle_s)  # what an idle service does (its polls, sweeps) is part of what is measured


FIGURES = ("rss_mb", "anon_mb", "fds", "threads", "tasks")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3, help="rounds left out of the growth figures")
    parser.add_argument("--jobs", type=int, default=24, help="single jobs a round (plus 2 cancelled, 4 batched)")
    parser.add_argument("--idle", type=float, default=0.0, metavar="S", help="idle seconds after each round")
    parser.add_argument("--postgres", action="store_true", help="the store on a PostgreSQL of its own (tests/postgres.py)")
    parser.add_argument("--tracemalloc", action="store_true")
    parser.add_argument("--types", action="store_true")
    parser.add_argument("--follow", default="", metavar="TYPE", help="show what holds each new object of this type")
    args = parser.parse_args(argv)
    assert args.rounds > args.warmup + 1, "need at least two rounds after the warm-up"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `timeout`, kill: the children are stopped too

    receivers = Receivers()
    with contextlib.ExitStack() as stack:
        if args.postgres:
            from tests.postgres import PostgresServer

            SERVICE_ENV["PHONOS_DATABASE_URL"] = stack.enter_context(PostgresServer.start()).new_store_url("soak")
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-"))
        service, gateway = stack.enter_context(processes(Path(tmp), args.types, args.follow))
        load = Load(service, gateway, Path(tmp), receivers)
        rows: list[tuple[int, int, dict[str, dict[str, Any]]]] = []
        started = time.monotonic()
        for number in range(1, args.rounds + 1):
            if args.tracemalloc and number == args.warmup + 1:
                for child in (service, gateway):
                    child.send("trace")
            load.round(args.jobs)
            settle(load, receivers, args.idle)
            service.send("forget")
            figures = {child.name: child.sample() for child in (service, gateway)}
            rows.append((load.counts.jobs, load.counts.requests, figures))
            line = "  ".join(f"{name} " + " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                                    for k, v in f.items() if k in FIGURES)
                             for name, f in figures.items())
            print(f"round {number:3d} jobs={load.counts.jobs} requests={load.counts.requests} "
                  f"{time.monotonic() - started:.0f}s  {line}", flush=True)
            for name, f in figures.items():
                for key in ("grew", "types", "follow"):
                    for entry in f.get(key, []):
                        print(f"    {name} {key}: {entry}", flush=True)
        print(f"statuses: {dict(sorted(load.counts.statuses.items()))}; webhook deliveries: {receivers.deliveries}")
        measured = rows[args.warmup:]
        jobs = [float(r[0]) for r in measured]
        reqs = [float(r[1]) for r in measured]
        print(f"growth after round {args.warmup} ({int(jobs[-1] - jobs[0])} jobs, "
              f"{int(reqs[-1] - reqs[0])} requests measured):")
        for name in ("service", "gateway"):
            for key in FIGURES:
                ys = [float(r[2][name][key]) for r in measured]
                print(f"  {name:8s} {key:8s} {ys[0]:9.1f} -> {ys[-1]:9.1f}   per 1,000 jobs {slope(jobs, ys) * 1000:+9.2f}"
                      f"   per 1,000 requests {slope(reqs, ys) * 1000:+8.2f}")
    receivers.loop.call_soon_threadsafe(receivers.loop.stop)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["child-service"]:
        child_service(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["child-gateway"]:
        child_gateway(sys.argv[2])
    else:
        sys.exit(main())
