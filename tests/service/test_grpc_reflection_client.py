"""The job service as a client that has nothing but its address sees it: grpcurl's way, in Python.

grpcurl lists services by server reflection, fetches the file descriptors (and every file they import), builds
request messages from JSON with them and calls methods by name. `ReflectionClient` does exactly that with
grpcio, grpcio-reflection's messages and protobuf's descriptor_pool / message_factory / json_format, in a
descriptor pool of its own: nothing from `phonos.v1` or the process's default pool, so a file reflection does
not serve (an import of `phonos.proto` such as `google/api/http.proto`) breaks this client as it breaks grpcurl.
The README's grpcurl commands are read from the README and run through it, so they cannot drift from the server.
"""

from __future__ import annotations

import base64
import json
import shlex
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from grpc_reflection.v1alpha import reflection_pb2

from jobservice import server as job_server
from jobservice.memory_inference import Slow
from jobservice.message_limits import MAX_RESPONSE_BYTES
from jobservice.results import ResultStore
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
REFLECTION_V1 = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"  # grpcurl 1.8.8+ asks this first
REFLECTION_V1ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
PHONOS = "phonos.v1.PhonosService"
MIB = 1024 * 1024


class ReflectionClient:
    """grpcurl's model of a server: every type from reflection answers, every call by name with JSON."""

    def __init__(self, channel: grpc.Channel, reflection_method: str = REFLECTION_V1) -> None:
        self.channel = channel
        # v1's messages are v1alpha's on the wire (jobservice/reflection_pool.py): one set of classes serves both.
        self._reflect = channel.stream_stream(
            reflection_method, request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString)
        self.pool = descriptor_pool.DescriptorPool()
        self.files: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def ask(self, **request: Any) -> reflection_pb2.ServerReflectionResponse:
        answer: reflection_pb2.ServerReflectionResponse = next(iter(self._reflect(
            iter([reflection_pb2.ServerReflectionRequest(**request)]), timeout=10)))
        assert not answer.HasField("error_response"), (request, answer.error_response)
        return answer

    def list_services(self) -> list[str]:
        return sorted(s.name for s in self.ask(list_services="").list_services_response.service)

    def load_symbol(self, symbol: str) -> None:
        """`file_containing_symbol`, then `file_by_filename` for every import not yet seen (grpcurl's order),
        each file added to the pool after its imports."""
        self._take(self.ask(file_containing_symbol=symbol))
        while missing := sorted({dep for f in self.files.values() for dep in f.dependency} - set(self.files)):
            self._take(self.ask(file_by_filename=missing[0]))
            assert missing[0] in self.files, f"reflection did not serve {missing[0]}"
        for name in list(self.files):
            self._add(name)

    def _take(self, answer: reflection_pb2.ServerReflectionResponse) -> None:
        for raw in answer.file_descriptor_response.file_descriptor_proto:
            proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
            self.files.setdefault(proto.name, proto)

    def _add(self, name: str) -> None:
        try:
            self.pool.FindFileByName(name)
            return
        except KeyError:
            pass
        for dep in self.files[name].dependency:
            self._add(dep)
        self.pool.Add(self.files[name])

    def service(self, name: str) -> ServiceDescriptor:
        self.load_symbol(name)
        return self.pool.FindServiceByName(name)

    def describe(self, symbol: str) -> Any:
        """What `grpcurl describe SYMBOL` resolves: a service, a method (`pkg.Service.Method`) or a message."""
        self.load_symbol(symbol)
        for find in (self.pool.FindServiceByName, self.pool.FindMessageTypeByName):
            try:
                return find(symbol)
            except KeyError:
                continue
        service, _, method = symbol.rpartition(".")
        return self.pool.FindServiceByName(service).methods_by_name[method]

    def method(self, full: str) -> MethodDescriptor:
        """"pkg.Service/Method" (grpcurl's spelling) or "pkg.Service.Method"."""
        service, _, name = full.replace("/", ".").rpartition(".")
        return self.service(service).methods_by_name[name]

    def invoke(self, full: str, body: Mapping[str, Any] | str, metadata: Sequence[tuple[str, str]] = (),
               timeout: float = 10, options: Mapping[str, Any] | None = None) -> Any:
        """One call, the request parsed from JSON as grpcurl's `-d` is. Unary: (JSON dict, call);
        server stream: the call, iterating JSON dicts."""
        method = self.method(full)
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        text = body if isinstance(body, str) else json.dumps(body)
        request = json_format.Parse(text, request_class())
        path = f"/{method.containing_service.full_name}/{method.name}"
        if method.server_streaming:
            stream = self.channel.unary_stream(path, request_serializer=request_class.SerializeToString,
                                               response_deserializer=response_class.FromString)
            return stream(request, metadata=tuple(metadata), timeout=timeout)
        unary = self.channel.unary_unary(path, request_serializer=request_class.SerializeToString,
                                         response_deserializer=response_class.FromString)
        response, call = unary.with_call(request, metadata=tuple(metadata), timeout=timeout)
        return as_json(response), call


