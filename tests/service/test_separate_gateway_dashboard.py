"""The dashboard through a separate gateway process (`python -m gateway`, the deployment of deploy/compose.yaml and
deploy/kubernetes): sign-in, a session's reads and writes, sign-out, against a real job service (in process, on the
inference twin) over gRPC.

Sign-in has no key to show the job service's edge: it was refused there as a call without a key ("Missing API
key"), so nobody could sign in to a gateway on another process or host.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import requests

from jobservice import admin
from tests.serve_process import separate_gateway
from tests.support import InProcessService

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"


def test_a_person_signs_in_works_and_signs_out_through_a_separate_gateway(twin_factory: type, tmp_path: Path) -> None:
    service: InProcessService = twin_factory.start(data_dir=tmp_path / "var")
    service.new_key(username="ada", credits=100)
    asyncio.run(admin.set_password(service.settings, username="ada", password=PASSWORD))
    with separate_gateway(service.grpc_target) as gateway:
        browser = requests.Session()
        browser.headers["Origin"] = gateway
        wrong = browser.post(f"{gateway}/auth/sign-in", json={"username": "ada", "password": "not it at all"},
                             timeout=30)
        assert wrong.status_code == 401 and wrong.json()["message"] == "Wrong username or password."
        signed_in = browser.post(f"{gateway}/auth/sign-in", json={"username": "ada", "password": PASSWORD},
                                 timeout=30)
        assert signed_in.status_code == 200, signed_in.text
        csrf = signed_in.json()["csrf_token"]
        assert browser.get(f"{gateway}/auth/session", timeout=30).json()["username"] == "ada"

        job = browser.post(f"{gateway}/v1/predict", json={"model": "esmfold", "sequence": "MKTVRQERLKSIVRIL"},
                           headers={"X-CSRF-Token": csrf}, timeout=30)
        assert job.status_code == 200, job.text
        listed = browser.get(f"{gateway}/v1/jobs", timeout=30).json()["jobs"]
        assert [j["job_id"] for j in listed] == [job.json()["job_id"]]
        assert browser.get(f"{gateway}/jobs", headers={"Accept": "text/html"}, timeout=30).status_code == 200

        assert browser.post(f"{gateway}/auth/sign-out", json={}, headers={"X-CSRF-Token": csrf},
                            timeout=30).status_code == 200
        assert browser.get(f"{gateway}/v1/jobs", timeout=30).status_code == 401
