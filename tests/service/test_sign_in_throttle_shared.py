"""The failed sign-in limits are the store's, not a job service's: on PostgreSQL two job services behind one load
balancer count the same failures (a password sprayer gets the limit once, not once per service), and on SQLite a
restarted job service still refuses what the stopped one counted. Real job services (in process, on the inference
twin) over HTTP, as a browser signs in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import requests

from jobservice import admin
from jobservice.sessions import FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE, FAILED_SIGN_INS_PER_MINUTE
from tests.support import ALL_STORES, InProcessService

pytestmark = pytest.mark.integration
STORES = ALL_STORES

PASSWORD = "correct horse battery staple"


def attempt(service: InProcessService, username: str, password: str) -> requests.Response:
    return requests.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": password},
                         timeout=30)


def test_failed_sign_ins_count_across_job_services_and_restarts(twin_factory: type, tmp_path: Path,
                                                                store: str) -> None:
    first: InProcessService = twin_factory.start(data_dir=tmp_path / "a")
    for name in ("ada", "bob"):
        first.new_key(username=name)
        asyncio.run(admin.set_password(first.settings, username=name, password=PASSWORD))
    if store == "postgres":  # a second job service on the same database, both serving
        services = [first, twin_factory.start(data_dir=tmp_path / "a")]  # the shared results directory too
    else:  # SQLite has one job service at a time: the second is the first restarted on its data directory
        services = [first]

    # Successes count for nothing, as before.
    for service in services:
        assert attempt(service, "ada", PASSWORD).status_code == 200
    # ada's wrong passwords, through each service in turn: the limit is one for all of them.
    codes = [attempt(services[n % len(services)], "ada", "wrong wrong wrong").status_code
             for n in range(FAILED_SIGN_INS_PER_MINUTE)]
    assert codes == [401] * FAILED_SIGN_INS_PER_MINUTE
    if store == "sqlite":
        first.stop()
        services = [twin_factory.start(data_dir=tmp_path / "a")]
    for service in services:
        refused = attempt(service, "ada", PASSWORD)  # the right password too: before any hash or lookup
        assert refused.status_code == 429, refused.text
        assert refused.json()["message"].startswith('Too many failed sign-ins for "ada"; try again in ')
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert "set-cookie" not in {name.lower() for name in refused.headers}
    assert attempt(services[-1], "bob", PASSWORD).status_code == 200  # per username

    # A spray over many usernames from one address (all loopback here), through each service: the address's
    # limit holds across them (ada's failures above count too).
    sprayed = FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE - FAILED_SIGN_INS_PER_MINUTE
    codes = [attempt(services[n % len(services)], f"sprayed{n}", "wrong wrong wrong").status_code
             for n in range(sprayed)]
    assert codes == [401] * sprayed
    for service in services:
        refused = attempt(service, "bob", PASSWORD)
        assert refused.status_code == 429, refused.text
        assert refused.json()["message"].startswith("Too many failed sign-ins from this address; try again in ")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
