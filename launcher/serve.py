"""`phonos serve`: Triton + the job service (with the in-process gateway), supervised.

Starts tritonserver on internal ports and the job service process side by side, prints the URLs
(and, on a fresh data dir, the first API key) once both are ready, and on Ctrl-C / SIGTERM stops
everything it started; killed outright (SIGKILL), it takes its children with it (launcher.lifeline).

Supervision (`launcher.supervisor`): a child that dies after it was ready is restarted with backoff
on the same ports while the other keeps running. Through a Triton restart the API keeps answering
(`/v1/health` says degraded, with a 503; jobs wait); through a job-service restart Triton keeps its
models loaded. A child that fails before it was ever ready (a broken model, a locked data dir), or
crashes more than PHONOS_RESTART_MAX times within PHONOS_RESTART_WINDOW_S, stops everything with
a message saying which and why, and the exit status is 1. A port it cannot listen on (in use, or given
to two listeners) is found before anything is created: one line naming it and its setting, exit status 2. So is
a SQLite start in a data directory whose results belong to another database (jobservice/new_sqlite_guard.py:
PHONOS_DATABASE_URL forgotten on a host of a shared directory).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

from jobservice.admin import FIRST_USER, FirstStart, ensure_first_account, password_holder, password_still
from jobservice.datadir_lock import DataDirLock, DataDirLocked
from jobservice.db_wait import EXIT_DATABASE_REFUSED, retrying
from jobservice.log_format import formatter
from jobservice.metrics_server import listening_socket
from jobservice.new_sqlite_guard import new_sqlite_refusal
from jobservice.pg import StartFailure
from jobservice.private_files import secure_data_dir
from jobservice.schema_guard import say_migrated
from jobservice.store import STORE_UNUSABLE, store_unusable_message
from launcher.banner import endpoint_lines, first_job_line, operator_program, sign_in_line
from launcher.lifeline import end_with_this_process
from launcher.model_settings import check_model_settings
from launcher.ports import can_listen, is_local_address
from launcher.serve_address import ServeAddress, this_host
from launcher.serve_address import forget as forget_address
from launcher.serve_address import record as record_address
from launcher.serve_waiting import ServeWaiting
from launcher.stop_request import StopRequest
from launcher.supervisor import Event, State, Supervised
from launcher.tables import banner_line, said, said_error
from launcher.triton import (
    DEFAULT_MODEL_REPOSITORY,
    STOP_TIMEOUT_S,
    TritonPorts,
    TritonProcess,
    TritonStartError,
    open_connections,
    signal_group,
)
from launcher.urls import reachable
from phonos_common.rlimit import raise_open_files_limit
from phonos_common.stack_dump import DUMP_SIGNAL, enable_stack_dumps
from phonos_config.json_text import json_value_text
from phonos_config.service import ServiceSettings
from phonos_config.supervisor import SupervisorSettings

TRITON_READY_TIMEOUT_S = 900.0
JOBSERVICE_READY_TIMEOUT_S = 120.0
TICK_S = 0.25
JOBSERVICE_STOP_TIMEOUT_S = 20.0  # its stop is ~0.01 s, its gRPC grace 5 s at most (jobservice/server.py)
STACK_DUMP_WAIT_S = 0.5  # for a job service's stack dump to reach the log before it is killed
# The `endpoint` label of the Triton `phonos serve` starts, in /metrics (PHONOS_TRITON_ENDPOINT_LABEL).
LOCAL_TRITON_LABEL = "local"


def served_triton_models(settings: ServiceSettings) -> list[str]:
    """The Triton models behind the served model ids (plus their helpers, e.g. an embedding model)."""
    from jobservice.modelspecs.registry import triton_models

    return triton_models(settings.models)


def jobservice_command(settings: ServiceSettings, metrics_socket: socket.socket | None = None) -> list[str]:
    """`python -m jobservice` with `phonos serve`'s settings; `metrics_socket`: the launcher's listener on the
    metrics port, which the job service serves on (inherited) instead of binding the port again."""
    handed = [] if metrics_socket is None else ["--metrics-fd", str(metrics_socket.fileno())]
    return [sys.executable, "-m", "jobservice", "--data-dir", str(settings.data_dir),
            "--grpc-port", str(settings.grpc_port), "--http-port", str(settings.http_port),
            "--triton-url", settings.triton_url, "--metrics-port", str(settings.metrics_port), *handed]


def jobservice_env(settings: ServiceSettings, triton: TritonChild) -> dict[str, str]:
    """The job service's environment: the launcher's, plus what `phonos serve`'s flags and its Triton decided
    that `python -m jobservice` has no flag for."""
    return {**os.environ, "PHONOS_DATA_DIR": str(settings.data_dir), "PHONOS_HTTP_HOST": settings.http_host,
            "PHONOS_GRPC_HOST": settings.grpc_host, "PHONOS_METRICS_HOST": settings.metrics_host,
            "PHONOS_TRITON_URL": triton.grpc_url,
            # The key to its Triton's APIs (TritonChild.api_secret); an operator's own, exported for a fleet, would
            # not open this one.
            "PHONOS_TRITON_API_SECRET": triton.api_secret,
            # The Triton it started, not a fleet: PHONOS_TRITON_URLS (exported for `python -m jobservice` on a
            # multi-machine setup) would otherwise win over PHONOS_TRITON_URL and leave this Triton unused.
            "PHONOS_TRITON_URLS": "",
            # /metrics re-exports Triton's own (Triton's ports stay internal), labelled as one endpoint whose name
            # outlives the ports picked afresh at each start.
            "PHONOS_TRITON_METRICS_URLS": triton.metrics_url, "PHONOS_TRITON_ENDPOINT_LABEL": LOCAL_TRITON_LABEL}


def read_ready_line(process: subprocess.Popen[str], timeout_s: float) -> dict | None:
    """The job service's `{"event": "ready", ...}` stdout line, or None if none came within `timeout_s`."""
    ready: dict = {}

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("{"):
                info = json.loads(line)
                if info.get("event", "ready") != "ready":  # "waiting" for its database: not ready yet
                    continue
                ready.update(info)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout_s)
    return ready or None


