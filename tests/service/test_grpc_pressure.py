"""The job service's gRPC port bounds what clients hold in progress, as the REST edge does: download slots per client
address and in all, held until grpc has sent the file, and request message bytes in flight (jobservice/grpc_in_flight.py).

Was: neither. Every DownloadJobOutput built its whole file in memory, and a client that read nothing held it until it
left: 40 unread downloads of a 32 MB result from one client took the job service from 0.1 to 3.9 GB
(bench/grpc_pressure.py), with no cap on how many one client opened; and gRPC submissions had no byte budget, only the
request rate."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from phonos_client import Client

from jobservice import server as job_server
from jobservice.grpc_in_flight import Held
from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService, wait_until
from tests.unread_grpc import UnreadCall, job_with_output

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
FILE_BYTES = 3 * MIB  # any size (the unread client's window is shut), under a grpc client's 4 MiB receive limit
DOWNLOAD = "/phonos.v1.PhonosService/DownloadJobOutput"
FORWARDED = "x-phonos-client-address"  # what a trusted proxy (a separate gateway) names its client by


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(tmp_path_factory.mktemp("grpc_pressure"), {
        "PHONOS_GRPC_DOWNLOADS_PER_CLIENT": "2", "PHONOS_GRPC_MAX_DOWNLOADS": "3",
        "PHONOS_GRPC_UPLOAD_BYTES_PER_CLIENT": str(3 * MIB), "PHONOS_GRPC_MAX_UPLOAD_BYTES": str(5 * MIB),
        # The test's calls come from 127.0.0.1, which is then a trusted proxy, as a separate gateway is: its
        # calls name the client they are made for.
        "PHONOS_TRUSTED_PROXIES": "127.0.0.1",
    })
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def big_job(service: InProcessService) -> tuple[str, str]:
    """(key, job id): a download of FILE_BYTES."""
    return job_with_output(service, FILE_BYTES)


def unread(service: InProcessService, key: str, job_id: str, client: str | None) -> UnreadCall:
    """A download whose file the server has read and is holding for a client that takes none of it."""
    metadata = [("authorization", f"Bearer {key}"), *([(FORWARDED, client)] if client else [])]
    call = UnreadCall(service.grpc_port, DOWNLOAD, pb.DownloadJobOutputRequest(job_id=job_id, format="pdb")
                      .SerializeToString(), metadata)
    assert call.started()
    return call


def download(service: InProcessService, key: str, job_id: str, client: str) -> tuple[grpc.StatusCode, Any, int]:
    """A download that is read, as a separate gateway makes it for `client`: (code, trailing metadata, bytes)."""
    channel, stub = service.grpc_stub()
    with channel:
        try:
            response, call = stub.DownloadJobOutput.with_call(
                pb.DownloadJobOutputRequest(job_id=job_id, format="pdb"),
                metadata=(("authorization", f"Bearer {key}"), (FORWARDED, client)), timeout=30)
        except grpc.RpcError as exc:
            return exc.code(), dict(exc.trailing_metadata() or ()), 0
    return call.code(), dict(call.trailing_metadata() or ()), len(response.file.data)


def refused(service: InProcessService, key: str, job_id: str, client: str) -> tuple[str, dict[str, str]]:
    """The details and trailers of a download refused for want of a slot."""
    channel, stub = service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as failed:
        stub.DownloadJobOutput(pb.DownloadJobOutputRequest(job_id=job_id, format="pdb"), timeout=30,
                               metadata=(("authorization", f"Bearer {key}"), (FORWARDED, client)))
    assert failed.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, failed.value.code()
    return failed.value.details(), dict(failed.value.trailing_metadata())


def closed(calls: list[UnreadCall]) -> None:
    for call in calls:
        call.close()


def nothing_in_progress(service: InProcessService) -> None:
    """Every earlier test's calls are over (their slots and bytes given back)."""
    assert service.running.in_flight is not None
    in_flight = service.running.in_flight
    wait_until(lambda: in_flight.downloads.in_progress == 0 and in_flight.request_bytes.in_progress == 0, timeout_s=15)


