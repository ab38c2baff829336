"""gRPC clients and grpcurl talk to the job service directly: reflection, health, calls by name."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import grpc
import pytest
import requests
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from phonos_client.errors import from_grpc_status

from gateway.dashboard.cookies import COOKIE_NAME
from gateway.rpc_failure import failure_response
from jobservice import admin
from jobservice.auth import CSRF_METADATA, SESSION_METADATA
from jobservice.idempotency import KEY_METADATA
from jobservice.memory_inference import Slow
from phonos.v1 import phonos_pb2 as pb
from phonos_common.rpc import RpcFailure
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=30)


def test_grpcurl_lists_services_via_reflection(service: InProcessService) -> None:
    listed = grpcurl(service.grpc_target, "list")
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {"phonos.v1.PhonosService", "grpc.health.v1.Health"}
    methods = grpcurl(service.grpc_target, "list", "phonos.v1.PhonosService")
    assert "phonos.v1.PhonosService.Predict" in methods.stdout.split()


def test_grpcurl_describes_a_method_by_the_name_list_gives_it(service: InProcessService) -> None:
    """`list` names methods `pkg.Service.Method`; `describe` of that name must find it (Python's descriptor pool
    alone does not: grpc/grpc#34743), for messages and services as before, and an unknown name is still not found."""
    described = grpcurl(service.grpc_target, "describe", "phonos.v1.PhonosService.WatchJob")
    assert described.returncode == 0, described.stderr
    assert "rpc WatchJob ( .phonos.v1.WatchJobRequest ) returns ( stream .phonos.v1.WatchJobResponse )" in described.stdout
    health = grpcurl(service.grpc_target, "describe", "grpc.health.v1.Health.Check")
    assert health.returncode == 0 and "rpc Check" in health.stdout, health.stderr
    message = grpcurl(service.grpc_target, "describe", "phonos.v1.PredictRequest")
    assert message.returncode == 0 and "message PredictRequest" in message.stdout, message.stderr
    unknown = grpcurl(service.grpc_target, "describe", "phonos.v1.PhonosService.Nope")
    assert unknown.returncode != 0 and "Symbol not found" in unknown.stderr


def test_grpcurl_calls_methods_by_name(service: InProcessService) -> None:
    key = service.new_key(credits=100)
    submitted = grpcurl("-H", f"authorization: Bearer {key}", "-d",
                        json.dumps({"model": "esmfold", "sequence": "MKTVRQERLKSIVRIL", "params": {"num_recycles": 1}}),
                        service.grpc_target, "phonos.v1.PhonosService/Predict")
    assert submitted.returncode == 0, submitted.stderr
    body = json.loads(submitted.stdout)
    assert body["success"] is True and body["credits_used"] == 10, body
    job = service.client(key).wait_for(body["job_id"])
    assert job["status"] == "completed"
    denied = grpcurl(service.grpc_target, "phonos.v1.PhonosService/GetAccount")
    assert denied.returncode != 0 and "Unauthenticated" in denied.stderr


def test_repeated_session_csrf_and_idempotency_entries_are_refused_like_two_keys(service: InProcessService) -> None:
    """Two dashboard sessions (whose call is it?), two CSRF tokens or two idempotency keys: grpc hands the
    service every entry and a proxy may read another one than the service, so the call is refused before
    its message is read, whatever the values, as two authorization entries are."""
    username = f"sessions{time.monotonic_ns()}"
    key = service.new_key(credits=100, username=username)
    asyncio.run(admin.set_password(service.settings, username=username, password="correct horse battery staple"))
    browser = requests.Session()
    signed_in = browser.post(f"{service.base_url}/auth/sign-in", timeout=30,
                             json={"username": username, "password": "correct horse battery staple"})
    assert signed_in.status_code == 200, signed_in.text
    session = browser.cookies[COOKIE_NAME]
    channel, stub = service.grpc_stub()
    with channel:
        one = stub.GetAccount(pb.GetAccountRequest(), metadata=((SESSION_METADATA, session),))
        assert one.account.username == username
        for sessions in ((session, session), (session, "not-a-session"), ("not-a-session", session)):
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetAccount(pb.GetAccountRequest(), metadata=tuple((SESSION_METADATA, s) for s in sessions))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details() == "more than one x-phonos-session metadata entry: send exactly one"
            assert dict(refused.value.trailing_metadata())["phonos-error-title"] == "Invalid request"
        for name in (CSRF_METADATA, KEY_METADATA):
            metadata = (("authorization", f"Bearer {key}"), (name, "first"), (name, "second"))
            with pytest.raises(grpc.RpcError) as refused:
                stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK"), metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details() == f"more than one {name} metadata entry: send exactly one"
    assert service.client(key).balance() == 100


V1_REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: bool | None
    compression: Any


class ToReflectionV1(grpc.StreamStreamClientInterceptor):  # type: ignore[misc]
    """grpcio-reflection's client (Python's reflection client; it speaks v1alpha) sent to v1's method instead: v1's
    messages are v1alpha's on the wire, so this is a v1 client, as newer grpcurl and grpcui are. Counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        assert details.method == "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
        self.calls += 1
        return continuation(_CallDetails(V1_REFLECTION, details.timeout, details.metadata, details.credentials,
                                         details.wait_for_ready, details.compression), requests)


def test_reflection_v1_lists_services_and_describes_a_method(service: InProcessService) -> None:
    """Newer grpcurl, grpcui, Postman and Buf Studio ask `grpc.reflection.v1` first; grpcio-reflection serves
    v1alpha only (jobservice/reflection_pool.py serves v1 too)."""
    to_v1 = ToReflectionV1()
    with grpc.intercept_channel(grpc.insecure_channel(service.grpc_target), to_v1) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert set(database.get_services()) == {"phonos.v1.PhonosService", "grpc.health.v1.Health",
                                                 "grpc.reflection.v1alpha.ServerReflection",
                                                 "grpc.reflection.v1.ServerReflection"}
        pool = descriptor_pool.DescriptorPool(database)
        predict = pool.FindMethodByName("phonos.v1.PhonosService.Predict")
        assert (predict.input_type.full_name, predict.output_type.full_name) == (
            "phonos.v1.PredictRequest", "phonos.v1.PredictResponse")
        assert "sequence" in predict.input_type.fields_by_name
        assert database.FindFileContainingSymbol("phonos.v1.PhonosService.Predict").name == pb.DESCRIPTOR.name
        # v1 describes itself in its own package, message for message and field for field v1alpha's.
        v1 = pool.FindServiceByName("grpc.reflection.v1.ServerReflection").methods_by_name["ServerReflectionInfo"]
        assert v1.input_type.full_name == "grpc.reflection.v1.ServerReflectionRequest"
        assert v1.client_streaming and v1.server_streaming
        for message in reflection_pb2.DESCRIPTOR.message_types_by_name.values():
            twin = pool.FindMessageTypeByName(f"grpc.reflection.v1.{message.name}")
            assert [(f.name, f.number, f.type) for f in twin.fields] == [(f.name, f.number, f.type) for f in message.fields]
        with pytest.raises(KeyError):
            pool.FindMethodByName("phonos.v1.PhonosService.Nope")
    assert to_v1.calls >= 1  # every reflection request above went to v1's method
    # Health is unchanged beside it.
    with grpc.insecure_channel(service.grpc_target) as plain:
        reply = health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(service="phonos.v1.PhonosService"))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_grpcurl_lists_and_describes_the_v1_reflection_service(service: InProcessService) -> None:
    """grpcurl (the install's 1.8.6 asks v1alpha; 1.8.8 and later v1 first) sees both reflection services."""
    if not Path(GRPCURL).exists():
        pytest.skip("no grpcurl")
    listed = grpcurl(service.grpc_target, "list")
    assert {"grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"} <= set(
        listed.stdout.split()), listed.stderr
    described = grpcurl(service.grpc_target, "describe", "grpc.reflection.v1.ServerReflection")
    assert described.returncode == 0, described.stderr
    assert ("rpc ServerReflectionInfo ( stream .grpc.reflection.v1.ServerReflectionRequest ) returns "
            "( stream .grpc.reflection.v1.ServerReflectionResponse )") in described.stdout


def test_standard_health_service(service: InProcessService) -> None:
    with grpc.insecure_channel(service.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in ("", "phonos.v1.PhonosService"):
            reply = stub.Check(health_pb2.HealthCheckRequest(service=name))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
    checked = grpcurl(service.grpc_target, "grpc.health.v1.Health/Check")
    assert json.loads(checked.stdout) == {"status": "SERVING"}


def test_python_grpc_client_round_trip(service: InProcessService) -> None:
    key = service.new_key()
    auth = (("authorization", f"Bearer {key}"),)
    channel, stub = service.grpc_stub()
    with channel:
        reply = stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK", name="via grpc"), metadata=auth)
        assert reply.status == "pending"
        service.client(key).wait_for(reply.job_id)
        job = stub.GetJob(pb.GetJobRequest(job_id=reply.job_id), metadata=auth).job
        assert job.status == "completed" and job.name == "via grpc"
        assert job.metrics.fields["twin"].number_value == 1  # the model's metrics, passed through
        assert job.metadata.fields["weights"].string_value.startswith("none: in-memory inference twin")
        download, call = stub.DownloadJobOutput.with_call(pb.DownloadJobOutputRequest(job_id=reply.job_id),
                                                          metadata=auth)
        assert download.file_name == f"{reply.job_id}.pdb"
        assert download.file.data.startswith(b"in-memory twin output of esmfold (pdb)")
        assert dict(call.initial_metadata())["content-disposition"].endswith(f'{reply.job_id}.pdb"')
        with pytest.raises(grpc.RpcError) as bad:
            stub.Predict(pb.PredictRequest(model="esmfold", sequence="B*"), metadata=auth)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_two_authorization_entries_are_refused_as_the_http_edge_refuses_two_headers(
        service: InProcessService) -> None:
    """Which key is meant? grpc hands the service both entries; a proxy may read the first, the service
    read the last. Refused before the message is read, whatever the keys, like two Authorization headers."""
    first, second = service.new_key(credits=100), service.new_key(credits=100)
    channel, stub = service.grpc_stub()
    with channel:
        for keys in ((first, second), (first, first), (first, "pk_not_a_key"), ("pk_not_a_key", first)):
            metadata = tuple(("authorization", f"Bearer {key}") for key in keys)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK"), metadata=metadata)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.value.details() == "more than one authorization metadata entry: send exactly one"
            assert dict(refused.value.trailing_metadata())["phonos-error-title"] == "Invalid request"
        with pytest.raises(grpc.RpcError) as watch:
            next(iter(stub.WatchJobs(pb.WatchJobsRequest(), metadata=metadata)))
        assert watch.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert stub.GetAccount(pb.GetAccountRequest(), metadata=(("authorization", f"Bearer {first}"),)).jobs.total == 0
    assert service.client(first).balance() == service.client(second).balance() == 100


def _refusal(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        call()
    return refused.value


def test_every_grpc_refusal_carries_the_request_id_the_service_logs(service: InProcessService,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A bad key (refused by the edge, before the servicer runs), a bad message and a servicer error all end
    with an `x-request-id` trailer: the caller's own when sane, else a fresh one, as the HTTP edge does."""
    caplog.set_level(logging.INFO, logger="jobservice.edge")
    key = service.new_key()
    channel, stub = service.grpc_stub()
    predict = pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK")
    with channel:
        bad_key = _refusal(lambda: stub.Predict(predict, metadata=(("authorization", "Bearer pk_not_a_key"),)))
        assert bad_key.code() == grpc.StatusCode.UNAUTHENTICATED
        fresh = dict(bad_key.trailing_metadata())["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", fresh)
        assert any(getattr(r, "request_id", None) == fresh for r in caplog.records)  # the id the log line names
        given = (("authorization", "Bearer pk_not_a_key"), ("x-request-id", "trace-42.a:b"))
        assert dict(_refusal(lambda: stub.GetAccount(pb.GetAccountRequest(), metadata=given))
                    .trailing_metadata())["x-request-id"] == "trace-42.a:b"
        odd = (("authorization", "Bearer pk_not_a_key"), ("x-request-id", "two words"))  # not a token: replaced
        assert re.fullmatch(r"[0-9a-f]{32}", dict(_refusal(lambda: stub.GetAccount(
            pb.GetAccountRequest(), metadata=odd)).trailing_metadata())["x-request-id"])
        watch = _refusal(lambda: next(iter(stub.WatchJobs(pb.WatchJobsRequest(), metadata=given))))
        assert watch.code() == grpc.StatusCode.UNAUTHENTICATED
        assert dict(watch.trailing_metadata())["x-request-id"] == "trace-42.a:b"
        auth = (("authorization", f"Bearer {key}"), ("x-request-id", "trace-43"))
        invalid = _refusal(lambda: stub.Predict(pb.PredictRequest(model="nope", sequence="MK"), metadata=auth))
        assert invalid.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert dict(invalid.trailing_metadata())["x-request-id"] == "trace-43"
        raw = channel.unary_unary("/phonos.v1.PhonosService/GetAccount")  # bytes in, bytes out: undecodable
        undecodable = _refusal(lambda: raw(b"\xff\xff", metadata=auth))
        assert undecodable.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert dict(undecodable.trailing_metadata())["x-request-id"] == "trace-43"
        _, ok = stub.GetAccount.with_call(pb.GetAccountRequest(), metadata=auth)
        assert dict(ok.trailing_metadata())["x-request-id"] == "trace-43"


def test_health_and_a_stream_that_ends_well_name_their_request_id_and_rate_limit_in_the_trailers(service: InProcessService) -> None:
    """"Every call, refusals included": GetHealth (public, not through the servicer's usual path) and a watch
    stream that ends because its job is terminal end with `x-request-id` too, the caller's own when sane."""
    key = service.new_key()
    channel, stub = service.grpc_stub()
    with channel:
        _, health = stub.GetHealth.with_call(pb.GetHealthRequest(), metadata=(("x-request-id", "probe-1"),))
        assert dict(health.trailing_metadata())["x-request-id"] == "probe-1"
        _, fresh = stub.GetHealth.with_call(pb.GetHealthRequest())
        assert re.fullmatch(r"[0-9a-f]{32}", dict(fresh.trailing_metadata())["x-request-id"])
        auth = (("authorization", f"Bearer {key}"),)
        job_id = stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK"), metadata=auth).job_id
        service.client(key).wait_for(job_id)
        call = stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=(*auth, ("x-request-id", "watch-7")),
                             timeout=30)
        assert [response.event.job.status for response in call] == ["completed"]
        assert dict(call.initial_metadata())["x-request-id"] == "watch-7"
        assert dict(call.trailing_metadata())["x-request-id"] == "watch-7"
        # The rate-limit state too: a stream that ends without a message may reach a client as trailers only, its
        # initial metadata dropped (a separate gateway's 204 then lacked X-RateLimit-*).
        trailers, initial = dict(call.trailing_metadata()), dict(call.initial_metadata())
        assert trailers["x-ratelimit-limit"] == initial["x-ratelimit-limit"]
        assert "x-ratelimit-remaining" in trailers and "x-ratelimit-reset" in trailers


def test_each_grpc_refusal_is_one_http_answer_for_the_gateway_and_the_sdk(service: InProcessService) -> None:
    """The job service's refusals as a gRPC client gets them, read by both gRPC -> HTTP mappings: the gateway's
    (what a REST caller is answered, gateway/rpc_failure.py) and the SDK's over gRPC. Each is the status and
    title of the README's error table, and the two never differ (a message over the edge's size limit was a
    429 "Request too large" without Retry-After at the gateway, a 413 in the SDK)."""
    key, poor = service.new_key(), service.new_key(credits=0)
    slow = service.new_key(rate_limit=1)
    auth = (("authorization", f"Bearer {key}"),)
    channel, stub = service.grpc_stub()
    with channel:
        read_only = stub.CreateApiKey(pb.CreateApiKeyRequest(scope="read_only"), metadata=auth).api_key
        done = stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK"), metadata=auth).job_id
        service.client(key).wait_for(done)
        stub.GetAccount(pb.GetAccountRequest(), metadata=(("authorization", f"Bearer {slow}"),))
        reused = (*auth, ("idempotency-key", f"walk-{time.monotonic_ns()}"))
        stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK"), metadata=reused)
        raw = channel.unary_unary("/phonos.v1.PhonosService/GetAccount")
        oversized = b"\xc2\x3e" + bytes([0x80, 0x80, 0x05]) + b"a" * 81920  # unknown field 1000: 80 KiB of bytes
        predict = pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK")
        cases: dict[tuple[int, str], Any] = {
            (400, "Invalid request"): lambda: stub.Predict(pb.PredictRequest(model="nope", sequence="MK"), metadata=auth),
            (400, "Invalid request "): lambda: stub.CancelJob(pb.CancelJobRequest(job_id=done), metadata=auth),
            (401, "Unauthorized"): lambda: stub.GetAccount(pb.GetAccountRequest()),
            (402, "Insufficient credits"): lambda: stub.Predict(
                predict, metadata=(("authorization", f"Bearer {poor}"),)),
            (403, "Forbidden"): lambda: stub.Predict(predict, metadata=(("authorization", f"Bearer {read_only}"),)),
            (404, "Not found"): lambda: stub.GetJob(pb.GetJobRequest(job_id="no-such-job"), metadata=auth),
            (413, "Request too large"): lambda: raw(oversized, metadata=auth),
            (422, "Idempotency key reused"): lambda: stub.Predict(
                pb.PredictRequest(model="esmfold", sequence="MKTVRQERLKK"), metadata=reused),
            (429, "Rate limit exceeded"): lambda: stub.GetAccount(
                pb.GetAccountRequest(), metadata=(("authorization", f"Bearer {slow}"),)),
        }
        for (status, title), call in cases.items():
            refused = _refusal(call)
            trailers = {k: v for k, v in refused.trailing_metadata() if isinstance(v, str)}
            answer = failure_response(RpcFailure(refused.code(), refused.details(), trailers), "rid")
            sdk = from_grpc_status(refused.code().name, refused.details(), trailers)
            said = (refused.code().name, refused.details())
            assert (answer.status, answer.title) == (status, title.strip()), said
            assert (sdk.status, sdk.error) == (status, title.strip()), said
            assert answer.message == sdk.message == refused.details()
            assert ("Retry-After" in answer.headers) == (status == 429), said


USER_CLIENT = """
import sys, grpc
from phonos.v1 import phonos_pb2 as pb, phonos_pb2_grpc
assert pb.__file__.startswith(sys.argv[3]), pb.__file__  # the stubs generated here, not the server's
options = [("grpc.max_receive_message_length", 256 * 1024 * 1024)]  # downloads over grpc's default 4 MiB
with grpc.insecure_channel(sys.argv[1], options=options) as channel:
    stub = phonos_pb2_grpc.PhonosServiceStub(channel)
    auth = (("authorization", "Bearer " + sys.argv[2]),)
    job = stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK"), metadata=auth)
    states = [m.event.job.status for m in stub.WatchJob(pb.WatchJobRequest(job_id=job.job_id), metadata=auth,
                                                         timeout=60) if m.event.type == "state"]
    pdb = stub.DownloadJobOutput(pb.DownloadJobOutputRequest(job_id=job.job_id), metadata=auth).file.data
    try:
        stub.GetJob(pb.GetJobRequest(job_id="no-such-job"), metadata=auth)
    except grpc.RpcError as refused:
        said = refused.code().name, dict(refused.trailing_metadata())["phonos-error-title"]
    print(states[-1], pdb[:15].decode(), *said)
"""


def test_stubs_generated_from_the_protos_as_docs_clients_md_says_call_the_service(service: InProcessService,
                                                                                  tmp_path: Path) -> None:
    """docs/clients.md's recipe: protoc on protos/ with googleapis-common-protos' folder, then the stubs."""
    import google.api

    docs = (Path(__file__).resolve().parents[2] / "docs" / "clients.md").read_text()
    assert USER_CLIENT.splitlines()[4] in docs  # the channel as the docs open it (its receive limit)

    googleapis = Path(google.api.__path__[0]).parent.parent
    gen = tmp_path / "gen"
    gen.mkdir()
    protos = Path(__file__).resolve().parents[2] / "protos"
    made = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{protos}", f"-I{googleapis}",
                           f"--python_out={gen}", f"--grpc_python_out={gen}", str(protos / "phonos/v1/phonos.proto"),
                           str(protos / "phonos/v1/openapi_options.proto")], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    # Packages, so that these win over the server's own phonos.v1 that this venv also holds (a user has none).
    (gen / "phonos" / "__init__.py").touch()
    (gen / "phonos" / "v1" / "__init__.py").touch()
    ran = subprocess.run([sys.executable, "-c", USER_CLIENT, service.grpc_target, service.new_key(), str(gen)],
                         capture_output=True, text=True, timeout=90, cwd=tmp_path, env={"PYTHONPATH": str(gen)})
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == ["completed", "in-memory", "twin", "NOT_FOUND", "Not", "found"], ran.stdout


def test_a_bug_in_a_watch_stream_or_the_health_is_internal_with_the_request_id_never_the_exception_text(
        service: InProcessService, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """As a unary rpc answers a bug: INTERNAL naming the request id, the exception logged, its text not sent
    (grpc's own answer for a stream handler that raised is UNKNOWN "Unexpected <class ...>: <the text>")."""
    key = service.new_key()

    async def broken(*_: Any) -> Any:
        raise RuntimeError("secret detail from /srv/phonos/db.py")
        yield  # an async generator, as the real one

    monkeypatch.setattr(service.running.service, "watch_jobs", broken)
    caplog.set_level(logging.ERROR, logger="jobservice.servicer")
    channel, stub = service.grpc_stub()
    with channel:
        call = stub.WatchJobs(pb.WatchJobsRequest(), timeout=30,
                              metadata=(("authorization", f"Bearer {key}"), ("x-request-id", "bug-1")))
        refused = _refusal(lambda: list(call))
    assert refused.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in refused.details() and "bug-1" in refused.details()
    trailers = dict(refused.trailing_metadata())
    assert trailers["phonos-error-title"] == "Internal server error" and trailers["x-request-id"] == "bug-1"
    assert any("secret detail" in (r.exc_text or "") and getattr(r, "request_id", None) == "bug-1"
               for r in caplog.records)
    assert failure_response(RpcFailure(refused.code(), refused.details(), trailers), "bug-1").status == 500

    async def broken_health() -> Any:
        raise RuntimeError("secret detail from /srv/phonos/readiness.py")

    monkeypatch.setattr(service.running.service, "health", broken_health)
    channel, stub = service.grpc_stub()
    with channel:
        health = _refusal(lambda: stub.GetHealth(pb.GetHealthRequest(), metadata=(("x-request-id", "bug-2"),)))
    assert health.code() == grpc.StatusCode.INTERNAL and "secret" not in health.details()
    assert dict(health.trailing_metadata())["x-request-id"] == "bug-2"


def test_a_bug_in_the_edges_admission_is_internal_with_the_request_id_never_the_exception_text(
        service: InProcessService, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check of a call's key and limits before its message is read answers a bug as the handlers do (it
    was grpc's UNKNOWN "Unexpected <class 'RuntimeError'>: <the text>")."""
    key = service.new_key()

    async def broken(*_: Any) -> Any:
        raise RuntimeError("secret detail from /srv/phonos/admission.py")

    monkeypatch.setattr(service.running.admission, "admit", broken)
    channel, stub = service.grpc_stub()
    with channel:
        refused = _refusal(lambda: stub.GetAccount(pb.GetAccountRequest(), timeout=30, metadata=(
            ("authorization", f"Bearer {key}"), ("x-request-id", "bug-3"))))
    assert refused.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in refused.details() and "bug-3" in refused.details()
    assert dict(refused.trailing_metadata())["x-request-id"] == "bug-3"

def test_a_client_that_cancels_or_times_out_a_watch_mid_way_leaves_no_subscription(service: InProcessService) -> None:
    """Cancelled mid-stream (after its first event) or cut by the client's deadline, a watch lets go of its
    subscription on the service at once: abandoned streams do not pile up."""
    hub = service.running.service.hub
    key = service.new_key()
    auth = (("authorization", f"Bearer {key}"),)
    service.settle()  # the slow call must be this job's, not one still queued before it
    # Runs until the cancel at the end (a 5 s call could end first on a loaded host: that cancel was then a 400).
    service.inference.script("esmfold", Slow(60))
    channel, stub = service.grpc_stub()
    with channel:
        job_id = stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK"), metadata=auth).job_id
        before = hub._count
        call = stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=auth, timeout=30)
        assert next(iter(call)).event.job_id == job_id
        assert hub._count == before + 1
        call.cancel()
        wait_until(lambda: hub._count == before, 30)
        cut = stub.WatchJobs(pb.WatchJobsRequest(), metadata=auth, timeout=0.5)
        assert _refusal(lambda: list(cut)).code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_until(lambda: hub._count == before, 30)
        stub.CancelJob(pb.CancelJobRequest(job_id=job_id), metadata=auth)


def test_a_call_cut_by_the_clients_deadline_is_not_counted_as_ok(service: InProcessService,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """grpc cancels the handler when the caller's deadline passes; the rpc's metric (and usage row) say
    DEADLINE_EXCEEDED, not OK: the caller got no answer."""
    key = service.new_key()
    real = service.running.service.account

    async def slow(account_id: int) -> Any:
        await asyncio.sleep(1.0)
        return await real(account_id)

    monkeypatch.setattr(service.running.service, "account", slow)

    def count(code: str) -> float:
        return service.scrape().get(("phonos_rpc_seconds_count", (("code", code), ("rpc", "GetAccount"),
                                                                  ("transport", "grpc"))), 0.0)

    ok, late = count("OK"), count("DEADLINE_EXCEEDED")
    channel, stub = service.grpc_stub()
    with channel:
        cut = _refusal(lambda: stub.GetAccount(pb.GetAccountRequest(), timeout=0.3,
                                               metadata=(("authorization", f"Bearer {key}"),)))
    assert cut.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_until(lambda: count("DEADLINE_EXCEEDED") == late + 1, 30)
    time.sleep(1.0)  # past the handler's own end (1 s after the call began), had it not been cancelled
    assert count("OK") == ok


def test_an_id_left_out_of_a_request_is_invalid_argument_naming_it(service: InProcessService) -> None:
    """proto3 sends an unset id as "": `GetJob {}` answered NOT_FOUND 'Job  not found'. Every id in an rpc's
    route path is required (grpc-gateway's "missing parameter"); a share link's token keeps its one 404."""
    auth = (("authorization", f"Bearer {service.new_key()}"),)
    channel, stub = service.grpc_stub()
    with channel:
        for call, field in ((lambda: stub.GetJob(pb.GetJobRequest(), metadata=auth), "job_id"),
                            (lambda: stub.DeleteJob(pb.DeleteJobRequest(), metadata=auth), "job_id"),
                            (lambda: stub.RevokeJobShare(pb.RevokeJobShareRequest(job_id="j"), metadata=auth),
                             "share_id"),
                            (lambda: stub.ListWebhookDeliveries(pb.ListWebhookDeliveriesRequest(), metadata=auth),
                             "webhook_id"),
                            (lambda: stub.UpdateApiKey(pb.UpdateApiKeyRequest(name="n"), metadata=auth), "key_id"),
                            (lambda: list(stub.WatchJob(pb.WatchJobRequest(), metadata=auth, timeout=30)), "job_id")):
            refused = _refusal(call)
            assert (refused.code(), refused.details()) == (grpc.StatusCode.INVALID_ARGUMENT, f"{field} is required")
            assert dict(refused.trailing_metadata())["phonos-error-title"] == "Invalid request"
        shared = _refusal(lambda: stub.GetSharedJob(pb.GetSharedJobRequest()))
        assert shared.code() == grpc.StatusCode.NOT_FOUND and "share link does not exist" in shared.details()
        assert _refusal(lambda: stub.GetJob(pb.GetJobRequest(job_id="nope"), metadata=auth)).code() \
            == grpc.StatusCode.NOT_FOUND