class TritonChild:
    """tritonserver on fixed internal ports; ready when live with every served model loaded."""

    name = "tritonserver"

    def __init__(self, models: list[str], ports: TritonPorts, settings: ServiceSettings, env: Mapping[str, str]) -> None:
        self.models = models
        self.ports = ports
        # On PostgreSQL the data directory may be shared by the serves of several hosts: a log of each host's own.
        self.log_path = settings.data_dir / ("triton.log" if settings.sqlite_path is not None
                                             else f"triton.{this_host()}.log")
        self._env = dict(env)
        # Its HTTP and gRPC APIs other than health and metadata answer only calls carrying this (launcher.triton):
        # made afresh by each `phonos serve`, kept through Triton's restarts, which the job service outlives.
        self.api_secret = secrets.token_urlsafe(32)
        self.process: TritonProcess | None = None
        self.loaded = False  # every model loaded, seen once since it was (re)started: its stop unloads them

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}/metrics"

    def spawn(self) -> None:
        self.loaded = False
        self.process = TritonProcess.start(DEFAULT_MODEL_REPOSITORY, self.models, ports=self.ports,
                                           log_path=self.log_path, env=self._env,
                                           preexec_fn=end_with_this_process(), api_secret=self.api_secret)

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.process.poll()

    def is_ready(self) -> bool:
        ready = self.process is not None and self.process.live() and all(
            self.process.model_ready(m) for m in self.models)
        self.loaded = self.loaded or ready
        return ready

    def fatal_reason(self) -> str | None:
        if self.process is None or not self.process.live():
            return None
        failed = {m: reason for m, reason in self.process.failed_models().items() if m in self.models}
        return f"models failed to load: {failed} (log: {self.log_path})" if failed else None

    def kill(self) -> None:
        if self.process is not None:
            self.process.reap()

    def stop(self) -> None:
        """Stop Triton, saying so: its models take seconds to unload (~3-4 s for the three, launcher.triton
        STOP_TIMEOUT_S), a silence in which `phonos serve` looked hung after the job service's last lines."""
        if self.process is None:
            return
        if self.process.process.poll() is not None:  # gone already (a crash): only its shm is left to clean
            self.process.stop()
            return
        doing = "unloading its models" if self.loaded else "it was still loading its models"
        print(banner_line(f"stopping Triton ({doing}; killed if not done within {STOP_TIMEOUT_S:.0f} s) ..."),
              flush=True)
        held = open_connections(self.ports.http)
        if held:  # Triton waits for them to close before anything else: say why the stop then takes its bound
            print(said((f"Triton's HTTP port {self.ports.http} has {held} open connection(s)", "(a client keeping it",
                        "alive):", "Triton waits for them to close,", "or is killed at the bound"), indent="  "),
                  flush=True)
        began = time.monotonic()
        self.process.stop(STOP_TIMEOUT_S)
        print(f"Triton stopped ({time.monotonic() - began:.1f} s)", flush=True)