def test_a_client_past_its_download_slots_is_told_when_to_retry_while_others_download(
        service: InProcessService, big_job: tuple[str, str]) -> None:
    key, job_id = big_job
    nothing_in_progress(service)
    held = [unread(service, key, job_id, "10.0.0.1") for _ in range(2)]
    try:
        code, trailers, _ = download(service, key, job_id, "10.0.0.1")
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED, code  # was OK: a third (a thousandth) held file
        assert trailers["retry-after"] == "5"  # a 429 to the gateway and the SDK, which wait and ask again
        assert trailers["phonos-error-title"] == "Rate limit exceeded"
        assert trailers["x-request-id"]
        # Another client behind the same proxy (a separate gateway's other users) is not held up: counted per
        # the client the proxy names, not all under the proxy's address.
        assert download(service, key, job_id, "10.0.0.2")[::2] == (grpc.StatusCode.OK, FILE_BYTES)
        # The gateway in this process does not call through the gRPC port: its own slots count its clients.
        response = service.client(key).get(f"/v1/jobs/{job_id}/download?format=pdb",
                                           headers={"X-Forwarded-For": "10.0.0.1"})
        assert response.status_code == 200 and len(response.content) == FILE_BYTES
    finally:
        closed(held)
    # A client that leaves ends its calls (grpc frees their messages): its slots come back.
    wait_until(lambda: download(service, key, job_id, "10.0.0.1")[0] == grpc.StatusCode.OK, timeout_s=15)


def refusals(service: InProcessService, limit: str, scope: str) -> float:
    """phonos_grpc_in_flight_rejections_total{limit, scope} in a scrape of the service's /metrics."""
    return service.scrape().get(("phonos_grpc_in_flight_rejections_total", (("limit", limit), ("scope", scope))), 0.0)


def test_the_refusal_says_which_limit(service: InProcessService, big_job: tuple[str, str]) -> None:
    """...to the client, and to the operator's dashboard (a counter by limit and scope)."""
    key, job_id = big_job
    nothing_in_progress(service)
    before = {scope: refusals(service, "downloads", scope) for scope in ("client", "server")}
    held = [unread(service, key, job_id, client) for client in ("10.0.1.1", "10.0.1.1", "10.0.1.2")]
    try:
        details, _ = refused(service, key, job_id, "10.0.1.1")
        assert details == "Too many downloads in progress from your address (2 at once); wait for one to finish"
        assert refusals(service, "downloads", "client") == before["client"] + 1
        details, trailers = refused(service, key, job_id, "10.0.1.3")
        assert details == "Too many downloads in progress on this server (3 at once); try again in 5 s"
        assert trailers["retry-after"] == "5"
        assert refusals(service, "downloads", "server") == before["server"] + 1
    finally:
        closed(held)


def test_slots_are_given_back_once_each_file_is_sent(service: InProcessService, big_job: tuple[str, str]) -> None:
    key, job_id = big_job
    nothing_in_progress(service)
    assert service.running.in_flight is not None
    slots = service.running.in_flight.downloads
    for _ in range(5):  # more than the client's 2 and the server's 3, one after the other
        assert download(service, key, job_id, "10.0.2.1")[::2] == (grpc.StatusCode.OK, FILE_BYTES)
        # Given back when grpc reports the call finished, a moment after the client has the file.
        wait_until(lambda: slots.held_by("10.0.2.1") == 0, timeout_s=15)


