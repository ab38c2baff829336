"""Shared fixtures: a real tritonserver, real job-service processes, and in-process job services on the
in-memory inference twin, all on free loopback ports."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The light client package (clients/python, its own pyproject) is imported from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "clients" / "python"))

from jobservice.memory_inference import InMemoryInference  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402
from tests.support import (  # noqa: E402
    REPO,
    TRITON_CRASHES,
    WATCHED_TRITONS,
    InProcessService,
    ServiceProcess,
    TritonFixture,
    reaped,
    watched_for_crashes,
)

TIERS = ("unit", "integration", "e2e")
ARTIFACTS = REPO / "artifacts"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module that sets `STORES = ALL_STORES` (tests/support.py) runs every test that uses `twin_service` or
    `twin_factory` on each store; tests marked `sqlite_only` stay on SQLite, their reason beside them."""
    if "store" in metafunc.fixturenames:
        stores = getattr(metafunc.module, "STORES", ("sqlite",))
        if metafunc.definition.get_closest_marker("sqlite_only"):
            stores = ("sqlite",)
        metafunc.parametrize("store", stores, indirect=True, scope="module")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test belongs to exactly one tier (pyproject.toml says what each means)."""
    wrong = []
    for item in items:
        tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if len(tiers) != 1:
            wrong.append(f"{item.nodeid}: {sorted(tiers) or 'no tier'}")
    if wrong:
        raise pytest.UsageError("every test needs exactly one tier marker (unit, integration or e2e):\n"
                                + "\n".join(wrong))
    if config.pluginmanager.hasplugin("rerunfailures"):
        for item in items:
            item.add_marker(pytest.mark.flaky(reruns=1, condition=_shared_triton_crashed_during(item.nodeid)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadfile` (scripts/test.sh) hands out the slowest files first (tests/scheduling.py); any other
    distribution is xdist's own."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.scheduling import SlowestFileFirst

    return SlowestFileFirst(config, log)


# The session's shared tritonserver (once started) and its crashes. Triton 2.51's gRPC server can segfault as a
# stream ends (a cancellation race, fixed upstream in triton-inference-server/server PR 8078; the pytriton wheel
# pins 2.51): `restarted_on_crash` starts it again, and a test that failed while it was down runs once more, after
# it serves again (pytest-rerunfailures' "R"). A test that fails with the server up is never run again.
_SHARED_TRITON_CRASHES = TRITON_CRASHES  # shared with the module servers watched the same way (WATCHED_TRITONS)
_ATTEMPT_STARTED: dict[str, float] = {}


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _ATTEMPT_STARTED[nodeid] = time.monotonic()


def _shared_triton_crashed_during(nodeid: str) -> Callable[[], bool]:
    def crashed() -> bool:
        """Whether the shared server died (or was still starting again) during this attempt; waits until it serves."""
        if not WATCHED_TRITONS:
            return False
        crashes, seen = _SHARED_TRITON_CRASHES, len(_SHARED_TRITON_CRASHES.times)
        if any(t.process.process.poll() is not None for t in WATCHED_TRITONS):  # dead, perhaps not yet seen by its watch
            deadline = time.monotonic() + 5
            while len(crashes.times) == seen and time.monotonic() < deadline:
                time.sleep(0.1)
        elif crashes.serving.is_set() and not any(t >= _ATTEMPT_STARTED.get(nodeid, math.inf) for t in crashes.times):
            return False
        crashes.serving.wait(timeout=330)
        sys.stderr.write(f"\ntests: {nodeid} failed while the shared tritonserver was down; running it again\n")
        return True

    return crashed


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The slowest test files, setup and teardown included: the suite has a 20-minute budget, and a module's
    fixtures (a server start) often cost more than any one test that --durations lists."""
    totals: dict[str, float] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                path = report.nodeid.split("::", 1)[0]
                totals[path] = totals.get(path, 0.0) + report.duration
    if not totals:
        return
    # Every file's figure, for tests/scheduling.py's FILE_SECONDS (the order a run with workers hands files out).
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "test-file-seconds.json").write_text(
        json.dumps({path: round(seconds, 1) for path, seconds in sorted(totals.items(), key=lambda item: -item[1])},
                   indent=1) + "\n")
    terminalreporter.write_sep("=", "slowest 15 test files (setup + call + teardown)")
    for path, seconds in sorted(totals.items(), key=lambda item: -item[1])[:15]:
        terminalreporter.write_line(f"{seconds:8.2f}s {path}")


# Settings come only from what each test passes explicitly.
for _name in [n for n in os.environ if n.startswith("PHONOS_")]:
    del os.environ[_name]
