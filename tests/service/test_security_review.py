"""A second security review of the running service (a real job service and gateway on loopback, on the inference
twin), each test the attack that found a hole: request bodies nested past what the service's own recursive walks
survive (a 500 and a thousand-frame traceback, for anyone, signed in or not)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import struct_pb2
from phonos_client import cli
from phonos_client.models import server_file_name

from gateway.transcode import MAX_JSON_DEPTH, json_values_over
from phonos.v1 import phonos_pb2 as pb
from phonos_common.limits import MAX_JSON_VALUES
from tests.support import InProcessService, LoopbackServer, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.sqlite_only]  # the edge's answers: no store involved
DEEP = "malformed JSON body: arrays and objects nest too deeply"


def nested(depth: int) -> str:
    """`depth` objects inside one another, as JSON text: {"a": {"a": ... 1 ...}}."""
    return '{"a": ' * depth + "1" + "}" * depth


def test_deeply_nested_params_are_a_400_not_a_500(twin_service: InProcessService) -> None:
    """200 levels parse in Python's json (its limit is ~1,000) but the job service's NUL check walks a Struct three
    frames a level: a 500 once. The edge now refuses more than MAX_JSON_DEPTH levels in the API's words."""
    headers = {"Authorization": f"Bearer {twin_service.new_key()}", "Content-Type": "application/json"}
    for depth in (MAX_JSON_DEPTH, 200, 300):
        for route, body in (
            ("/v1/predict", '{"model": "esmfold", "sequence": "MKTVRQERLK", "params": {"x": ' + nested(depth) + "}}"),
            ("/v1/batch", '{"jobs": [{"model": "esmfold", "sequence": "MKT", "params": {"x": ' + nested(depth) + "}}]}"),
        ):
            answer = requests.post(twin_service.base_url + route, data=body, headers=headers, timeout=30)
            assert answer.status_code == 400, (route, depth, answer.text)
            assert answer.json() == {"error": "Invalid request", "message": DEEP}, (route, depth)
    # What real clients send still works: a DiffDock-style pocket inside a batch item is 6 levels deep.
    shallow = '{"jobs": [{"model": "esmfold", "sequence": "MKTVRQERLK", "params": {"num_recycles": 1}}]}'
    answer = requests.post(twin_service.base_url + "/v1/batch", data=shallow, headers=headers, timeout=30)
    assert answer.status_code == 200 and answer.json()["summary"]["successful"] == 1, answer.text


def test_a_deeply_nested_sign_in_body_is_a_400_not_a_500(twin_service: InProcessService) -> None:
    """/auth/sign-in needs no key: 4 KiB of "[" made json.loads raise RecursionError (no ValueError), a 500 and a
    traceback per request from anyone on the network."""
    url = twin_service.base_url + "/auth/sign-in"
    for body in ("[" * 2000 + "]" * 2000, '{"username": ' + "[" * 1500 + "]" * 1500 + "}",
                 '{"username": "a", "password": "b", "x": ' + nested(MAX_JSON_DEPTH) + "}"):
        answer = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        assert answer.status_code == 400, answer.text
        assert answer.json() == {"error": "Invalid request", "message": DEEP}


JOB_ID = "11111111-2222-4333-8444-555555555555"


class NamingServer(LoopbackServer):
    """Not phonos: a server that answers a download with the file name it is given (what a look-alike address, or a
    proxy in the middle of plain HTTP, could send)."""

    path = ""

    def __init__(self, file_name: str) -> None:
        super().__init__()
        self.file_name = file_name

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def download(request: web.Request) -> web.Response:
            return web.Response(body=b"REMARK not a structure\n", headers={
                "Content-Type": "chemical/x-pdb", "Content-Disposition": f'attachment; filename="{self.file_name}"'})

        app.router.add_get("/v1/jobs/{job_id}/download", download)


def test_a_servers_file_name_never_leads_out_of_the_out_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("PHONOS_API_KEY", "pk_" + "a" * 43)
    out = tmp_path / "home" / "results"
    out.mkdir(parents=True)
    outside = tmp_path / "home" / ".bashrc"
    for name, written in (("../.bashrc", "bashrc"), (str(outside), "bashrc"), (f"{JOB_ID}/../../x.pdb", "x.pdb"),
                          (f"{JOB_ID}.pdb", f"{JOB_ID}.pdb")):
        with NamingServer(name) as server:
            monkeypatch.setenv("PHONOS_URL", f"http://127.0.0.1:{server.port}")
            assert cli.main(["jobs", "download", JOB_ID, "--out", f"{out}/"]) == 0, capsys.readouterr().err
        assert (out / written).read_bytes() == b"REMARK not a structure\n", name
        (out / written).unlink()
    assert not outside.exists()
    assert [p for p in (tmp_path / "home").iterdir() if p != out] == []  # nothing written beside the folder


