"""A Triton we start keeps job data and its controls to the service (a security review's two findings).

1. Its python-backend shared-memory regions, which carry every request's tensors, were 0644 in /dev/shm (Boost
   fchmods them so whatever the umask): any local user could read the sequences. They are 0600 now, before a
   request can reach them, and so are those of a model reloaded later (launcher/shm_guard.py).
2. Its HTTP and gRPC APIs had no authentication: any local user, or any account through a webhook pointed at
   loopback, could unload models, map shared memory or infer without credits. Everything but health and metadata
   now wants the per-start secret (phonos_config/triton_access.py), which every caller we ship sends.

One server (the echo model: ready in about a second) serves every test here.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from jobservice.inference import InferenceUnavailable
from jobservice.triton_inference import TritonInference
from launcher.triton import SHM_DIR, SHM_PREFIX, TritonProcess
from phonos_config.triton_access import GRPC_HEADER, HEADER
from tests.contract.test_inference_contract import echo_request
from tests.support import TritonFixture, infer_through_the_port, reaped, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonFixture]:
    secret = secrets.token_urlsafe(32)
    with reaped(TritonFixture.start(["echo"], tmp_path_factory.mktemp("locked"), api_secret=secret)) as triton:
        yield triton


def regions_of(process: TritonProcess) -> dict[str, int]:
    """{name: permission bits} of the regions the server's processes map now."""
    modes = {}
    for name in process.shm_files():
        if name.startswith(SHM_PREFIX):
            try:
                modes[name] = stat.S_IMODE((SHM_DIR / name).stat().st_mode)
            except FileNotFoundError:
                continue
    return modes


def echo(url: str, text: str, secret: str) -> str:
    result = infer_through_the_port(url, "echo", echo_request(text).inputs, timeout_s=30, api_secret=secret)
    return result.files[0].content.decode()


def test_its_shm_regions_are_private_and_named_for_this_start(locked: TritonFixture) -> None:
    echo(locked.grpc_url, "MKTAYIAKQR", locked.api_secret)  # data has been through them
    modes = regions_of(locked.process)
    assert modes, "the echo model's stub maps a region"
    assert set(modes.values()) == {0o600}, {name: oct(mode) for name, mode in modes.items()}
    prefix = locked.process.shm_prefix
    assert prefix is not None and prefix.startswith(SHM_PREFIX) and prefix != SHM_PREFIX
    assert all(name.startswith(prefix) for name in modes)  # the cleanup's SHM_PREFIX still matches them


def test_the_shared_servers_regions_are_private_too(shared_triton: TritonFixture) -> None:
    """Unlocked (tests talk to it with plain clients), its regions are still 0600: the guard runs for every server
    launcher.triton starts."""
    modes = regions_of(shared_triton.process)
    assert modes and set(modes.values()) == {0o600}, {name: oct(mode) for name, mode in modes.items()}


