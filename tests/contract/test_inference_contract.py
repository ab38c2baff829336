"""One contract, two implementations: the in-memory twin and the real Triton server behave alike.

Every test runs against both (`inference` fixture), and against a third: `FleetInference` over that same
real server and an endpoint that is down (a fleet with a dead node keeps the contract). The real side is a
real tritonserver serving the diagnostic `echo` model (which fails on request: triton_models/echo) and tiny
ESMFold; the twin is told how to fail. Where the two cannot be provoked the same way, each harness provokes its own way and the
assertion is the same.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from phonos_models.common.progress import Progress
from tritonclient.utils import InferenceServerException

from jobservice.fleet_inference import FleetInference
from jobservice.inference import (
    READY,
    SERVER_COMPONENT,
    UNAVAILABLE,
    ComputeLimitExceeded,
    Inference,
    InferenceRequest,
    InferenceTimeout,
    InferenceUnavailable,
    InvalidModelInput,
    ModelFailure,
    ModelOutOfMemory,
    Tensor,
    text_tensor,
)
from jobservice.memory_inference import Failure, InMemoryInference, Progressing, Slow
from jobservice.modelspecs.echo import EchoSpec
from jobservice.modelspecs.esmfold import build_spec as esmfold_spec
from jobservice.triton_inference import TritonInference, classify
from launcher.ports import free_port
from launcher.triton import DEFAULT_MODEL_REPOSITORY
from tests.support import TritonFixture

pytestmark = pytest.mark.e2e

ECHO = EchoSpec()
ESMFOLD = esmfold_spec({})


def echo_request(text: str, timeout_s: float = 30.0, request_id: str = "contract") -> InferenceRequest:
    return InferenceRequest("echo", (text_tensor("TEXT", text, batched=True),), timeout_s, request_id)


@dataclass
class Harness:
    """How each side is provoked; the assertions are shared."""

    name: str
    make: Callable[[], Inference]
    down: Callable[[], Inference]  # a server that cannot be reached
    provoke: Callable[[Inference, Failure | Slow | Progressing], str]  # returns the echo text that ends that way
    stopped: Callable[[Inference, str], Coroutine[Any, Any, bool]]  # did the model stop this request?


def twin_harness() -> Harness:
    def make() -> InMemoryInference:
        return InMemoryInference.for_specs({"echo": ECHO, "esmfold": ESMFOLD}, DEFAULT_MODEL_REPOSITORY)

    def down() -> InMemoryInference:
        twin = make()
        twin.available = False
        return twin

    def provoke(inference: Inference, outcome: Failure | Slow | Progressing) -> str:
        assert isinstance(inference, InMemoryInference)
        inference.script("echo", outcome)
        return "hello"

    async def stopped(inference: Inference, request_id: str) -> bool:
        assert isinstance(inference, InMemoryInference)
        return request_id in inference.cancelled

    return Harness("twin", make, down, provoke, stopped)


def triton_harness(url: str) -> Harness:
    directives = {Failure.INVALID_INPUT: "!invalid the sequence is not a protein", Failure.MODEL_ERROR: "!fail boom",
                  Failure.TIMEOUT: "!sleep 5",
                  # ResourceExhausted, as the science code raises it; its message need not say "out of memory"
                  # (the adapter makes it say so, which is all the job service can read on the wire).
                  Failure.OUT_OF_MEMORY: "!oom reduce the sequence length"}

    def provoke(inference: Inference, outcome: Failure | Slow | Progressing) -> str:
        if isinstance(outcome, Progressing):  # the echo model reports "running" steps i of N
            return f"!progress {len(outcome.steps)} " + (provoke(inference, outcome.then) if outcome.then else "hello")
        return f"!sleep {outcome.seconds}" if isinstance(outcome, Slow) else directives[outcome]

    async def stopped(inference: Inference, request_id: str) -> bool:
        # One echo instance: a quick request is answered at once only if the cancelled one stopped.
        loop = asyncio.get_running_loop()
        started = loop.time()
        await inference.infer(echo_request("after", timeout_s=10))
        return loop.time() - started < 2.0

    return Harness("triton", lambda: TritonInference(url), lambda: TritonInference(f"127.0.0.1:{free_port()}"),
                   provoke, stopped)


def fleet_harness(url: str) -> Harness:
    """The live server behind a dead node: every call the dead one takes is retried on the live one."""
    real = triton_harness(url)

    def fleet(*urls: str) -> FleetInference:
        return FleetInference((u, TritonInference(u), None) for u in urls)

    return Harness("fleet", lambda: fleet(f"127.0.0.1:{free_port()}", url),
                   lambda: fleet(f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"), real.provoke, real.stopped)


@pytest.fixture(params=["twin", "triton", "fleet"])
def harness(request: pytest.FixtureRequest) -> Harness:
    if request.param == "twin":
        return twin_harness()
    triton: TritonFixture = request.getfixturevalue("shared_triton")
    return (triton_harness if request.param == "triton" else fleet_harness)(triton.grpc_url)


def run(harness: Harness, scenario: Callable[[Inference], Coroutine[Any, Any, None]], *, down: bool = False) -> None:
    async def main() -> None:
        inference = harness.down() if down else harness.make()
        try:
            await scenario(inference)
        finally:
            await inference.close()

    asyncio.run(main())


def test_a_result_comes_back_as_the_files_the_spec_promises(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        result = await inference.infer(echo_request("hello"))
        assert tuple(f.format for f in result.files) == ECHO.formats
        assert result.files[0].content  # the twin labels its files as its own; the real echo returns the text
        if harness.name != "twin":
            assert result.files[0].content == b"hello"
        job = await ESMFOLD.validate("MKTAYIAKQRQISFVKSHFSRQ", {"num_recycles": 1}, NoOutputs())
        folded = await inference.infer(InferenceRequest("esmfold", ESMFOLD.inputs(job), 60.0, "fold"))
        assert tuple(f.format for f in folded.files) == ESMFOLD.formats
        assert folded.metadata["weights"]

    run(harness, scenario)


@pytest.mark.parametrize(("outcome", "error"), [
    (Failure.INVALID_INPUT, InvalidModelInput),
    (Failure.MODEL_ERROR, ModelFailure),
    (Failure.OUT_OF_MEMORY, ModelOutOfMemory),
    (Failure.TIMEOUT, InferenceTimeout),
])
def test_each_model_failure_is_typed(harness: Harness, outcome: Failure, error: type[Exception]) -> None:
    async def scenario(inference: Inference) -> None:
        with pytest.raises(error) as raised:
            await inference.infer(echo_request(harness.provoke(inference, outcome), timeout_s=0.5))
        # A crash is not an out-of-memory: the metrics would send the operator after memory for a bug.
        assert isinstance(raised.value, ModelOutOfMemory) == (outcome is Failure.OUT_OF_MEMORY)
        if outcome is Failure.OUT_OF_MEMORY:
            assert "out of memory" in str(raised.value)
        assert (await inference.infer(echo_request("still serving"))).files  # one failure breaks nothing

    run(harness, scenario)


def test_a_slow_call_within_its_timeout_succeeds(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        result = await inference.infer(echo_request(harness.provoke(inference, Slow(0.3)), timeout_s=10))
        assert tuple(f.format for f in result.files) == ECHO.formats

    run(harness, scenario)


def test_a_call_past_its_compute_limit_stops_there_and_is_typed(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        loop = asyncio.get_running_loop()
        heavy = dataclasses.replace(echo_request(harness.provoke(inference, Slow(20)), timeout_s=30),
                                    compute_limit_s=0.5)
        started = loop.time()
        with pytest.raises(ComputeLimitExceeded):
            await inference.infer(heavy)
        assert loop.time() - started < 5  # at the limit (the model's own clock), long before the deadline
        if harness.name != "twin":
            assert await harness.stopped(inference, "contract")  # the model stopped computing there
        # Within its limit the same call succeeds: the limit counts compute only.
        light = dataclasses.replace(echo_request(harness.provoke(inference, Slow(0.2)), timeout_s=30),
                                    compute_limit_s=5)
        assert (await inference.infer(light)).files

    run(harness, scenario)


def echo_steps(count: int) -> tuple[Progress, ...]:
    """What the echo model reports for `!progress N` (triton_models/echo/1/model.py)."""
    return tuple(Progress("running", i, count, f"echo step {i} of {count}") for i in range(1, count + 1))


def test_progress_arrives_in_order_before_the_one_result(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        heard: list[tuple[Progress, bool]] = []
        call = asyncio.create_task(inference.infer(
            echo_request(harness.provoke(inference, Progressing(echo_steps(3), 0.01))),
            on_progress=lambda update: heard.append((update, call.done()))))
        result = await call
        assert [update for update, _ in heard] == list(echo_steps(3))
        assert not any(done for _, done in heard)  # all of it while the call ran
        assert tuple(f.format for f in result.files) == ECHO.formats

    run(harness, scenario)


def test_a_typed_error_after_progress_stays_typed(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        heard: list[Progress] = []
        with pytest.raises(InvalidModelInput):
            await inference.infer(echo_request(harness.provoke(
                inference, Progressing(echo_steps(2), 0.01, Failure.INVALID_INPUT))), on_progress=heard.append)
        assert heard == list(echo_steps(2))
        assert (await inference.infer(echo_request("next"), on_progress=heard.append)).files  # no stray progress
        assert len(heard) == 2

    run(harness, scenario)


def test_a_failing_progress_listener_never_fails_the_call(harness: Harness) -> None:
    def broken(update: Progress) -> None:
        raise RuntimeError("listener bug")

    async def scenario(inference: Inference) -> None:
        text = harness.provoke(inference, Progressing(echo_steps(2), 0.01))
        assert (await inference.infer(echo_request(text), on_progress=broken)).files

    run(harness, scenario)


def test_tensors_that_do_not_fit_the_config_are_invalid_input(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        wrong_type = Tensor("TEXT", np.array([[1]], dtype=np.int32), "INT32")
        with pytest.raises(InvalidModelInput):
            await inference.infer(InferenceRequest("echo", (wrong_type,), 10.0))
        missing = Tensor("NOT_AN_INPUT", np.array([[b"x"]], dtype=object), "BYTES")
        with pytest.raises(InvalidModelInput):
            await inference.infer(InferenceRequest("echo", (missing,), 10.0))

    run(harness, scenario)


def test_an_unknown_model_is_unavailable(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        with pytest.raises(InferenceUnavailable):
            await inference.infer(InferenceRequest("no_such_model", (text_tensor("TEXT", "x", batched=True),), 10.0))

    run(harness, scenario)


def test_a_server_that_cannot_be_reached_is_unavailable_and_says_so_in_health(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        with pytest.raises(InferenceUnavailable):
            await inference.infer(echo_request("hello", timeout_s=5))
        states = await inference.health(["echo"])
        assert states[SERVER_COMPONENT] == UNAVAILABLE and states["echo"] == UNAVAILABLE
        assert set(states.values()) == {UNAVAILABLE}  # a fleet adds each endpoint, all unavailable

    run(harness, scenario, down=True)


def test_health_reports_the_server_and_each_model(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        states = await inference.health(["echo", "esmfold", "no_such_model"])
        assert states[SERVER_COMPONENT] == READY and states["echo"] == READY and states["esmfold"] == READY
        assert states["no_such_model"] not in (READY, UNAVAILABLE)

    run(harness, scenario)


def test_capacity_is_what_the_models_config_computes_at_once(harness: Harness) -> None:
    """Instances times batch size, as Triton's effective config says (a fleet: its live nodes together); dispatch
    keeps no more of a model's jobs in flight (jobservice/capacity.py)."""
    async def scenario(inference: Inference) -> None:
        assert await inference.capacity("echo") == 8  # one instance, batches of up to 8
        assert await inference.capacity("esmfold") == 16  # two instances, batches of up to 8
        assert await inference.capacity("no_such_model") is None

    run(harness, scenario)


