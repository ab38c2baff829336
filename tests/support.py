"""Test helpers: real processes (tritonserver, `python -m jobservice`) and small clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import asyncpg
import grpc
import requests
from phonos_models.common.progress import Progress
from phonos_models.common.result_files import ModelResult

from jobservice.admin import create_key
from jobservice.inference import InferenceError, InferenceRequest, Tensor
from jobservice.memory_inference import InMemoryInference
from jobservice.modelspecs.base import ModelSpec
from jobservice.modelspecs.registry import build_specs
from jobservice.server import RunningJobService, create_server, start_in_process_gateway
from jobservice.triton_inference import TritonInference
from launcher.serve import read_ready_line
from launcher.triton import DEFAULT_MODEL_REPOSITORY, TritonProcess
from phonos.v1 import phonos_pb2_grpc
from phonos_config.service import ServiceSettings
from phonos_config.triton_access import http_headers

REPO = Path(__file__).resolve().parent.parent
# The stores a job service runs on (tests/conftest.py: pytest_generate_tests).
ALL_STORES = ("sqlite", "postgres")
T = TypeVar("T")


@dataclass
class TritonFixture:
    process: TritonProcess

    @property
    def grpc_url(self) -> str:
        return self.process.grpc_url

    @property
    def api_secret(self) -> str:
        return self.process.api_secret

    @classmethod
    def start(cls, models: list[str], log_dir: Path, env: Mapping[str, str] | None = None,
              model_repository: Path = DEFAULT_MODEL_REPOSITORY, api_secret: str = "") -> TritonFixture:
        """`env`: variables added to this process's environment for the server (its models' settings);
        `api_secret`: its APIs locked as `phonos serve` locks its Triton's (launcher.triton)."""
        process = TritonProcess.start(model_repository, models=models, log_path=log_dir / "triton.log",
                                      env=None if env is None else {**os.environ, **env}, api_secret=api_secret)
        try:
            process.wait_ready(timeout_s=300)
        except BaseException:
            process.stop()
            raise
        return cls(process)

    def instance_count(self, model: str) -> int:
        """How many instances the server runs of `model` (its loaded config's instance groups)."""
        config = requests.get(f"{self.process.http_url}/v2/models/{model}/config", timeout=10,
                              headers=http_headers(self.api_secret)).json()
        return sum(int(group.get("count", 1)) for group in config["instance_group"])

    def __enter__(self) -> TritonFixture:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.process.stop()


@contextlib.contextmanager
def reaped(process: T) -> Iterator[T]:
    """A tritonserver (`TritonProcess` or `TritonFixture`) whose own shutdown the test does not check, ended at
    exit by SIGKILL of its process group with its shm regions freed (`TritonProcess.reap`): a graceful stop
    waits 4-7 s for its model instances to unload. Graceful stops are checked where they are the point:
    tests/e2e/test_serve_and_clients.py (`phonos serve` stopping) and test_faults_with_triton.py."""
    try:
        yield process
    finally:
        server: TritonProcess = process.process if isinstance(process, TritonFixture) else process  # type: ignore[assignment]
        server.reap()


@dataclass
class TritonCrashes:
    """When a watched tritonserver was found dead (monotonic seconds), and whether it serves again: conftest.py runs
    a test again that failed while the session's shared server was down (Triton 2.51's gRPC crash, below)."""

    times: list[float] = field(default_factory=list)
    serving: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.serving.set()


# Every tritonserver a test module keeps for many tests and restarts on a crash (`restarted_on_crash` with these
# crashes): conftest.py runs a test again that failed while one of them was down. The session's shared server is
# one; a module's own server (AlphaFold2's, with its settings) is another: a crash of it failed every later test of
# its module (CI: three AlphaFold2 tests, "connection refused").
WATCHED_TRITONS: list[TritonFixture] = []
TRITON_CRASHES = TritonCrashes()


