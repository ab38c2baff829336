"""A big AlphaFold2 job's O(size) steps leave the job service's event loop free for everyone else
(jobservice/big_work.py).

The job service has one event loop for every user's calls, SSE streams, dispatch and webhook deliveries. A ~54 MB
AlphaFold2 job held it at submission (its stored request's JSON text: 0.2-0.34 s; its params turned from protobuf
into a dict: ~30 ms) and at dispatch (the stored request read back and its tensor built: 0.26-0.82 s), and every
other call waited (bench/loop_stall.py). Now those steps run in threads for a big job.

Each test holds one step in the middle (a `Hold` around the real call, released by the test) and asks another
account's GET /v1/account meanwhile: answered while held, the step is off the loop; on the loop, the call could
only be answered once the hold gave up by itself (`HOLD_S`), and the test says so.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from google.protobuf import json_format, struct_pb2
from tritonclient.grpc import aio as triton_aio

from jobservice.big_work import INLINE_CHARS
from jobservice.inference import InferenceError, InferenceRequest, text_tensor
from jobservice.triton_inference import TritonInference
from tests.support import ApiClient, InProcessService, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.sqlite_only]  # the loop's answers, not the store's

HOLD_S = 5.0  # how long a held step waits for the test before going on by itself (only on the old code)
QUERY = "MKTAYIAKQRQISFVKSHFSRQ"
ROW = f">r\n{QUERY}\n"
A3M = f">q\n{QUERY}\n" + ROW * (2 * INLINE_CHARS // len(ROW))  # twice what stays on the loop: ~0.5 MB
BIG_JOB = {"model": "alphafold2", "sequence": QUERY, "params": {"msa_mode": "a3m", "a3m": A3M}}


class Hold:
    """Holds the first call it wraps that `wanted` picks (in whatever thread runs it) until `release`, HOLD_S at
    most."""

    def __init__(self, wanted: Callable[..., bool]) -> None:
        self.wanted = wanted
        self.started = threading.Event()
        self.release = threading.Event()
        self.finished = threading.Event()
        self.released_in_time: bool | None = None
        self._lock = threading.Lock()

    def around(self, call: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            if self.wanted(*args, **kwargs):
                with self._lock:
                    first = not self.started.is_set()
                    self.started.set()
                if first:
                    self.released_in_time = self.release.wait(HOLD_S)
                    self.finished.set()
            return call(*args, **kwargs)

        return held


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(tmp_path_factory.mktemp("big-job-loop"), {"PHONOS_MODELS": "alphafold2"})
    yield service
    service.stop()


def answered_while_held(service: InProcessService, hold: Hold) -> tuple[requests.Response, ApiClient]:
    """The big job's submission answer (and its submitter), after asserting that another account's call was answered while the held
    step waited."""
    submitter, bystander = service.client(service.new_key()), service.client(service.new_key())
    answers: list[requests.Response] = []
    sender = threading.Thread(target=lambda: answers.append(submitter.post("/v1/predict", json=BIG_JOB)))
    sender.start()
    try:
        assert hold.started.wait(30), "the big job's step never began"
        assert bystander.get("/v1/account").status_code == 200
    finally:
        hold.release.set()
        sender.join(60)
    assert hold.finished.wait(30)
    assert hold.released_in_time, (f"another account's call was answered only after the big job's step went on by "
                                   f"itself ({HOLD_S} s): that step held the event loop")
    assert answers and answers[0].status_code in (200, 202), answers[0].text if answers else "no answer"
    return answers[0], submitter


def _is_stored_request(value: object, *args: Any, **kwargs: Any) -> bool:
    """The big job's stored request (its A3M itself, or in its place what jobservice/big_work.py `dumps` writes
    a piece at a time)."""
    return isinstance(value, dict) and set(value) == {"sequence", "params"} and value["sequence"] == QUERY and \
        "a3m" in value["params"]


def _is_stored_request_text(text: object, *args: Any, **kwargs: Any) -> bool:
    """The big job's stored request, whole or (jobservice/big_work.py `loads`) with its A3M's text left out."""
    return isinstance(text, str) and text.startswith('{"sequence"') and '"a3m"' in text


def _is_big_params(message: object, *args: Any, **kwargs: Any) -> bool:
    return isinstance(message, struct_pb2.Struct) and "a3m" in message.fields


def test_a_big_jobs_stored_text_is_written_without_holding_everyone_elses_calls(
        service: InProcessService, monkeypatch: pytest.MonkeyPatch) -> None:
    service.settle()
    hold = Hold(_is_stored_request)
    monkeypatch.setattr(json, "dumps", hold.around(json.dumps))
    answer, submitter = answered_while_held(service, hold)
    monkeypatch.undo()
    # Stored whole: the job runs to its end, and its stored input is the A3M sent.
    job_id = answer.json()["job_id"]
    wait_until(lambda: submitter.get(f"/v1/jobs/{job_id}").json()["status"] == "completed", 30)


def test_a_big_jobs_params_are_read_without_holding_everyone_elses_calls(
        service: InProcessService, monkeypatch: pytest.MonkeyPatch) -> None:
    service.settle()
    hold = Hold(_is_big_params)
    monkeypatch.setattr(json_format, "MessageToDict", hold.around(json_format.MessageToDict))
    answered_while_held(service, hold)


def test_a_big_job_is_dispatched_without_holding_everyone_elses_calls(
        service: InProcessService, monkeypatch: pytest.MonkeyPatch) -> None:
    service.settle()
    calls = len(service.inference.calls)
    hold = Hold(_is_stored_request_text)  # the claimed job's stored request, read back to build its tensors
    monkeypatch.setattr(json, "loads", hold.around(json.loads))
    answered_while_held(service, hold)
    monkeypatch.undo()
    wait_until(lambda: len(service.inference.calls) > calls, 30)
    request = service.inference.calls[calls]
    sent = json.loads(next(t for t in request.inputs if t.name == "REQUEST").array.reshape(-1)[0])
    assert sent["a3m"] == A3M  # built once, whole, from the stored request


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_big_jobs_tensors_are_built_without_holding_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real client's tensor building (tritonclient's serialize_byte_tensor copies the text), before the call."""
    hold = Hold(lambda tensor, array, *args, **kwargs: array.size and len(array.reshape(-1)[0]) > INLINE_CHARS)
    monkeypatch.setattr(triton_aio.InferInput, "set_data_from_numpy",
                        hold.around(triton_aio.InferInput.set_data_from_numpy))
    request = InferenceRequest("alphafold2", (text_tensor("REQUEST", A3M, batched=False),), timeout_s=10)

    async def main() -> None:
        inference = TritonInference(f"127.0.0.1:{closed_port()}")  # nobody there: the call fails after the build
        call = asyncio.ensure_future(inference.infer(request))
        assert await asyncio.to_thread(hold.started.wait, 30)  # answered on the loop while the tensor is built
        hold.release.set()
        with pytest.raises(InferenceError):
            await call
        await inference.close()

    asyncio.run(main())
    assert hold.released_in_time, f"the loop turned only after the tensor build went on by itself ({HOLD_S} s)"