@pytest.mark.parametrize(("sent", "kept"), [
    ("11111111-2222-4333-8444-555555555555.plddt.png", "11111111-2222-4333-8444-555555555555.plddt.png"),
    ("../x.pdb", "x.pdb"), ("/etc/passwd", "passwd"), ("C:\\Users\\x\\y.pdb", "y.pdb"), (".bashrc", "bashrc"),
    ("a\x1b[31m.pdb", "a_[31m.pdb"), ("..", None), ("", None), (None, None), ("x" * 300, "x" * 200),
])
def test_a_servers_file_name_is_one_plain_name(sent: str | None, kept: str | None) -> None:
    assert server_file_name(sent) == kept


def test_an_account_holds_at_most_its_share_of_watch_streams(twin_factory: type) -> None:
    """A stream costs one request to open and then lasts up to an hour: one key at 60 a minute held 3,600 open
    connections. Past PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT a new one is a 429 before any event, over SSE and gRPC;
    other accounts are not affected, and a closed stream makes room again."""
    service: InProcessService = twin_factory.start(PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT="3",
                                                   PHONOS_SSE_KEEPALIVE_S="0.2")
    key, other = service.new_key(), service.new_key()
    url = service.base_url + "/v1/events"

    opened: list[requests.Response] = []  # every response, closed at the end however the test ends

    def stream(api_key: str) -> requests.Response:
        response = requests.get(url, headers={"Authorization": f"Bearer {api_key}"}, stream=True, timeout=30)
        opened.append(response)
        return response

    try:
        held = [stream(key) for _ in range(3)]
        assert [r.status_code for r in held] == [200, 200, 200]
        refused = stream(key)
        assert refused.status_code == 429, refused.status_code
        assert refused.headers["Retry-After"] == "30"
        body = refused.json()
        assert body["error"] == "Rate limit exceeded" and "PHONOS_WATCH_MAX_STREAMS_PER_ACCOUNT" in body["message"]
        channel, stub = service.grpc_stub()
        with channel:
            call = stub.WatchJobs(pb.WatchJobsRequest(), metadata=[("authorization", f"Bearer {key}")], timeout=10)
            with pytest.raises(grpc.RpcError) as over:
                next(iter(call))
            assert over.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert dict(over.value.trailing_metadata() or ())["retry-after"] == "30"
        assert stream(other).status_code == 200  # another account's streams are its own
        held[0].close()
        wait_until(lambda: stream(key).status_code == 200, timeout_s=10)  # a closed stream made room
    finally:
        for response in opened:
            response.close()


def test_a_request_of_a_million_json_values_is_refused_before_it_stalls_the_service(
        twin_service: InProcessService) -> None:
    """2 MB of `[0,0,...]` in params (a submission may be 63.5 MB) is a million values: converting and checking them
    took 8.6 s of the service's one event loop, every other request waiting (/v1/health 6.3 s). Now a 400, over
    REST and over gRPC, before any of that."""
    key = twin_service.new_key()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    body = '{"model": "esmfold", "sequence": "MKTVRQERLK", "params": {"x": [' + ",".join(["0"] * 1_000_000) + "]}}"
    started = time.perf_counter()
    answer = requests.post(twin_service.base_url + "/v1/predict", data=body, headers=headers, timeout=120)
    took = time.perf_counter() - started
    assert answer.status_code == 400, answer.text
    assert answer.json()["message"] == (f"invalid request body: it holds more than {MAX_JSON_VALUES} JSON values "
                                        "(numbers, strings, arrays, objects); no request needs that many")
    assert took < 5, f"{took:.1f} s"  # measured 0.6 s (8.6-14.7 s before, on the same 2 shared cores)
    params = struct_pb2.Struct()
    params.update({"x": [0] * (MAX_JSON_VALUES + 1)})
    channel, stub = twin_service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as refused:
        stub.Predict(pb.PredictRequest(model="esmfold", sequence="MKTVRQERLK", params=params),
                     metadata=[("authorization", f"Bearer {key}")], timeout=60)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"more than {MAX_JSON_VALUES} JSON values" in (refused.value.details() or "")


def test_real_requests_are_far_below_the_value_limit() -> None:
    pocket = {"residues": [f"A:{n}" for n in range(1, 1001)], "radius": 8}
    batch = {"jobs": [{"model": "diffdock", "sequence": "CCO", "params": {"pocket": pocket}} for _ in range(10)]}
    assert not json_values_over(batch, MAX_JSON_VALUES)
    assert json_values_over([0] * MAX_JSON_VALUES, MAX_JSON_VALUES)  # the list itself is one more
    assert not json_values_over([0] * (MAX_JSON_VALUES - 1), MAX_JSON_VALUES)
    assert json_values_over({"a": {"b": [1, 2, 3]}}, 5) and not json_values_over({"a": {"b": [1, 2, 3]}}, 6)