def test_a_model_reloaded_later_gets_private_regions_before_it_serves(locked: TritonFixture) -> None:
    """A reload starts a new stub with a new region: it is 0600 by the time the model is ready again, the
    earliest a request could be written into it."""
    before = set(regions_of(locked.process))
    headers = {HEADER: locked.api_secret}
    unloaded = requests.post(f"{locked.process.http_url}/v2/repository/models/echo/unload", headers=headers, timeout=60)
    assert unloaded.status_code == 200, unloaded.text
    wait_until(lambda: not locked.process.model_ready("echo"), 30)
    started = time.monotonic()
    answer = requests.post(f"{locked.process.http_url}/v2/repository/models/echo/load", headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    ready_s = time.monotonic() - started
    new = {name: mode for name, mode in regions_of(locked.process).items() if name not in before}
    assert new, "the reload made a new region"
    assert set(new.values()) == {0o600}, {name: oct(mode) for name, mode in new.items()}
    # How long the region existed before its model was ready again: the guard (every POLL_S) had that long.
    created = min(os.stat(SHM_DIR / name).st_ctime for name in new)
    print(f"reload: ready after {ready_s:.3f} s; region made {time.time() - created:.3f} s before this check")
    assert echo(locked.grpc_url, "again", locked.api_secret) == "again"


def test_everything_but_health_and_metadata_wants_the_secret_over_http(locked: TritonFixture) -> None:
    url = locked.process.http_url
    refused = {
        "unload": ("POST", "/v2/repository/models/echo/unload"), "load": ("POST", "/v2/repository/models/echo/load"),
        "index": ("POST", "/v2/repository/index"), "config": ("GET", "/v2/models/echo/config"),
        "stats": ("GET", "/v2/models/stats"), "shared memory": ("GET", "/v2/systemsharedmemory/status"),
        "register shared memory": ("POST", "/v2/systemsharedmemory/region/x/register"),
        "trace": ("GET", "/v2/trace/setting"), "logging": ("GET", "/v2/logging"),
        "infer": ("POST", "/v2/models/echo/infer"),
    }
    for what, (method, path) in refused.items():
        for headers in ({}, {HEADER: "not-" + locked.api_secret}):
            answer = requests.request(method, url + path, json={}, headers=headers, timeout=10)
            assert answer.status_code == 403 and "restricted" in answer.text, (what, headers, answer.text)
    assert locked.process.model_ready("echo")  # nothing above unloaded it
    index = requests.post(f"{url}/v2/repository/index", json={}, headers={HEADER: locked.api_secret}, timeout=10)
    assert index.status_code == 200 and {"name": "echo", "version": "1", "state": "READY"} in index.json()
    for path in ("/v2/health/live", "/v2/health/ready", "/v2/models/echo/ready", "/v2/models/echo", "/v2"):
        assert requests.get(url + path, timeout=10).status_code == 200, path
    assert requests.get(locked.process.metrics_url, timeout=10).status_code == 200  # Prometheus: as it was


def test_everything_but_health_and_metadata_wants_the_secret_over_grpc(locked: TritonFixture) -> None:
    client = grpcclient.InferenceServerClient(locked.grpc_url)
    try:
        for call in (lambda h: client.unload_model("echo", headers=h), lambda h: client.get_model_config("echo", headers=h),
                     lambda h: client.get_model_repository_index(headers=h),
                     lambda h: client.get_inference_statistics(headers=h),
                     lambda h: client.get_system_shared_memory_status(headers=h),
                     lambda h: client.get_trace_settings(headers=h), lambda h: client.get_log_settings(headers=h)):
            for headers in (None, {HEADER: locked.api_secret}, {GRPC_HEADER: "not-" + locked.api_secret}):
                with pytest.raises(InferenceServerException, match="restricted"):
                    call(headers)
        assert client.is_model_ready("echo") and client.get_model_metadata("echo").name == "echo"
        assert client.get_model_config("echo", headers={GRPC_HEADER: locked.api_secret}).config.name == "echo"
    finally:
        client.close()


def test_the_job_services_client_sends_the_secret_and_says_which_setting_is_wrong(locked: TritonFixture) -> None:
    assert echo(locked.grpc_url, "hello", locked.api_secret) == "hello"

    async def outcome(secret: str) -> tuple[str, int | None]:
        inference = TritonInference(locked.grpc_url, api_secret=secret)
        try:
            capacity = await inference.capacity("echo")  # the model's config: locked too
            try:
                await inference.infer(echo_request("hello"))
            except InferenceUnavailable as exc:
                return str(exc), capacity
            return "served", capacity
        finally:
            await inference.close()

    assert asyncio.run(outcome(locked.api_secret)) == ("served", 8)  # one instance, batches of 8
    unset, capacity = asyncio.run(outcome(""))
    assert "PHONOS_TRITON_API_SECRET is unset" in unset and capacity is None
    wrong, _ = asyncio.run(outcome("x" * 40))
    assert "refused PHONOS_TRITON_API_SECRET" in wrong and "x" * 40 not in wrong


def test_a_job_service_given_the_secret_runs_jobs_on_it(locked: TritonFixture, service_factory: type) -> None:
    service = service_factory.start(locked.grpc_url, PHONOS_MODELS="echo", PHONOS_TRITON_API_SECRET=locked.api_secret)
    client = service.client(service.new_key(credits=100))
    job_id = client.post("/v1/predict", json={"model": "echo", "sequence": "hello"}).json()["job_id"]
    assert client.wait_for(job_id, timeout_s=60)["status"] == "completed"
    assert client.get("/v1/health").json()["components"]["echo"] == "ready"
    # Neither its log nor its /metrics says the secret.
    assert not [line for line in service.log_lines if locked.api_secret in line]
    assert service.metrics_port is not None
    scrape = requests.get(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=10).text
    assert locked.api_secret not in scrape


def test_the_secret_is_not_in_its_log(locked: TritonFixture) -> None:
    log_path = locked.process.log_path
    assert log_path is not None
    wait_until(lambda: Path(log_path).exists(), 10)
    assert locked.api_secret not in Path(log_path).read_text(errors="replace")
