"""A fleet of real tritonservers behind one job service (PHONOS_TRITON_URLS): both serve, a killed one is
taken out while its in-flight calls finish on the other, /v1/health reports each endpoint, and a restarted
one comes back into rotation. Routing details are tested on twins (tests/unit/test_fleet_routing.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
from pathlib import Path

import pytest

from jobservice.fleet_inference import FleetInference
from launcher.triton import TritonProcess
from tests.contract.test_inference_contract import echo_request
from tests.support import wait_until

pytestmark = pytest.mark.e2e


def start_echo(log: Path, ports: object = None) -> TritonProcess:
    triton = TritonProcess.start(models=["echo"], log_path=log, ports=ports)  # type: ignore[arg-type]
    try:
        triton.wait_ready(120)
    except BaseException:
        triton.stop()
        raise
    return triton


def test_fleet_spreads_fails_over_reports_and_brings_back(service_factory: type, tmp_path: Path) -> None:
    # The two nodes start side by side, then each is waited for.
    first, second = (TritonProcess.start(models=["echo"], log_path=tmp_path / f"{name}.log") for name in "ab")
    try:
        first.wait_ready(120)
        second.wait_ready(120)
        urls = f"{first.grpc_url},{second.grpc_url}"

        async def direct() -> list[dict[str, object]]:
            # The port itself: concurrent calls spread; calls in flight on a killed node finish elsewhere.
            fleet = FleetInference.from_urls(urls, health_interval_s=0.2)
            try:
                calls = [asyncio.create_task(fleet.infer(echo_request("!sleep 1", timeout_s=30, request_id=f"c{i}")))
                         for i in range(6)]
                await asyncio.sleep(0.5)
                spread = [e["in_flight"] for e in fleet.snapshot()]
                assert spread == [3, 3], spread
                await asyncio.to_thread(second.kill)
                results = await asyncio.gather(*calls)
                assert [r.files[0].content for r in results] == [b"!sleep 1"] * 6
                health = await fleet.health(["echo"])
                assert health[f"triton@{second.grpc_url}"] == "unavailable"
                assert health[f"triton@{first.grpc_url}"] == "ready" and health["echo"] == "ready"
                return fleet.snapshot()
            finally:
                await fleet.close()

        snapshot = asyncio.run(direct())
        assert snapshot[0]["calls"] == 6 and snapshot[1]["calls"] == 0  # all six ended on the survivor
        second.stop()
        second = start_echo(tmp_path / "b2.log", second.ports)

        service = service_factory.start(first.grpc_url, PHONOS_MODELS="echo", PHONOS_TRITON_URLS=urls,
                                        PHONOS_TRITON_HEALTH_INTERVAL_S="0.2", PHONOS_MAX_INFLIGHT_PER_MODEL="4")
        client = service.client(service.new_key(credits=1000))
        health = client.get("/v1/health").json()
        assert health["status"] == "operational", health
        assert {f"triton@{first.grpc_url}", f"triton@{second.grpc_url}", f"echo@{first.grpc_url}",
                f"echo@{second.grpc_url}"} <= set(health["components"])

        jobs = [client.post("/v1/predict", json={"model": "echo", "sequence": "!sleep 1"}).json()["job_id"]
                for _ in range(8)]
        wait_until(lambda: sum(client.get(f"/v1/jobs/{j}").json()["status"] == "running" for j in jobs) >= 4, 30)
        second.kill()  # mid-run: its calls are retried on the first node, no job fails
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            final = list(pool.map(lambda j: client.wait_for(j, timeout_s=60), jobs))
        assert [job["status"] for job in final] == ["completed"] * 8, final
        assert client.balance() == 1000 - 8
        # One node down: reported, out of rotation, but the service still serves every model (ready, 200).
        health = client.get("/v1/health")
        assert health.status_code == 200 and health.json()["status"] == "operational"
        components = health.json()["components"]
        assert components[f"triton@{second.grpc_url}"] == "unavailable"
        assert components["triton"] == "ready" and components["echo"] == "ready"
        assert f"out of rotation: echo@{second.grpc_url}, triton@{second.grpc_url}" in health.json()["message"]

        second.stop()
        second = start_echo(tmp_path / "b3.log", second.ports)
        back = wait_until(lambda: (h := client.get("/v1/health").json())["components"][
            f"echo@{second.grpc_url}"] == "ready" and h, 30)
        assert "out of rotation" not in back["message"]
        first.kill()
        second.kill()  # no endpoint left: degraded (503)
        down = wait_until(lambda: (r := client.get("/v1/health")).status_code == 503 and r.json(), 30)
        assert down["status"] == "degraded" and down["components"]["triton"] == "unavailable"
    finally:
        first.reap()  # both were killed above (or a check failed): nothing to stop gracefully
        second.reap()