# pytest-xdist gives each worker COLUMNS (the controller's width, 80 without a terminal): the CLIs would then fit
# their output to 80 columns where a single process finds no terminal and fits nothing. A test of a width sets it.
if "PYTEST_XDIST_WORKER" in os.environ:
    os.environ.pop("COLUMNS", None)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The client's config and its `config.answered` notes (clients/python/phonos_client/config.py) go to a directory of
# this run, never the real home: CLI commands run by tests (in process, or as children inheriting the environment)
# wrote ~/.config/phonos/config.answered, and an address noted by one run changed how the next run's first refused
# request behaves. Tests of the path rules set or clear PHONOS_CONFIG themselves.
os.environ["PHONOS_CONFIG"] = str(Path(tempfile.mkdtemp(prefix="phonos-test-config-")) / "config.toml")


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2() -> Iterator[None]:
    """Passwords hashed in this process use Argon2id at its smallest cost (t=1, 8 KiB, one lane) instead of the
    RFC 9106 profile (t=3, 64 MiB, 4 lanes: ~0.15-0.5 s a hash on two cores, and every sign-in verifies one).
    Verification reads its parameters from the stored hash, so what a test proves about passwords, sessions and
    throttles is unchanged; what it costs is not under test here. The production parameters are checked where a
    real operator command (a child process, untouched by this) sets a password:
    tests/service/test_keys_and_sessions.py::test_cli_sets_a_password_that_signs_in_and_refuses_a_short_one."""
    from argon2 import PasswordHasher

    from jobservice import passwords

    production = passwords._HASHER
    passwords._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    passwords._dummy_hash.cache_clear()
    yield
    passwords._HASHER = production
    passwords._dummy_hash.cache_clear()


@pytest.fixture(scope="session")
def shared_triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonFixture]:
    """A real tritonserver serving the tiny ESMFold and DiffDock models as shipped (and the echo model), for every
    test that needs no server of its own (no other settings, nothing stopped or broken): each start costs ~15-20 s
    on two cores; started again on the same ports if it crashes (`restarted_on_crash`), killed at the end of the
    session (`reaped`)."""
    with reaped(TritonFixture.start(["esmfold", "diffdock", "echo"], tmp_path_factory.mktemp("triton"))) as triton, \
            watched_for_crashes(triton):
        yield triton


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server (Debian's package, unprivileged user, temporary directory) per session;
    tests take fresh databases from it with `postgres.new_store_url()`."""
    with PostgresServer.start() as server:
        yield server


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the requesting module's own, for tests that stop, pause or stall it (the session's
    `postgres` is shared by other modules and must keep running)."""
    with PostgresServer.start() as server:
        yield server


@pytest.fixture
def service_factory(tmp_path: Path) -> Iterator[type]:
    """Start job-service processes; every one started is stopped at teardown."""
    started: list[ServiceProcess] = []

    class Factory:
        @staticmethod
        def start(triton_url: str, data_dir: Path | None = None, **env: str) -> ServiceProcess:
            process = ServiceProcess.start(data_dir or tmp_path / "var", triton_url, env)
            started.append(process)
            return process

    yield Factory
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def store(request: pytest.FixtureRequest) -> str:
    """"sqlite" or "postgres": which store the job services of a test use (see ALL_STORES)."""
    return str(getattr(request, "param", "sqlite"))


def store_env(store: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The settings that put a job service on `store`; PostgreSQL gets a fresh database of the session server."""
    if store == "sqlite":
        return {}
    server: PostgresServer = request.getfixturevalue("postgres")
    return {"PHONOS_DATABASE_URL": server.new_store_url("svc")}


@pytest.fixture
def twin_factory(tmp_path: Path, store: str, request: pytest.FixtureRequest) -> Iterator[type]:
    """Start in-process job services on the in-memory inference twin; every one started is stopped. On
    PostgreSQL all services of one test share one database (as a restart, or as replicas, would)."""
    started: list[InProcessService] = []
    database = store_env(store, request)

    class Factory:
        @staticmethod
        def start(data_dir: Path | None = None, inference: InMemoryInference | None = None, *,
                  grpc_port: int = 0, http_port: int = 0, **env: str) -> InProcessService:
            service = InProcessService(data_dir or tmp_path / "var", {**database, **env}, inference,
                                       grpc_port=grpc_port, http_port=http_port)
            started.append(service)
            return service

    yield Factory
    for service in started:
        service.stop()


@pytest.fixture(scope="module")
def twin_service(tmp_path_factory: pytest.TempPathFactory, store: str,
                 request: pytest.FixtureRequest) -> Iterator[InProcessService]:
    """One in-process job service on the twin, shared by a module's tests (each test uses its own keys)."""
    service = InProcessService(tmp_path_factory.mktemp("service"), store_env(store, request))
    yield service
    service.stop()