@contextlib.contextmanager
def watched_for_crashes(server: TritonFixture, env: Mapping[str, str] | None = None,
                        model_repository: Path = DEFAULT_MODEL_REPOSITORY) -> Iterator[TritonFixture]:
    """`server` restarted on a crash (its `env` and `model_repository` again), and a test that failed while it was
    down run once more."""
    with restarted_on_crash(server, crashes=TRITON_CRASHES, env=env, model_repository=model_repository):
        WATCHED_TRITONS.append(server)
        try:
            yield server
        finally:
            WATCHED_TRITONS.remove(server)


@contextlib.contextmanager
def restarted_on_crash(server: TritonFixture, *, max_restarts: int = 3, poll_s: float = 0.5,
                       crashes: TritonCrashes | None = None,
                       env: Mapping[str, str] | None = None,
                       model_repository: Path = DEFAULT_MODEL_REPOSITORY) -> Iterator[TritonFixture]:
    """`server`, started again on the same ports (same URL for everyone holding it) when it dies, at most
    `max_restarts` times, until the block ends. For the session's shared server: Triton 2.51's gRPC server can
    segfault as a stream ends (a cancellation race, "HandleCancellation called even when the context was not
    cancelled" then signal 11; fixed upstream in triton-inference-server/server PR 8078), and one crash must
    fail the tests in flight, not every later module. `phonos serve` restarts it for the same reason
    (launcher/supervisor.py). Nest it inside `reaped`, so the watch ends before the server is reaped."""
    stop = threading.Event()
    restarts = 0

    def watch() -> None:
        nonlocal restarts
        while not stop.wait(poll_s) and restarts < max_restarts:
            dead = server.process
            if dead.process.poll() is None:
                continue
            restarts += 1
            if crashes is not None:
                crashes.serving.clear()
                crashes.times.append(time.monotonic())
            dead.reap()  # its stubs and shared memory: the new server needs both gone
            sys.stderr.write(f"\ntests: the tritonserver of {model_repository} exited ({dead.process.returncode}); "
                             f"restarting it on {dead.grpc_url} ({restarts} of {max_restarts}); its log ended:\n"
                             f"{_log_tail(dead.log_path)}\n")
            again = TritonProcess.start(model_repository, models=dead.models, ports=dead.ports,
                                        log_path=dead.log_path, env=env, api_secret=dead.api_secret)
            server.process = again  # reaped at the end whatever happens next
            with contextlib.suppress(Exception):
                again.wait_ready(timeout_s=300)
            if crashes is not None:
                crashes.serving.set()

    thread = threading.Thread(target=watch, name="triton-restarter", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=330)


def _log_tail(path: Path | None, lines: int = 15) -> str:
    """The last lines of a server's log, for the report of its crash (the log itself is in a temporary directory
    that CI does not keep)."""
    if path is None:
        return "(no log)"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(unreadable: {exc})"


def single_instance(repository: Path, model: str) -> None:
    """Put `model` into the test model repository `repository` as shipped (its model.py linked, its config
    copied) but with one instance instead of the shipped count: for a server of a test that sends the model one
    request at a time. Each instance is a stub importing torch: seconds of start-up on two cores."""
    source = DEFAULT_MODEL_REPOSITORY / model
    (repository / model / "1").mkdir(parents=True)
    (repository / model / "1" / "model.py").symlink_to(source / "1" / "model.py")
    config = (source / "config.pbtxt").read_text()
    groups = re.findall(r"\{ count: \d+ kind: KIND_CPU \}", config)
    assert len(groups) == 1, f"{model}: expected one instance group, found {groups}"
    (repository / model / "config.pbtxt").write_text(config.replace(groups[0], "{ count: 1 kind: KIND_CPU }"))