def test_capacity_is_unknown_when_the_server_cannot_be_reached() -> None:
    async def scenario() -> None:
        down = TritonInference(f"127.0.0.1:{free_port()}")
        try:
            assert await down.capacity("echo") is None
        finally:
            await down.close()

    asyncio.run(scenario())


def test_cancelling_the_call_stops_the_model(harness: Harness) -> None:
    async def scenario(inference: Inference) -> None:
        call = asyncio.create_task(inference.infer(echo_request(harness.provoke(inference, Slow(5)), 30, "doomed")))
        await asyncio.sleep(0.5)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        await asyncio.sleep(0.2)  # the cancellation travels to the model
        assert await harness.stopped(inference, "doomed")

    run(harness, scenario)


def test_a_request_the_server_drops_is_unavailable() -> None:
    """Triton answers CANCELLED when it drops a request it was running (e.g. shutting down): retryable on
    both sides (the real one cannot be provoked on demand, so its classification is checked directly)."""
    dropped = InferenceServerException("request cancelled", status="StatusCode.CANCELLED")
    assert isinstance(classify(dropped), InferenceUnavailable)

    async def scenario(inference: Inference) -> None:
        with pytest.raises(InferenceUnavailable):
            await inference.infer(echo_request(twin_harness().provoke(inference, Failure.CANCELLED_BY_SERVER)))

    run(twin_harness(), scenario)


def test_a_broken_result_envelope_is_a_model_failure() -> None:
    """A model answering tensors that break the envelope: scripted on the twin; on the real side the same
    decoding code runs on Triton's arrays (phonos_models.common.result_files.decode)."""
    async def scenario(inference: Inference) -> None:
        with pytest.raises(ModelFailure, match="broken result"):
            await inference.infer(echo_request(twin_harness().provoke(inference, Failure.BROKEN_RESULT)))

    run(twin_harness(), scenario)


class NoOutputs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("not used")

