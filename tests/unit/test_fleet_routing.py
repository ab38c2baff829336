"""FleetInference over in-memory twins: least-in-flight routing, failover, health taking endpoints out and
bringing them back, per-model endpoints, and the PHONOS_TRITON_URLS syntax. The same behaviour on real
tritonservers: tests/e2e/test_triton_fleet.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from jobservice.fleet_inference import EndpointSpec, FleetInference, parse_endpoints
from jobservice.inference import (
    NOT_READY,
    READY,
    SERVER_COMPONENT,
    UNAVAILABLE,
    InferenceUnavailable,
    ModelFailure,
)
from jobservice.memory_inference import Failure, InMemoryInference, Slow
from jobservice.modelspecs.echo import EchoSpec
from launcher.triton import DEFAULT_MODEL_REPOSITORY
from tests.contract.test_inference_contract import echo_request

pytestmark = pytest.mark.unit


def twin() -> InMemoryInference:
    return InMemoryInference.for_specs({"echo": EchoSpec()}, DEFAULT_MODEL_REPOSITORY)


def run(scenario: Callable[..., Coroutine[Any, Any, None]], *twins: InMemoryInference,
        models: tuple[frozenset[str] | None, ...] | None = None, interval_s: float = 0.05) -> None:
    async def main() -> None:
        pinned = models or (None,) * len(twins)
        fleet = FleetInference(((f"node{i}", t, m) for i, (t, m) in enumerate(zip(twins, pinned, strict=True))),
                               health_interval_s=interval_s)
        try:
            await scenario(fleet)
        finally:
            await fleet.close()

    asyncio.run(main())


def test_calls_go_to_the_endpoint_with_the_fewest_in_flight() -> None:
    a, b = twin(), twin()

    async def scenario(fleet: FleetInference) -> None:
        a.script("echo", Slow(0.5))
        slow = asyncio.create_task(fleet.infer(echo_request("slow")))
        await asyncio.sleep(0.05)
        assert fleet.snapshot()[0]["in_flight"] == 1
        for i in range(3):  # round robin would send one of these to the busy node0
            await fleet.infer(echo_request(f"quick{i}"))
        assert (len(a.calls), len(b.calls)) == (1, 3)
        await slow
        assert [e["in_flight"] for e in fleet.snapshot()] == [0, 0]
        assert [e["calls"] for e in fleet.snapshot()] == [1, 3]

    run(scenario, a, b)


def test_an_idle_fleet_alternates_endpoints() -> None:
    a, b = twin(), twin()

    async def scenario(fleet: FleetInference) -> None:
        for i in range(6):
            await fleet.infer(echo_request(f"n{i}"))
        assert (len(a.calls), len(b.calls)) == (3, 3)

    run(scenario, a, b)


def test_an_unavailable_endpoint_is_skipped_and_the_call_retried_elsewhere() -> None:
    a, b = twin(), twin()

    async def scenario(fleet: FleetInference) -> None:
        a.available = False
        results = [await fleet.infer(echo_request(f"r{i}")) for i in range(4)]
        assert all(r.files for r in results)
        assert len(a.calls) == 1  # tried once, then out of rotation
        assert len(b.calls) == 4
        health = await fleet.health(["echo"])
        assert health[SERVER_COMPONENT] == READY and health["echo"] == READY
        assert health["triton@node0"] == UNAVAILABLE and health["echo@node0"] == UNAVAILABLE
        assert health["triton@node1"] == READY and health["echo@node1"] == READY

    run(scenario, a, b)


def test_a_call_dropped_mid_run_is_retried_on_another_endpoint() -> None:
    a, b = twin(), twin()

    async def scenario(fleet: FleetInference) -> None:
        a.script("echo", Slow(0.2))  # node0 busy, so the next call goes to node1, which drops it
        b.script("echo", Failure.CANCELLED_BY_SERVER)
        busy = asyncio.create_task(fleet.infer(echo_request("busy")))
        await asyncio.sleep(0.01)
        result = await fleet.infer(echo_request("dropped"))
        assert result.files
        assert (len(a.calls), len(b.calls)) == (2, 1)
        await busy

    run(scenario, a, b)


def test_the_requests_own_failures_are_not_sent_elsewhere() -> None:
    a, b = twin(), twin()

    async def scenario(fleet: FleetInference) -> None:
        a.script("echo", Failure.MODEL_ERROR)
        with pytest.raises(ModelFailure):
            await fleet.infer(echo_request("boom"))
        assert len(a.calls) + len(b.calls) == 1

    run(scenario, a, b)


def test_every_endpoint_down_is_unavailable_and_says_which() -> None:
    a, b = twin(), twin()

    async def scenario(fleet: FleetInference) -> None:
        a.available = b.available = False
        with pytest.raises(InferenceUnavailable, match="node0.*node1"):
            await fleet.infer(echo_request("x"))
        with pytest.raises(InferenceUnavailable, match="node0 .*node1 "):
            await fleet.infer(echo_request("y"))  # both out of rotation: no call is even sent
        assert len(a.calls) == len(b.calls) == 1
        health = await fleet.health(["echo"])
        assert health[SERVER_COMPONENT] == UNAVAILABLE and health["echo"] == UNAVAILABLE

    run(scenario, a, b)


def test_health_checks_take_an_endpoint_out_and_bring_it_back() -> None:
    a, b = twin(), twin()

    async def scenario(fleet: FleetInference) -> None:
        await fleet.health(["echo"])
        a.set_ready("echo", False)  # the model unloaded on node0: found by the periodic check, no call lost
        await asyncio.sleep(0.2)
        assert fleet.endpoints[0].states["echo"] == NOT_READY
        for i in range(3):
            await fleet.infer(echo_request(f"while-out{i}"))
        assert len(a.calls) == 0 and len(b.calls) == 3
        a.set_ready("echo", True)
        await asyncio.sleep(0.2)
        assert fleet.endpoints[0].states["echo"] == READY
        for i in range(4):
            await fleet.infer(echo_request(f"back{i}"))
        assert len(a.calls) >= 2  # back in rotation

    run(scenario, a, b)


def test_models_pinned_to_endpoints_go_only_there() -> None:
    a, b = twin(), twin()

    async def scenario(fleet: FleetInference) -> None:
        for i in range(3):
            await fleet.infer(echo_request(f"p{i}"))
        assert (len(a.calls), len(b.calls)) == (0, 3)
        health = await fleet.health(["echo"])
        assert "echo@node0" not in health and health["echo@node1"] == READY

    run(scenario, a, b, models=(frozenset({"esmfold"}), frozenset({"echo"})))


def test_endpoint_syntax() -> None:
    assert parse_endpoints("a:1, b:2,esmfold=c:3,diffdock=c:3,esmfold=a:1") == [
        EndpointSpec("a:1", None), EndpointSpec("b:2", None), EndpointSpec("c:3", frozenset({"esmfold", "diffdock"}))]
    assert parse_endpoints("[::1]:8001") == [EndpointSpec("[::1]:8001", None)]
    for bad in ("", " , ", "a", "a:b", "=a:1", "a:1,b"):
        with pytest.raises(ValueError, match="PHONOS_TRITON_URLS"):
            parse_endpoints(bad)


def test_calls_go_where_the_model_has_room_for_them_by_each_nodes_capacity() -> None:
    """A node of one instance beside one of three took every other call (fewest in flight): with four jobs in
    flight, one waited in the small node's queue while the big one had an instance free (found by a reviewer)."""
    small, big = twin(), twin()
    small.capacities["echo"], big.capacities["echo"] = 1, 3

    async def scenario(fleet: FleetInference) -> None:
        assert await fleet.capacity("echo") == 4  # what dispatch keeps in flight: the nodes together
        for node in (small, big):
            node.script("echo", *[Slow(0.5)] * 4)
        calls = [asyncio.create_task(fleet.infer(echo_request(f"job{i}"))) for i in range(4)]
        await asyncio.sleep(0.2)
        assert (len(small.calls), len(big.calls)) == (1, 3)
        await asyncio.gather(*calls)

    run(scenario, small, big)