class ServiceEndpoints:
    """Clients of a running job service with its REST gateway: needs `settings`, `grpc_port`, `http_port`."""

    settings: ServiceSettings
    grpc_port: int
    http_port: int

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def shared(self) -> bool:
        """On PostgreSQL (shared by many job services) rather than SQLite."""
        return bool(self.settings.database_url)

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Raw SQL on the service's store, `?` placeholders (tests look under the hood with it)."""
        if not self.shared:
            with sqlite3.connect(self.data_dir / "phonos.sqlite3") as conn:
                return [tuple(r) for r in conn.execute(query, args).fetchall()]
        parts = query.split("?")
        numbered = parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))

        async def run() -> list[tuple[Any, ...]]:
            conn = await asyncpg.connect(self.settings.database_url)
            try:
                return [tuple(r) for r in await conn.fetch(numbered, *args)]
            finally:
                await conn.close()

        return asyncio.run(run())

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def url_for(self, transport: str) -> str:
        """What a user gives the SDK or `phonos`: the REST URL, or the job service's grpc://host:port."""
        return self.base_url if transport == "rest" else f"grpc://{self.grpc_target}"

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """One Prometheus scrape of the service's /metrics: {(sample name, sorted labels): value}."""
        port = getattr(self, "metrics_port", None)
        assert port, "the service runs without its metrics listener"
        return parse_scrape(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text)

    def new_key(self, credits: int = 10_000, rate_limit: int = 100_000, username: str | None = None) -> str:
        name = username or f"user{time.monotonic_ns()}"
        key = asyncio.run(create_key(self.settings, username=name, email=f"{name}@example.org",
                                     credits=credits, rate_limit=rate_limit))
        return key.api_key

    def client(self, api_key: str | None) -> ApiClient:
        return ApiClient(self.base_url, api_key)

    def grpc_stub(self) -> tuple[grpc.Channel, phonos_pb2_grpc.PhonosServiceStub]:
        channel = grpc.insecure_channel(self.grpc_target)
        return channel, phonos_pb2_grpc.PhonosServiceStub(channel)


@dataclass
class ServiceProcess(ServiceEndpoints):
    """`python -m jobservice` (gRPC + in-process REST gateway) on free ports."""

    popen: subprocess.Popen[str]
    settings: ServiceSettings
    grpc_port: int
    http_port: int
    triton_url: str
    env: dict[str, str]
    log_lines: list[str] = field(default_factory=list)
    metrics_port: int | None = None

    @classmethod
    def start(cls, data_dir: Path, triton_url: str, extra_env: Mapping[str, str]) -> ServiceProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
        env.update({
            "PHONOS_MODELS": "esmfold",
            "PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true",
            "PHONOS_USAGE_FLUSH_INTERVAL_S": "0.1",
            "PHONOS_METRICS_PORT": "0",
            **extra_env,
        })
        args = [sys.executable, "-m", "jobservice", "--data-dir", str(data_dir), "--grpc-port", "0",
                "--http-port", "0", "--triton-url", triton_url]
        popen = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                 cwd=REPO, start_new_session=True)
        log_lines: list[str] = []
        threading.Thread(target=_drain, args=(popen.stderr, log_lines), daemon=True).start()
        ready = read_ready_line(popen, timeout_s=60)
        if ready is None:
            popen.kill()
            raise RuntimeError("job service did not start:\n" + "\n".join(log_lines[-40:]))
        settings = ServiceSettings.from_env(env).with_overrides(data_dir=data_dir)
        return cls(popen, settings, int(ready["grpc_port"]), int(ready["http_port"]), triton_url, dict(extra_env),
                   log_lines, ready.get("metrics_port"))

    def stop(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
                # Not a failure of the test that used it, but a stop that should not take this long: shown in
                # the warnings summary with the service's last log lines (its stop logs each phase's time).
                warnings.warn("job service ignored SIGTERM for 20 s and was killed; its last log lines:\n"
                              + "\n".join(self.log_lines[-30:]), stacklevel=2)

    def kill(self) -> None:
        os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)


