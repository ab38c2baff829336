"""The dashboard's browser tests: a real tritonserver (tiny ESMFold and DiffDock: the session's, tests/conftest.py),
a real job service and Debian's Chromium driven by Playwright (launched with the system browser: nothing is
downloaded). Each test module gets its own service and browser (module scope): tests/ has no __init__.py, so a "package" scope would
last the whole session, and Playwright's sync API would keep its event loop running in the main
thread under every later test's asyncio.run().
Screenshots of every page go to artifacts/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

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


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: run scripts/install.sh"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
