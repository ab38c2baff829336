"""A job service started while its PostgreSQL is away waits for it (jobservice/db_wait.py): it listens at once,
answering health as not ready with why (`/v1/health` 503 `database: unreachable`, gRPC readiness NOT_SERVING,
`phonos status` says so), and serves once the database answers; a database that answers and refuses (a wrong
password, no such database) ends the start at once with its own exit status and the reason. Was: exit status 2
at once whatever the reason, which an orchestrator turns into a crash loop.

The real `python -m jobservice` against the session's PostgreSQL, reached through a loopback relay of this test's
that is not listening at first (connections refused, as a database not started yet) and then forwards."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import asyncpg
import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jobservice.admin import create_key
from jobservice.db_wait import EXIT_DATABASE_REFUSED
from jobservice.health_probe import probe
from jobservice.pg import PgDatabase, StartFailure
from jobservice.readiness import API_SERVICE
from launcher import cli
from launcher.ports import free_port
from phonos_config.service import ServiceSettings
from tests.pg_relays import Relay, shut
from tests.postgres import PostgresServer
from tests.serve_process import ServeProcess
from tests.support import REPO, wait_until

pytestmark = pytest.mark.integration


class ForwardingRelay(Relay):
    def _ended(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        shut(source)
        shut(sink)


class JobServiceProcess:
    """`python -m jobservice` with its stdout's JSON lines in a queue and its stderr kept."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
        full_env.update({"PHONOS_MODELS": "esmfold", "PHONOS_METRICS_PORT": "0", **env})
        self.env = full_env
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "jobservice", "--data-dir", str(data_dir), "--grpc-port", "0", "--http-port", "0",
             "--triton-url", f"127.0.0.1:{free_port()}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full_env, cwd=REPO, start_new_session=True)
        self.events: Queue[dict[str, Any]] = Queue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read_events, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_events(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            if line.startswith("{"):
                self.events.put(json.loads(line))

    def _read_stderr(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            self.stderr.append(line.rstrip())

    def next_event(self, timeout_s: float = 60) -> dict[str, Any]:
        try:
            return self.events.get(timeout=timeout_s)
        except Empty:
            raise AssertionError("no event line from the job service; its log:\n" + "\n".join(self.stderr[-30:])) from None

    def stop(self) -> None:
        """SIGTERM, as an orchestrator stops it; one that ignores it for 20 s fails the test, killed."""
        try:
            if self.popen.poll() is None:
                os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=20)
        finally:
            if self.popen.poll() is None:
                os.killpg(self.popen.pid, signal.SIGKILL)


@contextmanager
def job_service(data_dir: Path, env: dict[str, str]) -> Iterator[JobServiceProcess]:
    process = JobServiceProcess(data_dir, env)
    try:
        yield process
    finally:
        process.stop()


def _through(url: str, server_port: int, port: int) -> str:
    return url.replace(f":{server_port}/", f":{port}/")


def _readiness(grpc_port: int, service: str) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
    return int(answer.status)


def _scrape(metrics_port: int) -> dict[str, float]:
    """`name{labels}` -> value of one /metrics scrape."""
    answer = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in answer.text.splitlines()
            if line and not line.startswith("#")}