def as_json(message: Any) -> dict[str, Any]:
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def trailers(source: Any) -> dict[str, str]:
    return dict(source.trailing_metadata() or ())


def refusal(run: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as refused:
        run()
    return refused.value


@pytest.fixture(scope="module")
def service(twin_service: InProcessService) -> InProcessService:
    return twin_service


@pytest.fixture(scope="module")
def channel(service: InProcessService) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(service.grpc_target) as opened:  # grpcurl's: no options, 4 MiB receive limit
        yield opened


@pytest.fixture(scope="module")
def client(channel: grpc.Channel) -> ReflectionClient:
    return ReflectionClient(channel)


@pytest.mark.parametrize("reflection_method", [REFLECTION_V1, REFLECTION_V1ALPHA])
def test_reflection_alone_resolves_every_service_and_every_file_it_imports(
        channel: grpc.Channel, reflection_method: str) -> None:
    """Every service listed resolves, with its imports (google/api/*, google/protobuf/*), into a pool of its own,
    and every method's request and response can be built from it: what grpcurl needs for `describe` and calls."""
    client = ReflectionClient(channel, reflection_method)
    services = client.list_services()
    assert set(services) == {PHONOS, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
                             "grpc.reflection.v1alpha.ServerReflection"}
    for name in services:
        for method in client.service(name).methods:
            assert message_factory.GetMessageClass(method.input_type)().ByteSize() == 0
            message_factory.GetMessageClass(method.output_type)
    assert {"google/api/annotations.proto", "google/api/http.proto", "google/api/httpbody.proto",
            "google/protobuf/descriptor.proto", "google/protobuf/struct.proto", "google/protobuf/timestamp.proto",
            "phonos/v1/phonos.proto", "phonos/v1/openapi_options.proto"} <= set(client.files)
    # The HTTP rules (what a transcoding proxy reads) survive the trip, readable with the served google/api files.
    served = client.pool.FindMethodByName(f"{PHONOS}.Predict").GetOptions().SerializeToString()
    options = message_factory.GetMessageClass(client.pool.FindMessageTypeByName("google.protobuf.MethodOptions"))
    rule = options.FromString(served).Extensions[client.pool.FindExtensionByName("google.api.http")]
    assert rule.post == "/v1/predict" and rule.body == "*"
    # grpcurl's JSON formatting asks which extensions an options message has, and the file of each.
    numbers = client.ask(all_extension_numbers_of_type="google.protobuf.MethodOptions").all_extension_numbers_response
    assert rule.DESCRIPTOR.full_name == "google.api.HttpRule" and 72295728 in numbers.extension_number
    holder = client.ask(file_containing_extension=reflection_pb2.ExtensionRequest(
        containing_type="google.protobuf.MethodOptions", extension_number=72295728))
    assert descriptor_pb2.FileDescriptorProto.FromString(
        holder.file_descriptor_response.file_descriptor_proto[0]).name == "google/api/annotations.proto"


def test_health_answers_for_every_service_reflection_lists(client: ReflectionClient) -> None:
    """A health checker asks per service name: every listed service is SERVING (PhonosService follows readiness,
    SERVING with the twin ready), the server as a whole (""), and a name the server does not have is NOT_FOUND."""
    for name in ["", *client.list_services()]:
        answer, _ = client.invoke("grpc.health.v1.Health/Check", {"service": name})
        assert answer == {"status": "SERVING"}, name
    unknown = refusal(lambda: client.invoke("grpc.health.v1.Health/Check", {"service": "phonos.v1.Nope"}))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


def readme_grpcurl_commands() -> list[list[str]]:
    """The README's grpcurl lines (continuations joined), each as grpcurl's argv after `-plaintext`."""
    text = README.read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        if line.startswith(".venv/bin/grpcurl "):
            argv = shlex.split(line, comments=True)
            assert argv[1] == "-plaintext", line
            commands.append(argv[2:])
    return commands


def run_grpcurl_command(target: str, argv: list[str], values: dict[str, str]) -> Any:
    """One README grpcurl command, as its own grpcurl process would run it: a new channel and a new
    ReflectionClient (nothing known beforehand), `-max-msg-sz` as the channel's receive limit; `list`,
    `list SERVICE`, `describe SYMBOL`, or a call with `-H` metadata and `-d` JSON. The README's placeholders
    (`pk_...`, `<job id>`) are filled from `values`. Returns what the command printed, as data."""
    args = iter(argv)
    metadata: list[tuple[str, str]] = []
    options: list[tuple[str, int]] = []
    body = "{}"
    rest: list[str] = []
    for arg in args:
        if arg == "-H":
            name, _, value = next(args).partition(":")
            metadata.append((name.strip().lower(), value.strip().replace("pk_...", values["key"])))
        elif arg == "-d":
            body = next(args).replace("<job id>", values.get("job_id", ""))
        elif arg == "-max-msg-sz":
            options.append(("grpc.max_receive_message_length", int(next(args))))
        else:
            assert not arg.startswith("-"), f"a grpcurl flag this walk does not know: {arg}"
            rest.append(arg)
    address, verb, *symbol = rest
    assert address == "127.0.0.1:50051", argv  # the documented default port, replaced by the test's
    with grpc.insecure_channel(target, options=options) as channel:
        client = ReflectionClient(channel)
        if verb == "list":
            return client.list_services() if not symbol else [
                f"{s.full_name}.{m.name}" for s in [client.service(symbol[0])] for m in s.methods]
        if verb == "describe":
            return client.describe(symbol[0])
        answer = client.invoke(verb, body, metadata)
        if client.method(verb).server_streaming:
            return [as_json(message) for message in answer], dict(answer.initial_metadata())
        return answer[0], trailers(answer[1])


def test_the_readmes_grpcurl_commands_work_as_written(service: InProcessService) -> None:
    """Each grpcurl command the README shows, in its order, with the method names, field names, JSON, flags and
    `authorization: Bearer` metadata as written: the requests grpcurl would send, built from reflection alone.
    The download is bigger than grpc's default 4 MiB: it works only with the `-max-msg-sz` the README gives."""
    commands = readme_grpcurl_commands()
    assert [c[1] if c[1] in ("list", "describe") else c[-1] for c in commands] == [
        "list", "list", "describe", "describe", "grpc.health.v1.Health/Check", f"{PHONOS}/Predict",
        f"{PHONOS}/WatchJob", f"{PHONOS}/DownloadJobOutput"], commands
    values = {"key": service.new_key(credits=100)}
    service.settle()
    results = []
    for argv in commands:
        if argv[-1].endswith("/DownloadJobOutput"):  # a result as big as AlphaFold2's bundles get
            job_id = values["job_id"]
            ResultStore(service.settings.results_dir).path(job_id, f"{job_id}.pdb").write_bytes(b"ATOM\n" * MIB)
        result = run_grpcurl_command(service.grpc_target, argv, values)
        if argv[-1].endswith("/Predict"):
            values["job_id"] = result[0]["job_id"]
        results.append(result)
    listed, methods, predict_method, predict_request, (health, _), (submitted, meta), watch, download = results
    assert PHONOS in listed and "grpc.health.v1.Health" in listed
    assert f"{PHONOS}.Predict" in methods and f"{PHONOS}.WatchJob" in methods
    assert predict_method.input_type.full_name == "phonos.v1.PredictRequest"
    assert {"model", "sequence", "params", "name"} <= set(predict_request.fields_by_name)
    assert health == {"status": "SERVING"}
    assert submitted["success"] is True and submitted["credits_used"] == 10, submitted
    assert {"x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(meta)
    events, opened = watch  # "one JSON message per event until terminal"
    assert events[-1]["event"]["job"]["status"] == "completed" and events[-1]["event"]["job_id"] == values["job_id"]
    assert {"x-request-id", "x-ratelimit-limit"} <= set(opened)
    file, _ = download
    assert file["file_name"] == f"{values['job_id']}.pdb"
    assert base64.b64decode(file["file"]["data"]) == b"ATOM\n" * MIB


# Bodies that name a job or a thing that does not exist: each rpc's refusal must be one a user can act on.
NO_SUCH_JOB = "00000000-0000-0000-0000-000000000000"


def test_every_rpc_answers_a_reflection_client_with_a_status_it_documents(service: InProcessService,
                                                                         client: ReflectionClient) -> None:
    """Every PhonosService method, called by name with `{}` and a key (streams cut after their first answer): OK
    or a refusal with a message, a `phonos-error-title` and the request id; never UNKNOWN, INTERNAL or
    UNIMPLEMENTED (a handler that crashed, or a method reflection lists that the server does not serve)."""
    key = service.new_key(credits=100)
    auth = [("authorization", f"Bearer {key}")]
    answered: dict[str, str] = {}
    for method in client.service(PHONOS).methods:
        full = f"{PHONOS}/{method.name}"
        try:
            if method.server_streaming:
                stream = client.invoke(full, {}, auth, timeout=1)
                next(iter(stream), None)
                stream.cancel()
                answered[method.name] = "OK"
                continue
            _, call = client.invoke(full, {}, auth)
            assert "x-request-id" in trailers(call), method.name
            answered[method.name] = "OK"
        except grpc.RpcError as failure:
            code = failure.code()
            answered[method.name] = code.name
            if code in (grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED) and method.server_streaming:
                continue  # WatchJobs on an account with nothing happening: cut by this test
            assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED), (
                method.name, code, failure.details())
            meta = trailers(failure)
            assert failure.details() and meta.get("phonos-error-title") and meta.get("x-request-id"), (
                method.name, code, failure.details(), meta)
            if "grpc-status-details-bin" in meta:  # none sent today; any sent must decode from what reflection serves
                status_class = message_factory.GetMessageClass(client.describe("google.rpc.Status"))
                for detail in status_class.FromString(meta["grpc-status-details-bin"]).details:
                    client.describe(detail.type_url.rpartition("/")[2])
    assert answered["WatchJob"] == answered["GetJob"] == "INVALID_ARGUMENT"  # "job_id is required"
    assert answered["ListJobs"] == answered["GetAccount"] == "OK"


def test_a_1_ms_deadline_and_a_cancelled_stream(service: InProcessService, client: ReflectionClient) -> None:
    """A 1 ms deadline: the call either beat it or is DEADLINE_EXCEEDED (the client's untitled one, or the service's
    saying nothing was created), nothing else. A
    submission cut so may still have been accepted and charged (grpc does not undo what the server did): as the
    docs say, the same call again with its `idempotency-key` gets that job, one job charged once. A watch stream
    the client cancels ends CANCELLED for it and lets go of its subscription on the server."""
    key = service.new_key(credits=100)
    auth = [("authorization", f"Bearer {key}")]
    service.settle()
    body = {"model": "esmfold", "sequence": "MKTV"}
    once = [*auth, ("idempotency-key", "grpc-walk-deadline")]
    try:
        client.invoke(f"{PHONOS}/Predict", body, once, timeout=0.001)
    except grpc.RpcError as cut:
        # The client's own untitled answer, or the service's when it saw the deadline pass before committing (a
        # fast host gets that far within the millisecond): it says nothing was created. Nothing else.
        assert cut.code() == grpc.StatusCode.DEADLINE_EXCEEDED, cut
        assert "phonos-error-title" not in trailers(cut) or "no job was created or charged" in (cut.details() or "")
    retried, _ = client.invoke(f"{PHONOS}/Predict", body, once)
    again, _ = client.invoke(f"{PHONOS}/Predict", body, once)
    assert retried["job_id"] == again["job_id"]
    jobs, _ = client.invoke(f"{PHONOS}/ListJobs", {}, auth)
    assert [j["job_id"] for j in jobs["jobs"]] == [retried["job_id"]]
    assert service.client(key).balance() == 90
    # The slow call must be the watched job's, not the one just submitted above if the dispatcher has not reached it
    # yet; and it runs until the CancelJob at the end (a 5 s call could end first on a loaded host, the cancel refused).
    service.settle()
    service.inference.script("esmfold", Slow(60))
    submitted, _ = client.invoke(f"{PHONOS}/Predict", body, auth)
    hub = service.running.service.hub
    before = hub._count
    stream = client.invoke(f"{PHONOS}/WatchJob", {"job_id": submitted["job_id"]}, auth, timeout=30)
    first = as_json(next(iter(stream)))
    assert first["event"]["job_id"] == submitted["job_id"]
    stream.cancel()
    assert refusal(lambda: next(iter(stream))).code() == grpc.StatusCode.CANCELLED
    wait_until(lambda: hub._count < before + 1, 30)
    client.invoke(f"{PHONOS}/CancelJob", {"job_id": submitted["job_id"]}, auth)


def test_request_id_and_rate_limit_metadata_on_success_and_on_resource_exhausted(
        service: InProcessService, client: ReflectionClient) -> None:
    """The caller's `x-request-id` comes back; `x-ratelimit-*` on every keyed answer, and the refusal past the
    limit is RESOURCE_EXHAUSTED titled `Rate limit exceeded` with `retry-after` and `x-ratelimit-remaining: 0`."""
    key = service.new_key(rate_limit=2)
    auth = [("authorization", f"Bearer {key}")]
    _, call = client.invoke(f"{PHONOS}/ListModels", {}, [*auth, ("x-request-id", "grpcurl-walk-1")])
    first = trailers(call)
    assert first["x-request-id"] == "grpcurl-walk-1"
    assert (first["x-ratelimit-limit"], first["x-ratelimit-remaining"]) == ("2", "1")
    client.invoke(f"{PHONOS}/ListModels", {}, auth)
    over = refusal(lambda: client.invoke(f"{PHONOS}/ListModels", {}, [*auth, ("x-request-id", "grpcurl-walk-3")]))
    meta = trailers(over)
    assert over.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "rate limit of 2 requests per minute" in over.details()
    assert meta["phonos-error-title"] == "Rate limit exceeded" and meta["x-request-id"] == "grpcurl-walk-3"
    assert int(meta["retry-after"]) > 0 and meta["x-ratelimit-remaining"] == "0" and meta["x-ratelimit-limit"] == "2"


def test_a_download_over_grpcs_default_4_mib_needs_the_receive_limit_docs_name(
        service: InProcessService, client: ReflectionClient) -> None:
    """The job service sends up to 256 MiB; grpc clients (grpcurl too) receive 4 MiB unless told more. A result
    over that is the client's own RESOURCE_EXHAUSTED "Received message larger than max", as docs/clients.md
    says, and the same call with `grpc.max_receive_message_length` raised (grpcurl: `-max-msg-sz`) gets it."""
    key = service.new_key(credits=100)
    auth = [("authorization", f"Bearer {key}")]
    service.settle()
    submitted, _ = client.invoke(f"{PHONOS}/Predict", {"model": "esmfold", "sequence": "MKTV"}, auth)
    job_id = submitted["job_id"]
    assert service.client(key).wait_for(job_id)["status"] == "completed"
    big = b"ATOM\n" * (5 * MIB // 5)  # a 5 MiB structure (AlphaFold2's zip with its PAE and plots gets there)
    ResultStore(service.settings.results_dir).path(job_id, f"{job_id}.pdb").write_bytes(big)
    too_big = refusal(lambda: client.invoke(f"{PHONOS}/DownloadJobOutput", {"job_id": job_id}, auth))
    assert too_big.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "Received message larger than max" in too_big.details()
    docs = (README.parent / "docs" / "clients.md").read_text()
    assert '("grpc.max_receive_message_length", 256 * 1024 * 1024)' in docs and "-max-msg-sz" in docs
    with grpc.insecure_channel(service.grpc_target,
                               options=[("grpc.max_receive_message_length", 256 * MIB)]) as roomy:
        downloaded, _ = ReflectionClient(roomy).invoke(f"{PHONOS}/DownloadJobOutput", {"job_id": job_id}, auth)
    assert downloaded["file_name"] == f"{job_id}.pdb" and len(downloaded["file"]["data"]) > 5 * MIB


def test_a_quiet_watch_stream_survives_a_client_that_pings_often(twin_factory: type,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A watch on a job that sends nothing for a while, from a client that pings (HTTP/2 keepalive) as often as the
    server's policy allows: grpc's default policy (one ping in 5 minutes without data) answered the third ping with
    GOAWAY "too_many_pings" and the stream ended UNAVAILABLE. The server's policy is scaled down 100x; grpc's
    client pings at most once a second, and the third early ping is the one refused, so the job stays quiet 6 s."""
    monkeypatch.setattr(job_server, "CLIENT_PING_MIN_INTERVAL_MS", job_server.CLIENT_PING_MIN_INTERVAL_MS // 100)
    service = twin_factory.start()
    key = service.new_key(credits=100)
    auth = [("authorization", f"Bearer {key}")]
    service.inference.script("esmfold", Slow(6))
    pinging = [("grpc.keepalive_time_ms", job_server.CLIENT_PING_MIN_INTERVAL_MS),
               ("grpc.keepalive_permit_without_calls", 1), ("grpc.http2.max_pings_without_data", 0)]
    with grpc.insecure_channel(service.grpc_target, options=pinging) as channel:
        client = ReflectionClient(channel)
        submitted, _ = client.invoke(f"{PHONOS}/Predict", {"model": "esmfold", "sequence": "MKTV"}, auth)
        events = [as_json(m)["event"] for m in client.invoke(f"{PHONOS}/WatchJob", {"job_id": submitted["job_id"]},
                                                             auth, timeout=30)]
    assert events[-1]["job"]["status"] == "completed"


def test_one_connection_carries_more_than_100_watch_streams_and_other_calls_beside_them(
        service: InProcessService, client: ReflectionClient) -> None:
    """A client that follows many jobs (one stream each, as `phonos fold` does) or a separate gateway (one channel
    for every REST client) holds many quiet streams on one connection. The server capped a connection at 100 calls
    at once: the 101st call of any kind waited for a free one and ran into its deadline."""
    key = service.new_key()
    auth = [("authorization", f"Bearer {key}")]
    streams = [client.invoke(f"{PHONOS}/WatchJobs", {}, auth, timeout=60) for _ in range(105)]
    try:
        answer, _ = client.invoke(f"{PHONOS}/ListJobs", {}, auth, timeout=5)
        assert answer == {"pagination": {"limit": 50}}
        assert all("x-request-id" in dict(s.initial_metadata()) for s in streams)  # every stream was opened
    finally:
        for stream in streams:
            stream.cancel()


class Blackhole:
    """A TCP relay that can stop relaying without closing anything: a client gone without a FIN (a laptop shut,
    a NAT entry dropped), as the server sees it."""

    def __init__(self, target_port: int) -> None:
        self._target = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self._sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self.listener.accept()
            except OSError:
                return
            far = socket.create_connection(("127.0.0.1", self._target))
            self._sockets += [near, far]
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                return
            if not self.cut.is_set():
                try:
                    sink.sendall(data)
                except OSError:
                    return

    def close(self) -> None:
        for sock in self._sockets:
            sock.close()


def test_the_server_lets_go_of_a_watch_whose_client_vanished(twin_factory: type,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The server pings each connection and closes it when no ack comes: a watch stream whose client vanished
    without closing its connection ends then, and its subscription (counted against the account's streams) goes.
    Without server keepalive it stayed until the job ended or PHONOS_WATCH_MAX_STREAM_S. Scaled to 0.3 s."""
    monkeypatch.setattr(job_server, "KEEPALIVE_TIME_MS", 300)
    monkeypatch.setattr(job_server, "KEEPALIVE_TIMEOUT_MS", 300)
    service = twin_factory.start()
    key = service.new_key(credits=100)
    auth = [("authorization", f"Bearer {key}")]
    service.inference.script("esmfold", Slow(30))
    hub = service.running.service.hub
    relay = Blackhole(service.grpc_port)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{relay.port}") as channel:
            client = ReflectionClient(channel)
            submitted, _ = client.invoke(f"{PHONOS}/Predict", {"model": "esmfold", "sequence": "MKTV"}, auth)
            stream = client.invoke(f"{PHONOS}/WatchJob", {"job_id": submitted["job_id"]}, auth, timeout=60)
            assert as_json(next(iter(stream)))["event"]["job_id"] == submitted["job_id"]
            assert hub._count == 1
            relay.cut.set()
            wait_until(lambda: hub._count == 0, 10)
            stream.cancel()
    finally:
        relay.close()
    service.client(key).post(f"/v1/jobs/{submitted['job_id']}/cancel")


def test_the_docs_name_the_limits_and_keepalive_a_grpc_client_meets() -> None:
    """The figures docs/clients.md gives a gRPC integrator are the server's own."""
    docs = " ".join((README.parent / "docs" / "clients.md").read_text().split())
    assert f"after {job_server.KEEPALIVE_TIME_MS // 1000} s without traffic" in docs
    assert f"does not come within {job_server.KEEPALIVE_TIMEOUT_MS // 1000} s" in docs
    assert f"client pings every {job_server.CLIENT_PING_MIN_INTERVAL_MS // 1000} s or more" in docs
    assert f"Responses: up to {MAX_RESPONSE_BYTES // MIB} MiB" in docs