def test_request_bytes_in_flight_are_bounded_per_client_and_in_all(service: InProcessService) -> None:
    """A body in flight is one whose call is between its read and its answer; one is put there directly (a
    Predict's few milliseconds cannot be caught from outside), the message that does not fit is a real call."""
    assert service.running.in_flight is not None
    budget = service.running.in_flight.request_bytes
    nothing_in_progress(service)
    key = service.new_key()
    channel, stub = service.grpc_stub()

    def predict(client: str, size: int) -> grpc.RpcError:
        # Too long for ESMFold: a message the handler refuses (INVALID_ARGUMENT) once it gets that far.
        with pytest.raises(grpc.RpcError) as failed:
            stub.Predict(pb.PredictRequest(model="esmfold", sequence="M" * size), timeout=30,
                         metadata=(("authorization", f"Bearer {key}"), (FORWARDED, client)))
        return failed.value

    async def take(client: str, size: int) -> Held:
        return budget.take(client, size)

    with channel:
        elsewhere = service.call(take("10.0.3.1", 2 * MIB))
        try:
            refused = predict("10.0.3.1", 2 * MIB)
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # was INVALID_ARGUMENT: read, parsed, handled
            assert dict(refused.trailing_metadata())["retry-after"] == "5"
            assert refused.details() == ("Too many request bytes in progress from your address (at most 3 MiB at "
                                         "once); wait for your other requests to finish")
            assert predict("10.0.3.2", 2 * MIB).code() == grpc.StatusCode.INVALID_ARGUMENT  # another client
            # Its bytes are given back once its handler is done, a moment after the client has the answer.
            wait_until(lambda: budget.held_by("10.0.3.2") == 0, timeout_s=15)
            everyone = service.call(take("10.0.3.9", 2 * MIB))
            try:
                refused = predict("10.0.3.3", 2 * MIB)
                assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert "on this server (at most 5 MiB at once); try again in 5 s" in refused.details()
            finally:
                everyone.give_back()
        finally:
            elsewhere.give_back()
        # A small message (a poll, a list) is never counted, as a REST request without a body is not: a client's
        # whole budget in progress does not refuse it.
        full = service.call(take("10.0.3.4", 3 * MIB))
        try:
            listed = stub.ListJobs(pb.ListJobsRequest(status="completed"), timeout=30,  # a few bytes
                                   metadata=(("authorization", f"Bearer {key}"), (FORWARDED, "10.0.3.4")))
            assert list(listed.jobs) == [] and budget.held_by("10.0.3.4") == 3 * MIB
        finally:
            full.give_back()
        # One message alone always fits, past the client's budget (and each call gives its bytes back).
        assert predict("10.0.3.1", 4 * MIB).code() == grpc.StatusCode.INVALID_ARGUMENT
    nothing_in_progress(service)


def test_the_sdk_over_grpc_asks_again_after_the_retry_hint(service: InProcessService, big_job: tuple[str, str],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    key, job_id = big_job
    nothing_in_progress(service)
    caplog.set_level(logging.INFO, logger="jobservice.grpc_in_flight")
    caplog.set_level(logging.INFO, logger="jobservice.edge")
    held = [unread(service, key, job_id, None) for _ in range(2)]  # the SDK's own address: 127.0.0.1
    got: list[int] = []
    with Client(service.url_for("grpc"), key) as client:
        fetching = threading.Thread(target=lambda: got.append(len(client.download(job_id, "pdb").content)))
        fetching.start()
        try:
            wait_until(lambda: "refused downloads from 127.0.0.1" in caplog.text, timeout_s=15)
        finally:
            closed(held)
        fetching.join(60)
    assert got == [FILE_BYTES]  # retried after its 5 s, once the unread calls were over


def test_a_client_that_answers_nothing_gives_its_slots_back_when_keepalive_closes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """grpc.aio cannot end one call from the server (no send timeout as on REST): a client that reads nothing and
    answers nothing is closed by the server's keepalive pings, which ends its calls, frees their files and gives
    their slots back. Scaled from 60 + 20 s to 0.3 + 0.3 s."""
    monkeypatch.setattr(job_server, "KEEPALIVE_TIME_MS", 300)
    monkeypatch.setattr(job_server, "KEEPALIVE_TIMEOUT_MS", 300)
    service = InProcessService(tmp_path, {"PHONOS_GRPC_DOWNLOADS_PER_CLIENT": "1"})
    try:
        assert service.running.in_flight is not None
        slots = service.running.in_flight.downloads
        key, job_id = job_with_output(service, FILE_BYTES)
        silent = unread(service, key, job_id, None)
        try:
            assert slots.held_by("127.0.0.1") == 1
            assert silent.closed_by_server(timeout_s=15)
            wait_until(lambda: slots.held_by("127.0.0.1") == 0, timeout_s=15)
        finally:
            silent.close()
    finally:
        service.stop()