def test_a_job_service_started_before_its_database_waits_says_so_in_its_health_then_serves(
        postgres: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres.new_store_url("startwait")
    gate = free_port()  # nothing listens there yet: each try is refused, as a database not started yet
    metrics_port = free_port()  # where Prometheus is told to scrape
    env = {"PHONOS_DATABASE_URL": _through(url, postgres.port, gate), "PHONOS_METRICS_PORT": str(metrics_port)}
    with job_service(tmp_path / "var", env) as process:
        waiting = process.next_event()
        assert waiting["event"] == "waiting" and waiting["reason"] == "connection refused", waiting
        http, grpc_port = waiting["http_port"], waiting["grpc_port"]

        health = requests.get(f"http://127.0.0.1:{http}/v1/health", timeout=10)
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["status"] == "degraded" and body["components"] == {"database": "unreachable"}
        assert "waiting for its database (connection refused" in body["message"]
        assert f":{gate}" not in body["message"]  # the public health names no database server
        assert int(health.headers["Retry-After"]) > 0
        refused = requests.get(f"http://127.0.0.1:{http}/v1/jobs", headers={"Authorization": "Bearer pk_x"},
                               timeout=10)
        assert refused.status_code == 503 and refused.json()["error"] == "Service unavailable", refused.text
        assert _readiness(grpc_port, "phonos.v1.PhonosService") == health_pb2.HealthCheckResponse.NOT_SERVING
        assert _readiness(grpc_port, "") == health_pb2.HealthCheckResponse.SERVING  # alive: no restart helps
        # Not ready for the pod's probe (deploy/kubernetes/jobservice.yaml asks API_SERVICE): it refuses every call.
        assert not probe(f"127.0.0.1:{grpc_port}", 10, API_SERVICE)
        assert _readiness(grpc_port, API_SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING  # said, not unknown
        # Prometheus finds a live target saying the database is unreachable (PhonosDatabaseUnavailable), not a
        # target down; the job counters are there at 0 already.
        scrape = _scrape(metrics_port)
        assert scrape["phonos_database_up"] == 0.0 and scrape['phonos_jobs_submitted_total{model="esmfold"}'] == 0.0
        assert waiting["metrics_port"] == metrics_port

        assert cli.main(["status", "--url", f"http://127.0.0.1:{http}"]) == 1  # degraded
        said = " ".join(capsys.readouterr().out.split())
        assert "DEGRADED" in said and "database: unreachable" in said, said
        assert "waits for its database; it serves once the database answers" in said, said

        # The log says each failed try once, where it tried and why.
        wait_until(lambda: any("try 2" in line for line in process.stderr), 30)
        tries = [line for line in process.stderr if "cannot reach the database yet" in line]
        assert f"(try 1): PostgreSQL at 127.0.0.1:{gate} refused the connection" in tries[0], tries
        assert len([line for line in tries if "(try 1)" in line]) == 1

        relay = ForwardingRelay(("127.0.0.1", postgres.port), "start-gate", port=gate)  # the database is up
        try:
            ready = process.next_event()
            assert ready["event"] == "ready", ready
            assert (ready["grpc_port"], ready["http_port"], ready["metrics_port"]) == (grpc_port, http, metrics_port)
            # Its log's start lines say the ports in words, then the record's fields (action=...). Waited for:
            # stderr is read by another thread than the ready line's stdout (a busy host read the ready line first).
            wait_until(lambda: any(f"job service listening: gRPC on 127.0.0.1:{grpc_port}, /metrics on "
                                   f"127.0.0.1:{metrics_port} action=" in line for line in process.stderr), 30)
            wait_until(lambda: any(f"REST gateway and dashboard listening on 127.0.0.1:{http} action=" in line
                                   for line in process.stderr), 30)
            assert _scrape(metrics_port)["phonos_database_up"] == 1.0  # where it waited
            # Ready for the pod's probe now, with no Triton at all (jobs wait for one).
            assert _readiness(grpc_port, API_SERVICE) == health_pb2.HealthCheckResponse.SERVING
            assert _readiness(grpc_port, "phonos.v1.PhonosService") == health_pb2.HealthCheckResponse.NOT_SERVING

            health = requests.get(f"http://127.0.0.1:{http}/v1/health", timeout=10).json()
            assert health["components"]["database"] == "ready", health
            settings = ServiceSettings.from_env({"PHONOS_DATABASE_URL": url})
            key = asyncio.run(create_key(settings, username="late", email=None, credits=100, rate_limit=100))
            bearer = {"Authorization": f"Bearer {key.api_key}"}
            job = requests.post(f"http://127.0.0.1:{http}/v1/predict", headers=bearer, timeout=10,
                                json={"model": "esmfold", "sequence": "MKTVRQERLK"})
            assert job.status_code == 200, job.text
            listed = requests.get(f"http://127.0.0.1:{http}/v1/jobs/{job.json()['job_id']}", headers=bearer, timeout=10)
            # Accepted and dispatched (no Triton here: it waits for one, pending or running).
            assert listed.status_code == 200 and listed.json()["status"] in ("pending", "running"), listed.text
        finally:
            process.stop()
            relay.close()


@pytest.fixture
def password_role(postgres: PostgresServer) -> Iterator[tuple[str, str]]:
    """A role that must give its password (the session's server trusts every other connection)."""
    role, password = f"pw_{uuid.uuid4().hex[:8]}", "right-one"
    postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
    hba = postgres.data_dir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n{original}")
    postgres.psql("SELECT pg_reload_conf()")

    async def refused() -> bool:
        try:
            await (await asyncpg.connect(f"postgresql://{role}:wrong@127.0.0.1:{postgres.port}/postgres")).close()
        except asyncpg.InvalidPasswordError:
            return True
        return False

    wait_until(lambda: asyncio.run(refused()), 30)  # the reload is asynchronous
    yield role, password
    hba.write_text(original)
    postgres.psql("SELECT pg_reload_conf()")


def test_a_wrong_password_ends_the_start_at_once_with_the_reason_and_its_own_exit_status(
        postgres: PostgresServer, password_role: tuple[str, str], tmp_path: Path) -> None:
    role, _ = password_role
    url = f"postgresql://{role}:wrong@127.0.0.1:{postgres.port}/postgres"
    with job_service(tmp_path / "var", {"PHONOS_DATABASE_URL": url}) as process:
        code = process.popen.wait(timeout=60)
    assert code == EXIT_DATABASE_REFUSED == 3, process.stderr[-20:]
    said = "\n".join(process.stderr)
    assert ("error: cannot open the database at PHONOS_DATABASE_URL: PostgreSQL at "
            f"127.0.0.1:{postgres.port} refused the password of user {role}: password authentication failed for "
            f'user "{role}"') in said, said
    assert ":wrong" not in said and "cannot reach the database yet" not in said  # no password shown, no wait
    assert process.events.empty()  # it never listened


def test_phonos_serve_exits_3_for_a_database_that_refuses_it_as_the_job_service_does(
        postgres: PostgresServer, password_role: tuple[str, str], tmp_path: Path) -> None:
    """The README promises exit status 3 for a refusal (systemd's RestartPreventExitStatus=3): `python -m jobservice`
    gave it, `phonos serve` 2, the status of a wait that ended."""
    role, _ = password_role
    serve = ServeProcess(tmp_path / "var", PHONOS_DATABASE_URL=f"postgresql://{role}:wrong@127.0.0.1:{postgres.port}/postgres")
    try:
        assert serve.popen.wait(timeout=60) == EXIT_DATABASE_REFUSED
    finally:
        serve.stop()
    said = "\n".join(serve.lines)
    assert f"refused the password of user {role}" in said and ":wrong" not in said, said
    assert "starting Triton" not in said and "API key" not in said, said


@pytest.mark.parametrize(("url", "says", "retry"), [
    ("postgresql://phonos@127.0.0.1:{port}/no_such_db", 'PostgreSQL at 127.0.0.1:{port}: database "no_such_db" does '
     "not exist", False),
    ("postgresql://nobody_here@127.0.0.1:{port}/postgres", "PostgreSQL at 127.0.0.1:{port} refused user nobody_here: "
     'role "nobody_here" does not exist', False),
    ("postgresql://phonos@127.0.0.1:{port}/postgres?sslmode=require", "SSL with PostgreSQL at 127.0.0.1:{port} "
     "failed", False),
    ("postgresql://phonos@127.0.0.1:{closed}/postgres", "PostgreSQL at 127.0.0.1:{closed} refused the connection",
     True),
], ids=["no-such-database", "no-such-user", "ssl-not-offered", "refused"])
def test_which_start_failures_are_waited_out(postgres: PostgresServer, url: str, says: str, retry: bool) -> None:
    """The database's own answers, classified (jobservice.pg.start_failure): configuration is not waited for."""
    closed = free_port()
    with pytest.raises(StartFailure) as failure:
        asyncio.run(PgDatabase.open(url.format(port=postgres.port, closed=closed), connect_timeout_s=5))
    assert failure.value.retry is retry
    assert str(failure.value).startswith(says.format(port=postgres.port, closed=closed)), str(failure.value)


def _starting_up_server() -> tuple[socket.socket, int]:
    """A loopback server that answers every connection as a PostgreSQL still starting up does (after any SSL
    request is declined): a FATAL ErrorResponse, SQLSTATE 57P03, then the close."""
    listener = socket.create_server(("127.0.0.1", 0))

    def message(fields: bytes) -> bytes:
        return b"E" + (len(fields) + 5).to_bytes(4, "big") + fields + b"\0"

    def answer() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed
                return
            with conn:
                first = conn.recv(8)
                if first[4:8] == (80877103).to_bytes(4, "big"):  # SSLRequest
                    conn.sendall(b"N")
                    conn.recv(65536)  # the startup message
                conn.sendall(message(b"SFATAL\0VFATAL\0C57P03\0Mthe database system is starting up\0"))

    threading.Thread(target=answer, daemon=True).start()
    return listener, listener.getsockname()[1]


def test_a_database_still_starting_up_is_waited_for() -> None:
    listener, port = _starting_up_server()
    try:
        with pytest.raises(StartFailure) as failure:
            asyncio.run(PgDatabase.open(f"postgresql://phonos@127.0.0.1:{port}/postgres", connect_timeout_s=5))
    finally:
        listener.close()
    assert failure.value.retry is True and failure.value.kind == "not accepting connections yet"
    assert str(failure.value) == (f"PostgreSQL at 127.0.0.1:{port} does not take connections yet: the database "
                                  "system is starting up")


def test_a_stop_while_waiting_for_the_database_ends_the_job_service_at_once(tmp_path: Path) -> None:
    env = {"PHONOS_DATABASE_URL": f"postgresql://phonos@127.0.0.1:{free_port()}/postgres",
           "PHONOS_DATABASE_START_WAIT_S": "0"}  # for ever
    with job_service(tmp_path / "var", env) as process:
        assert process.next_event()["event"] == "waiting"
        os.killpg(process.popen.pid, signal.SIGINT)  # Ctrl-C
        assert process.popen.wait(timeout=15) == 0
    assert not any("Traceback" in line for line in process.stderr), process.stderr[-20:]


def test_phonos_serve_says_it_waits_for_its_database_claims_nothing_ready_and_stops_at_once(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    serve = ServeProcess(tmp_path / "var", PHONOS_DATABASE_URL=f"postgresql://phonos@127.0.0.1:{port}/postgres",
                         PHONOS_DATABASE_START_WAIT_S="0", PHONOS_METRICS_PORT=str(metrics_port))
    try:
        serve.wait_for(rf"waiting for the database: PostgreSQL at 127\.0\.0\.1:{port} refused the connection", 60)
        # Its metrics port says why it does not serve yet, as the job service's does while it waits.
        assert _scrape(metrics_port)["phonos_database_up"] == 0.0
        serve.popen.send_signal(signal.SIGINT)  # Ctrl-C
        assert serve.popen.wait(timeout=15) == 130
    finally:
        serve.stop()
    said = "\n".join(serve.lines)
    assert "stopped while waiting for the database" in said and "Traceback" not in said, said
    assert "starting Triton" not in said and "API key" not in said, said  # nothing started, nothing claimed


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports process `pid` listens on now (its socket inodes in /proc/net/tcp*)."""
    fds = Path(f"/proc/{pid}/fd")
    inodes = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed meanwhile
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:["):-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class PortGrabber:
    """Tries to take `port` over and over (as a process starting meanwhile would), from a thread, until stopped;
    what it got is counted (and let go at once)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.taken = 0
        self.tries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is free
                try:
                    sock.bind(("127.0.0.1", self.port))
                    sock.listen()
                    self.taken += 1
                except OSError:
                    pass
            self.tries += 1
            self._stop.wait(0.002)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def test_phonos_serve_with_metrics_port_0_serves_metrics_on_one_port_through_and_after_its_database_wait(
        postgres: PostgresServer, tmp_path: Path) -> None:
    """`--metrics-port 0` is picked once: the launcher's /metrics while it waits for its database and the job
    service's after it are one port, the one the banner names (was: each picked its own, so the port Prometheus
    found during the wait went dead once the service served). And it is never free in between: the launcher's
    socket is handed to the job service (was: closed, then bound again by the job service, and another process
    could take it meanwhile: the job service then failed with CannotListen)."""
    gate = free_port()  # refused until the relay listens there: a database not started yet
    url = _through(postgres.new_store_url("servemetrics"), postgres.port, gate)
    serve = ServeProcess(tmp_path / "var", PHONOS_DATABASE_URL=url, PHONOS_METRICS_PORT="0", PHONOS_MODELS="echo")
    relay = grabber = None
    try:
        serve.wait_for(rf"waiting for the database: PostgreSQL at 127\.0\.0\.1:{gate} refused", 60)
        metrics_port = int(serve.wait_for(r"^  meanwhile http://127\.0\.0\.1:(\d+)/metrics answers", 60).group(1))
        # The launcher's own /metrics, and its waiting REST gateway (launcher/serve_waiting.py).
        waiting = _listening_ports(serve.popen.pid)
        assert metrics_port in waiting and len(waiting) == 2, waiting
        assert _scrape(metrics_port)["phonos_database_up"] == 0.0
        grabber = PortGrabber(metrics_port)
        relay = ForwardingRelay(("127.0.0.1", postgres.port), "serve-gate", port=gate)  # the database is up
        banner = serve.wait_for(r"metrics:\s+http://127\.0\.0\.1:(\d+)/metrics", 300)
        assert int(banner.group(1)) == metrics_port, (banner.group(0), waiting)
        assert _scrape(int(banner.group(1)))["phonos_database_up"] == 1.0
        grabber.stop()
        assert grabber.taken == 0 and grabber.tries > 10, (grabber.taken, grabber.tries)
        # Said while it waited, too: nothing else names a port picked at random before the banner.
        assert serve.find(rf"^  meanwhile http://127\.0\.0\.1:{banner.group(1)}/metrics answers, with "
                          "phonos_database_up 0$"), serve.lines
    finally:
        if grabber is not None:
            grabber.stop()
        assert serve.stop() == 0, serve.lines[-20:]
        if relay is not None:
            relay.close()


def test_a_database_reached_after_waiting_says_so_to_the_dispatcher(postgres: PostgresServer) -> None:
    """The store a start waited for is marked (jobservice/dispatch.py: its first lease reclaim then waits a lease,
    so the live services renew theirs first); one that answered at once is not."""
    from jobservice.db_wait import Waiting, open_waiting

    url = postgres.new_store_url("reachedafter")
    gate = free_port()
    settings = ServiceSettings(database_url=_through(url, postgres.port, gate), database_start_wait_s=60)

    async def opened_after_a_refusal() -> bool:
        relays: list[ForwardingRelay] = []

        async def first_wait() -> None:  # the first try was refused: now the database "starts"
            relays.append(ForwardingRelay(("127.0.0.1", postgres.port), "reached-gate", port=gate))

        db = await open_waiting(settings, Waiting(), first_wait)
        try:
            return db.reached_after_waiting
        finally:
            await db.close()
            for relay in relays:
                relay.close()

    async def opened_at_once() -> bool:
        db = await open_waiting(ServiceSettings(database_url=url), Waiting())
        try:
            return db.reached_after_waiting
        finally:
            await db.close()

    assert asyncio.run(opened_after_a_refusal()) is True
    assert asyncio.run(opened_at_once()) is False