def parse_scrape(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text format → {(sample name, sorted labels): value}, read by prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _drain(stream: Any, sink: list[str]) -> None:
    for line in stream:
        sink.append(line.rstrip())


class InProcessService(ServiceEndpoints):
    """The real job service (grpc.aio, port 0) and REST gateway (aiohttp, port 0) on a real SQLite file,
    with the in-memory inference twin instead of Triton, running in a background thread's event loop.

    The same surface as `ServiceProcess` (base_url, grpc_target, new_key, client, grpc_stub, stop), plus
    `inference` (the twin, scriptable from the test thread) and `call` (run a coroutine on the service's
    loop, e.g. `service.call(service.running.service.get_job(...))`).
    """

    def __init__(self, data_dir: Path, env: Mapping[str, str], inference: InMemoryInference | None = None,
                 specs: Mapping[str, ModelSpec] | None = None, *, grpc_port: int = 0, http_port: int = 0) -> None:
        self.env = dict(env)
        settings_env = {
            "PHONOS_MODELS": "esmfold",
            "PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true",
            "PHONOS_USAGE_FLUSH_INTERVAL_S": "0.1",
            **env,
        }
        self.settings = ServiceSettings.from_env(settings_env).with_overrides(
            data_dir=data_dir, grpc_port=grpc_port, http_port=http_port, metrics_port=0)
        self.http_port = http_port  # 0 until started: any free port
        self.specs = dict(specs) if specs is not None else build_specs(self.settings.models)
        self.inference = inference or InMemoryInference.for_specs(self.specs, DEFAULT_MODEL_REPOSITORY)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="in-process-service", daemon=True)
        self._thread.start()
        try:
            self.running, self._runner, self.http_port = self.call(self._start())
        except BaseException:
            self._close_loop()
            raise
        self.grpc_port = self.running.port
        self.metrics_port = self.running.metrics_port

    async def _start(self) -> tuple[RunningJobService, Any, int]:
        running = await create_server(self.settings, self.specs, self.inference)
        runner, port = await start_in_process_gateway(running, self.settings)
        return running, runner, port

    def call(self, coroutine: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    def settle(self, timeout_s: float = 30) -> None:
        """Wait until no job of any account is pending or running. A module's tests share one service: a
        test that scripts the twin's next call (`inference.script`) must not hand it to a job an earlier line
        or test submitted that the dispatcher has not reached yet (a loaded host, PostgreSQL)."""
        async def active() -> int:
            return len(await self.running.service.db.read.fetch_all("metrics_active_jobs"))

        wait_until(lambda: self.call(active()) == 0, timeout_s)

    def stop(self) -> None:
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            await self._runner.cleanup()
            await self.running.stop()

        try:
            self.call(shutdown())
        except TimeoutError:
            # Say where the stop waited: each task still pending on the service's loop, with its stack.
            raise AssertionError("the in-process service did not stop within 60 s; its pending tasks:\n"
                                 + self._pending_task_stacks()) from None
        finally:
            self._close_loop()

    def _pending_task_stacks(self) -> str:
        lines: list[str] = []
        for task in asyncio.all_tasks(self._loop):
            lines.append(repr(task))
            lines.extend(f"    {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
                         for frame in task.get_stack())
        return "\n".join(lines)

    def _close_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


class ApiClient:
    """requests with the bearer key and the base URL filled in."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if api_key:
            self.session.headers["Authorization"] = f"Bearer {api_key}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.base_url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.base_url + path, timeout=30, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.delete(self.base_url + path, timeout=30, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.patch(self.base_url + path, timeout=30, **kwargs)

    def predict(self, sequence: str = "MKTVRQERLKSIVRILERSKEPV", **body: Any) -> requests.Response:
        return self.post("/v1/predict", json={"model": "esmfold", "sequence": sequence, **body})

    def balance(self) -> int:
        return int(self.get("/v1/account").json()["credits"]["balance"])

    def wait_for(self, job_id: str, statuses: tuple[str, ...] = ("completed", "failed", "cancelled"),
                 timeout_s: float = 120.0) -> dict[str, Any]:
        return wait_until(lambda: _status_in(self.get(f"/v1/jobs/{job_id}").json(), statuses), timeout_s)


def _status_in(job: dict[str, Any], statuses: tuple[str, ...]) -> dict[str, Any] | None:
    return job if job.get("status") in statuses else None


def waits_while(send: Callable[[], None], bystander: ApiClient, pause_s: float) -> list[float]:
    """How long each of another account's calls (`GET /v1/account`, asked every `pause_s`) took while `send` ran
    in a thread: what one user's request costs everyone else while the job service's event loop is busy with it."""
    sender = threading.Thread(target=send)
    latencies: list[float] = []
    sender.start()
    while sender.is_alive():
        sent = time.monotonic()
        assert bystander.get("/v1/account").status_code == 200
        latencies.append(time.monotonic() - sent)
        time.sleep(pause_s)
    return latencies


def wait_until(probe: Callable[[], Any], timeout_s: float, interval_s: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


def process_alive(pid: int) -> bool:
    """The process exists and is not a zombie (an exited child nobody has reaped yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class LoopbackServer:
    """A real aiohttp server on a free loopback port, in its own thread; subclasses add routes in `routes`."""

    path = "/"

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    def routes(self, app: Any) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application()
        self.routes(app)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(runner.addresses[0][1])
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()


class WebhookReceiver(LoopbackServer):
    """A webhook receiver that answers with scripted statuses (then 200)."""

    path = "/hook"

    def __init__(self, statuses: list[int] | None = None) -> None:
        super().__init__()
        self.requests: list[dict[str, Any]] = []
        self._statuses = list(statuses or [])

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            self.requests.append({"headers": dict(request.headers), "body": body.decode(),
                                  "target": request.raw_path})  # the request line's target, as sent
            status = self._statuses.pop(0) if self._statuses else 200
            return web.Response(status=status, text="ok")

        app.router.add_post(self.path, handle)

    def events(self) -> list[str]:
        return [json.loads(r["body"])["event"] for r in self.requests]


def infer_through_the_port(triton_url: str, model: str, tensors: tuple[Tensor, ...], timeout_s: float = 240.0,
                           request_id: str = "test", progress: list[Progress] | None = None,
                           api_secret: str = "") -> ModelResult:
    """One request as dispatch sends it: the real `TritonInference` (the decoupled stream), its classification
    and envelope check; the model's progress records are appended to `progress`. `api_secret`: the server's, when
    its APIs are locked (TritonFixture.api_secret)."""

    async def run() -> ModelResult:
        inference = TritonInference(triton_url, api_secret=api_secret)
        try:
            return await inference.infer(InferenceRequest(model, tensors, timeout_s, request_id),
                                         on_progress=None if progress is None else progress.append)
        finally:
            await inference.close()

    return asyncio.run(run())


def infer_concurrently(triton_url: str, model: str, requests: list[tuple[Tensor, ...]],
                       timeout_s: float = 240.0, api_secret: str = "") -> list[ModelResult | InferenceError]:
    """All requests at once (one stream each), so the dynamic batcher can group them; results in order,
    a failed request as its typed `InferenceError`."""

    async def run() -> list[ModelResult | InferenceError]:
        inference = TritonInference(triton_url, api_secret=api_secret)
        try:
            calls = [inference.infer(InferenceRequest(model, tensors, timeout_s, f"concurrent-{i}"))
                     for i, tensors in enumerate(requests)]
            answers = await asyncio.gather(*calls, return_exceptions=True)
        finally:
            await inference.close()
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, InferenceError):
                raise answer
        return answers  # type: ignore[return-value]

    return asyncio.run(run())


def cancel_after(triton_url: str, model: str, tensors: tuple[Tensor, ...], seconds: float, *,
                 copies: int = 1, stagger_s: float = 0.5, api_secret: str = "") -> None:
    """Start a request and cancel it after `seconds`, as dispatch does for a cancelled job. `copies` > 1
    starts that many, `stagger_s` apart (so that each lands on its own free model instance rather than in
    one dynamic batch), and cancels them all `seconds` after the last one started."""

    async def run() -> None:
        inference = TritonInference(triton_url, api_secret=api_secret)
        calls: list[asyncio.Task[object]] = []
        try:
            for index in range(copies):
                if index:
                    await asyncio.sleep(stagger_s)
                request = InferenceRequest(model, tensors, 600.0, f"to-cancel-{index}")
                calls.append(asyncio.create_task(inference.infer(request)))
            await asyncio.sleep(seconds)
            assert not any(call.done() for call in calls), "a request finished before it could be cancelled"
            for call in calls:
                call.cancel()
            for call in calls:
                with contextlib.suppress(asyncio.CancelledError):
                    await call
        finally:
            await inference.close()

    asyncio.run(run())
