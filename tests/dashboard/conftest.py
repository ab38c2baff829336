"""The dashboard's browser tests: a real tritonserver (tiny ESMFold and DiffDock: the session's, tests/conftest.py),
a real job service and Debian's Chromium driven by Playwright (launched with the system browser: nothing is
downloaded). Each test module gets its own service (module scope). The browser is one Chromium for the whole
directory: each module gets it with no browser contexts open (those of the module before are closed, as closing
the browser did), and it is closed after the directory's last test (`pytest_runtest_teardown` below), not at the
session's end: Playwright's sync API keeps its event loop running in the main thread, under every later test's
asyncio.run(). Starting Playwright's driver and Chromium cost ~2-5 s on two cores, once per module before.
Screenshots of every page go to artifacts/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.dashboard.pages_helpers import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, User, make_user
from tests.support import ServiceProcess, TritonFixture

# What a page shows after its requests come back: 5 s (Playwright's default) was short for two job lists under a
# loaded two-core machine (the compare card's, once); a wait ends as soon as the page shows it either way.
expect.set_options(timeout=15_000)


@pytest.fixture(scope="module")
def triton(shared_triton: TritonFixture) -> TritonFixture:
    """The session's tritonserver (tiny ESMFold and DiffDock): the pages need real folds and docks, not a server
    of their own."""
    return shared_triton


@pytest.fixture(scope="module")
def service(triton: TritonFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    # One job per model at a time, so a long job holds the next one pending (the live-table test).
    process = ServiceProcess.start(tmp_path_factory.mktemp("dashboard") / "var", triton.grpc_url, {
        "PHONOS_MODELS": "esmfold,diffdock", "PHONOS_MAX_INFLIGHT_PER_MODEL": "1",
    })
    yield process
    process.stop()


@pytest.fixture(scope="module")
def ada(service: ServiceProcess) -> User:
    return make_user(service, "ada")


@pytest.fixture(scope="module")
def bob(service: ServiceProcess) -> User:
    return make_user(service, "bob")


# The directory's Playwright and Chromium while its tests run: (Playwright, Browser), or empty.
_SHARED: list[tuple[Playwright, Browser]] = []
# The browser while a module's `browser` fixture holds it (set up, not yet torn down).
_IN_USE: list[Browser] = []
# The test after the one being torn down (pytest_runtest_teardown's nextitem).
_NEXT: list[pytest.Item | None] = []
DASHBOARD_DIR = Path(__file__).resolve().parent


def _open_browser() -> Browser:
    """The running Chromium, started (with Playwright's driver) if there is none or it has gone."""
    if _SHARED and _SHARED[0][1].is_connected():
        return _SHARED[0][1]
    _close_browser()
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/install.sh"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except BaseException:
        playwright.stop()
        raise
    _SHARED.append((playwright, chromium))
    return chromium


def _close_browser() -> None:
    """Chromium closed and Playwright's driver stopped (its event loop leaves the main thread)."""
    while _SHARED:
        playwright, chromium = _SHARED.pop()
        try:
            with contextlib.suppress(PlaywrightError):
                chromium.close()
        finally:
            playwright.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for this module; its browser contexts (sign-ins, pages) are closed when the module ends."""
    chromium = _open_browser()
    _IN_USE.append(chromium)
    try:
        yield chromium
    finally:
        _IN_USE.remove(chromium)
    for context in list(chromium.contexts):
        with contextlib.suppress(PlaywrightError):
            context.close()
    if _NEXT and _leaving(_NEXT[0]):  # torn down late (a re-run that did not happen): the hook below has run
        _close_browser()


def _leaving(nextitem: pytest.Item | None) -> bool:
    """Whether the next test (None: none) is outside this directory."""
    return nextitem is None or DASHBOARD_DIR not in Path(str(nextitem.path)).resolve().parents


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the fixtures of a test are torn down: the browser is closed when the next test is not a dashboard
    test (or there is none), so that no later test runs with Playwright's loop in its thread."""
    _NEXT[:] = [nextitem]
    yield
    # Not while a module still holds it: a test to be run again (pytest-rerunfailures) keeps its module's
    # fixtures, and the `browser` fixture closes it when they are torn down.
    if _SHARED and not _IN_USE and _leaving(nextitem):
        _close_browser()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run stopped inside the directory (-x, Ctrl-C) leaves no Chromium or driver behind."""
    _close_browser()