class JobServiceChild:
    """`python -m jobservice`; ready when it printed its ready line. Restarts reuse the first ports."""

    name = "job service"

    def __init__(self, settings: ServiceSettings, env: Mapping[str, str],
                 metrics_socket: socket.socket | None = None) -> None:
        self.settings = settings
        self._env = dict(env)
        self.metrics_socket = metrics_socket  # handed to every start, a restart's too: the port stays this one
        self.popen: subprocess.Popen[str] | None = None
        self.ready_info: dict = {}
        self._ready = threading.Event()
        self.waiting = False  # said it waits for its database (this start), not ready yet
        self.waiting_info: dict = {}  # its `{"event": "waiting", ...}` line: where it answers meanwhile

    def spawn(self) -> None:
        self._ready = threading.Event()
        self.waiting = False
        self.waiting_info = {}
        handed = () if self.metrics_socket is None else (self.metrics_socket.fileno(),)
        self.popen = subprocess.Popen(jobservice_command(self.settings, self.metrics_socket), stdout=subprocess.PIPE,
                                      text=True, env=self._env, start_new_session=True, pass_fds=handed,
                                      preexec_fn=end_with_this_process())
        threading.Thread(target=self._read_stdout, args=(self.popen, self._ready), daemon=True).start()

    def _read_stdout(self, popen: subprocess.Popen[str], ready: threading.Event) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:  # drained to the end, so the child never blocks on a full pipe
            if line.startswith("{") and not ready.is_set():
                info = json.loads(line)
                if info.get("event") == "waiting":  # PostgreSQL away at its start (jobservice/db_wait.py)
                    self.waiting = True
                    self.waiting_info = info
                    print(f"job service: waiting for its database ({info.get('reason') or 'unreachable'}); it "
                          "serves once the database answers (PHONOS_DATABASE_START_WAIT_S)", flush=True)
                    continue
                # A restart must come back where clients and the banner expect it (port 0 = the first pick).
                # The metrics port too: Prometheus scrapes the one the banner printed.
                self.settings = self.settings.with_overrides(
                    grpc_port=int(info["grpc_port"]), http_port=int(info["http_port"]),
                    metrics_port=self.settings.metrics_port if info.get("metrics_port") is None
                    else int(info["metrics_port"]))
                self.ready_info = info
                self.waiting = False
                ready.set()

    def exit_code(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def is_ready(self) -> bool:
        return self._ready.is_set()

    def fatal_reason(self) -> str | None:
        return None

    def kill(self) -> None:
        if self.popen is not None:
            signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        try:
            if self.popen is None or self.popen.poll() is not None:
                return
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=JOBSERVICE_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                # Where it waits goes into the log before it is killed: its threads' stacks (faulthandler), after
                # the `stop: <phase> still running` lines that name the phase when its event loop still runs.
                print(said_error(f"the job service (pid {self.popen.pid}) did not stop within "
                                 f"{JOBSERVICE_STOP_TIMEOUT_S:.0f} s of SIGTERM: its threads' stacks follow; "
                                 "killing it"), file=sys.stderr, flush=True)
                if DUMP_SIGNAL is not None:
                    self.popen.send_signal(DUMP_SIGNAL)
                    time.sleep(STACK_DUMP_WAIT_S)
                self.kill()
        finally:  # the metrics port is free once the job service is gone, not held through Triton's stop
            if self.metrics_socket is not None:
                self.metrics_socket.close()


def jobservice_ready_timeout_s(settings: ServiceSettings) -> float:
    """How long the job service may take to be ready: on PostgreSQL, plus its own wait for the database (it says
    it waits, and exits when that wait ends; jobservice/db_wait.py), so it is not killed while waiting."""
    if not settings.database_url:
        return JOBSERVICE_READY_TIMEOUT_S
    if settings.database_start_wait_s == 0:  # for ever
        return float("inf")
    return JOBSERVICE_READY_TIMEOUT_S + settings.database_start_wait_s


def metrics_listener(settings: ServiceSettings) -> tuple[ServiceSettings, socket.socket | None]:
    """The metrics port, bound once, here, for every server on it: the launcher's own while it waits for its
    database (first_account_waiting), then each job service it starts (handed over: `--metrics-fd`), so the port
    is never free between them and `--metrics-port 0` is one port throughout, the one the banner names. Was: each
    bound it in turn, and between the launcher's close and the job service's bind another process could take it
    (the job service then failed with CannotListen); before that, each picked its own for port 0. Meanwhile,
    before a server serves on it, a connection waits in its backlog. OSError: it cannot be had (taken since
    `taken_port` looked)."""
    if not settings.metrics_enabled:
        return settings, None
    sock = listening_socket(settings.metrics_host, settings.metrics_port)
    return settings.with_overrides(metrics_port=int(sock.getsockname()[1])), sock


async def first_account_waiting(settings: ServiceSettings, metrics_socket: socket.socket | None = None,
                                wait: ServeWaiting | None = None) -> FirstStart | None:
    """`ensure_first_account`, waiting for PostgreSQL as the job service does (PHONOS_DATABASE_START_WAIT_S): a
    `phonos serve` started before its database says each failed try and starts once it answers. Meanwhile it
    answers as the job service does while it waits (launcher/serve_waiting.py: `/v1/health` 503 with why on its
    HTTP port, `phonos_database_up 0` on its metrics port, `metrics_socket` if given): `phonos status` and
    Prometheus see a service waiting for its database, not nothing. `wait`: those listeners (`wait.serving`: the
    HTTP port they had)."""

    async def attempt() -> FirstStart | None:
        return await ensure_first_account(settings, credits=settings.default_credits,
                                          rate_limit=settings.default_rate_limit)

    if not settings.database_url:
        return await attempt()
    wait = wait if wait is not None else ServeWaiting(settings, metrics_socket)
    try:
        return await retrying(attempt, settings.database_start_wait_s, wait.failed)
    except BaseException:  # nothing will serve at the address it recorded
        wait.forget()
        raise
    finally:  # the job service serves there next (on the same HTTP port; the metrics socket handed over)
        await wait.close()


def serve(settings: ServiceSettings) -> int:
    # Every setting is checked before anything is created: a typo in PHONOS_MODELS must not leave a
    # fresh data directory with an admin key printed above a traceback.
    try:
        policy = SupervisorSettings.from_env(os.environ)
        models = served_triton_models(settings)
        check_model_settings(models, DEFAULT_MODEL_REPOSITORY, os.environ)  # what Triton's models will read
    except ValueError as exc:
        print(said_error(str(exc)), file=sys.stderr)
        return 2
    data_dir = settings.data_dir.resolve()
    settings = settings.with_overrides(data_dir=data_dir)
    # A new SQLite database beside another database's result store (PHONOS_DATABASE_URL forgotten on a host of a
    # shared directory): refused before its file, an admin key, the lock and Triton's log are made there.
    refusal = new_sqlite_refusal(settings)
    if refusal is not None:
        print(said_error(refusal), file=sys.stderr)
        return 2
    raise_open_files_limit()  # inherited by Triton and the job service it starts
    enable_stack_dumps()  # `kill -USR1 PID`: where this process waits (phonos_common/stack_dump.py)
    # Nothing is created (no data directory, no admin key printed) for a start that cannot listen; a data
    # directory another job service owns is said first (its ports are taken too, and that is the reason).
    if data_dir.is_dir() and not owner_free(settings):
        return 1
    taken = taken_port(settings)
    if taken is not None:
        print(said_error(taken), file=sys.stderr)
        return 2
    try:
        settings, metrics_socket = metrics_listener(settings)
    except OSError:  # taken since taken_port looked
        from jobservice.server import CannotListen

        print(said_error(str(CannotListen("metrics", settings.metrics_host, settings.metrics_port,
                                          "PHONOS_METRICS_PORT or --metrics-port"))), file=sys.stderr)
        return 2
    try:
        return _serve(settings, policy, models, metrics_socket)
    finally:
        if metrics_socket is not None:
            metrics_socket.close()


def _serve(settings: ServiceSettings, policy: SupervisorSettings, models: list[str],
           metrics_socket: socket.socket | None) -> int:
    from jobservice.server import CannotListen

    data_dir = settings.data_dir
    log_supervision_as(settings.log_format)
    try:
        secure_data_dir(data_dir, settings.sqlite_path)
        if not owner_free(settings):
            return 1
        wait = ServeWaiting(settings, metrics_socket)
        first = asyncio.run(first_account_waiting(settings, metrics_socket, wait))
        settings = wait.serving(settings)
        secure_data_dir(data_dir, settings.sqlite_path)
    except CannotListen as exc:  # a port taken while it waited for its database (`taken_port` found it free)
        print(said_error(str(exc)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while waiting for the database: nothing was started yet
        print("stopped while waiting for the database", flush=True)
        return 130
    except STORE_UNUSABLE as exc:  # a database that refused us, or the wait ended, too
        print(said_error(store_unusable_message(settings, exc)), file=sys.stderr)
        # As `python -m jobservice` exits (README): 3 for a database that refused us (a wrong password: a restart
        # cannot help, systemd's RestartPreventExitStatus=3), 2 for every other unusable store (the wait ended).
        return EXIT_DATABASE_REFUSED if isinstance(exc, StartFailure) and not exc.retry else 2
    if first is not None:
        # Printed at once: the key and password exist now, whether or not the rest starts.
        print(f"API key (account {json_value_text(FIRST_USER)}, {settings.default_credits} credits, shown once): {first.key.api_key}",
              flush=True)
    triton = TritonChild(models, TritonPorts.pick(), settings, {**os.environ, "PHONOS_DATA_DIR": str(data_dir)})
    settings = settings.with_overrides(triton_url=triton.grpc_url)
    jobs = JobServiceChild(settings, jobservice_env(settings, triton), metrics_socket)
    children = [Supervised(triton, policy, ready_timeout_s=TRITON_READY_TIMEOUT_S),
                Supervised(jobs, policy, ready_timeout_s=jobservice_ready_timeout_s(settings))]
    stopping = StopRequest()  # signal-safe: no lock in the handler (launcher/stop_request.py)
    stopping.install()
    print(f"starting Triton ({', '.join(models)}) ...", flush=True)
    try:
        for child in children:
            child.start()
        announced = recorded = False
        while not stopping.requested:
            for child in children:
                for event in child.tick():
                    if not report(event, triton, jobs):
                        return 1
            # For `phonos status`, as soon as the job service listens, while Triton may still be loading: recorded
            # at the banner, a status during the start asked the default address and said nothing answered there.
            # Waiting for its database it listens too, answering health with why (its `waiting` line's ports).
            listening = jobs.ready_info or jobs.waiting_info
            if not recorded and listening.get("http_port"):
                record_address(data_dir, _address(settings, listening))
                recorded = True
            if not announced and all(c.state is State.READY for c in children) and api_operational(settings, jobs):
                announce(settings, triton, jobs, first)
                announced = True
            stopping.wait(TICK_S)
        # What follows, in order: the job service's one line (`job service stopped: N s (...)`), then Triton's two.
        print(stopping_line(children[0], children[1], jobs.waiting, announced), flush=True)
        return 0
    except (TritonStartError, OSError) as exc:
        print(said_error(str(exc)), file=sys.stderr)
        return 1
    finally:
        for child in reversed(children):  # the job service first: it finishes its writes while Triton is up
            child.stop()
        forget_address(data_dir, os.getpid())
        stopping.close()


def _address(settings: ServiceSettings, ready: Mapping[str, Any]) -> ServeAddress:
    """Where this serve's gateway and metrics listen, as its banner says them (the bound ports)."""
    metrics = (reachable(settings.metrics_host).url(ready["metrics_port"], "/metrics")
               if ready.get("metrics_port") else None)
    return ServeAddress(os.getpid(), reachable(settings.http_host).url(ready["http_port"], ""), metrics)


def stopping_line(triton: Supervised, jobs: Supervised, jobs_waiting: bool, announced: bool) -> str:
    """What a Ctrl-C stops, in order, as things are now. Was the same words at any time: before the banner too,
    "the job service first (its running jobs go back to pending), then Triton" while Triton was still loading
    and the job service had not served a call."""
    parts = []
    if jobs.state is State.READY:
        parts.append("the job service first (its running jobs go back to pending)")
    elif jobs.state is State.STARTING:
        parts.append(f"the job service ({'waiting for its database' if jobs_waiting else 'still starting'})")
    if triton.state is State.READY:
        parts.append("Triton")
    elif triton.state is State.STARTING:
        parts.append("Triton (still loading its models)")
    stopped = ", then ".join(parts) if parts else "nothing is running"
    return f"stopping: {stopped} ..." if announced else f"start-up interrupted: stopping {stopped} ..."


# What `phonos serve` listens on, and the setting and flag that choose each port (Triton's own ports are
# internal, picked free at start: TritonPorts.pick).
LISTENERS = (("HTTP", "http_host", "http_port", "PHONOS_HTTP_PORT or --http-port", "PHONOS_HTTP_HOST or --http-host"),
             ("gRPC", "grpc_host", "grpc_port", "PHONOS_GRPC_PORT or --grpc-port", "PHONOS_GRPC_HOST"),
             ("metrics", "metrics_host", "metrics_port", "PHONOS_METRICS_PORT or --metrics-port",
              "PHONOS_METRICS_HOST"))


def taken_port(settings: ServiceSettings) -> str | None:
    """What is wrong with the first listener that cannot be had (an address this machine lacks, a port in use
    or asked for twice), worded as the job service words it (jobservice.server.CannotListen); None when every
    one is free (0: any port)."""
    from jobservice.server import CannotListen

    seen: dict[int, str] = {}
    in_use: list[tuple[str, str, int, str]] = []
    for what, host_field, port_field, choose, choose_host in LISTENERS:
        host, port = getattr(settings, host_field), getattr(settings, port_field)
        if not is_local_address(host):  # a typo in the host is not "the port is in use"
            return (f"cannot listen for {what} on {json_value_text(host)}: not an address of this machine; "
                    f"choose another with {choose_host} (127.0.0.1, or 0.0.0.0 for every interface)")
        if port == 0:
            continue
        if port in seen:
            return f"{seen[port]} and {what} both ask for port {port}; choose another with {choose}"
        seen[port] = what
        if not can_listen(host, port):
            in_use.append((what, host, port, choose))
    if len(in_use) == 1:
        return str(CannotListen(*in_use[0]))
    # Every port in use said at once, with free ones to use: a second `phonos serve` on a shared host met the
    # HTTP port, then on the next try the gRPC port, then the metrics port (a newcomer's three tries).
    return taken_ports_said(in_use, set(seen)) if in_use else None


def taken_ports_said(in_use: list[tuple[str, str, int, str]], asked: set[int]) -> str:
    """One line for several listeners whose ports are in use: each one, and flags with ports free now."""
    where = ", ".join(f"{what} on {host}:{port}" for what, host, port, _ in in_use)
    settings = ", ".join(choose.split(" or ")[0] for _, _, _, choose in in_use)
    flags = []
    for _, host, port, choose in in_use:
        flag = choose.split(" or ")[-1]
        free = next((p for p in range(port + 1, min(port + 200, 65536)) if p not in asked and can_listen(host, p)),
                    None)
        if free is not None:
            asked.add(free)
            flags.append(f"{flag} {free}")
    example = f" (free now: {' '.join(flags)})" if len(flags) == len(in_use) else ""
    return (f"cannot listen for {where}: the ports are in use (or the address is not this machine's); choose others "
            f"with {settings} or their flags{example}")


def owner_free(settings: ServiceSettings) -> bool:
    """No job service owns the (SQLite) data directory; else say which, before a Triton is started for
    nothing (its log would go into the running instance's Triton log)."""
    if settings.sqlite_path is None:
        return True  # PostgreSQL: many job services share the state
    lock = DataDirLock(settings.data_dir)
    try:
        lock.acquire()
    except DataDirLocked as exc:
        print(said_error(f"{exc}; stop it first, or give this one another --data-dir"), file=sys.stderr)
        return False
    lock.release()
    return True


# A crash, a restart and a child ready again happen among the job service's log lines, hours after the banner: they
# are log records as those are (a time, a level, `action=`, JSON under PHONOS_LOG_FORMAT=json), on stderr. Their
# own logger and handler: the launcher's root logger stays as it was (imported modules' records unchanged).
supervision_log = logging.getLogger("launcher.supervision")
supervision_log.propagate = False


def log_supervision_as(log_format: str) -> None:
    """This process's log lines: supervision's, and the schema's migration line of the first-account step (which
    opens the database, so migrates it, before the job service starts: the line the job service would log on its
    first start was lost here)."""
    for logger in (supervision_log, logging.getLogger(say_migrated.__module__)):
        for old in list(logger.handlers):
            logger.removeHandler(old)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(formatter(log_format))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def report(event: Event, triton: TritonChild, jobs: JobServiceChild) -> bool:
    """Say what happened; False when supervision gave up."""
    if event.kind == "gave_up":
        print(said_error(f"{event.message}; stopping everything"), file=sys.stderr, flush=True)
        return False
    fields = {"action": f"supervisor.{event.kind}", "child": event.child}
    if event.kind == "crashed":
        supervision_log.warning(event.message, extra=fields)
    elif event.kind in ("restarting", "ready_again"):
        pid = _pid(triton, jobs, event.child)
        supervision_log.info(f"{event.message}{f' (pid {pid})' if event.kind == 'ready_again' else ''}",
                             extra={**fields, **({"pid": pid} if event.kind == "ready_again" else {})})
    return True


def api_operational(settings: ServiceSettings, jobs: JobServiceChild) -> bool:
    """The job service itself reports every model ready (it may notice Triton a little after we do)."""
    try:
        url = reachable(settings.http_host).url(jobs.ready_info["http_port"], "/v1/health")
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, KeyError):  # URLError and HTTPError (a 503 while degraded) are OSErrors
        return False


def announce(settings: ServiceSettings, triton: TritonChild, jobs: JobServiceChild, first: FirstStart | None) -> None:
    data_dir = settings.data_dir
    lines = [f"Triton ready:  {triton.grpc_url} (internal; pid {_pid(triton, jobs, triton.name)}; models: "
             f"{', '.join(triton.models)}; log {triton.log_path})"]
    # Once per start. A first start's generated password is the line, unless it was changed while the models loaded
    # (`phonos users set-password`): then it is not printed as if it worked (a tester signed in with it: 401).
    shown = first if first is not None and first_password_holds(settings, first) else None
    holder = None if shown is not None else asyncio.run(password_holder(settings, FIRST_USER))
    program = operator_program()
    sign_in = sign_in_line(shown, holder, data_dir=data_dir, program=program, postgres=bool(settings.database_url))
    lines += endpoint_lines(settings, jobs.ready_info, sign_in)
    if first is not None:  # the key was printed above the start-up: say how to use it, with this address
        lines.append(first_job_line(settings, jobs.ready_info, program))
    lines += [f"job service:   pid {_pid(triton, jobs, jobs.name)}", f"data dir:      {data_dir}",
              "weights: tiny random weights unless PHONOS_*_WEIGHTS_DIR is set - NOT real predictions"]
    for line in lines:  # each fitted to the terminal, between words; piped (logs, tests), as it always was
        print(banner_line(line), flush=True)


def first_password_holds(settings: ServiceSettings, first: FirstStart) -> bool:
    """Whether the first start's generated password still signs admin in; a database that cannot be asked now (it
    answered the job service a moment ago) leaves the line as it was: the banner is not the place to fail."""
    try:
        return asyncio.run(password_still(settings, username=FIRST_USER, password=first.password))
    except Exception:  # noqa: BLE001 - any failure of the look: the banner as before it existed
        return True


def _pid(triton: TritonChild, jobs: JobServiceChild, name: str) -> int | None:
    if name == triton.name:
        return triton.process.process.pid if triton.process else None
    return jobs.popen.pid if jobs.popen else None


