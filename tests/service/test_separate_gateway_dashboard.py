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

from gateway import __main__ as gateway_main
from jobservice import admin
from tests.serve_process import separate_gateway
from tests.support import InProcessService, wait_until

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


def test_a_separate_gateway_traces_its_requests_into_the_callers_trace(twin_factory: type, tmp_path: Path) -> None:
    """PHONOS_TRACING_EXPORTER was read only by `python -m jobservice`: a gateway in its own process (deploy/)
    recorded no span, so a trace began at the job service and the caller's traceparent went nowhere."""
    from tests.e2e.test_observability_e2e import CALLER_SPAN, TRACE_ID, OtlpReceiver

    service: InProcessService = twin_factory.start(data_dir=tmp_path / "var")
    key = service.new_key(username="ada", credits=100)
    with OtlpReceiver() as receiver:
        with separate_gateway(service.grpc_target, PHONOS_TRACING_EXPORTER="otlp",
                              PHONOS_TRACING_OTLP_ENDPOINT=receiver.url, OTEL_BSP_SCHEDULE_DELAY="100") as gateway:
            answer = requests.get(f"{gateway}/v1/models", timeout=30, headers={
                "Authorization": f"Bearer {key}", "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"})
            assert answer.status_code == 200
            assert wait_until(lambda: any(span.name == "GET /v1/models" for span in receiver.spans), 20)
    [http] = [span for span in receiver.spans if span.name == "GET /v1/models"]
    assert http.trace_id.hex() == TRACE_ID and http.parent_span_id.hex() == CALLER_SPAN


@pytest.mark.parametrize(("variable", "value"), [("PHONOS_BODY_TIMEOUT_S", "soon"), ("PHONOS_TRACING_EXPORTER", "jaeger")])
def test_a_separate_gateway_names_a_bad_setting_instead_of_a_traceback(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    assert gateway_main.main(["--target", "127.0.0.1:1", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {variable} ") and "Traceback" not in err and len(err.splitlines()) == 1
