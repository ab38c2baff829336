"""`FleetInference`: the `Inference` port over several model servers, one per GPU node.

    PHONOS_TRITON_URLS=gpu1:8001,gpu2:8001,alphafold2=gpu3:8001

An entry `host:port` serves every model; `model=host:port` serves only that model (list the same address
once per model it serves). A model's endpoints are those that serve it.

* **Routing**: a call goes to the ready endpoint serving its model with the fewest requests in flight from
  this job service (the least recently used on a tie), so a busy or slower node gets less.
* **Failover**: a call answered *unavailable* (refused, unreachable, model not loaded, dropped) is sent to
  the next endpoint at once; that endpoint is taken out for the model until a health check finds the model
  ready there again. Only when every endpoint has failed the call does it fail as unavailable (dispatch
  then retries within PHONOS_TRITON_RETRY_WINDOW_S). Every other outcome (a model error, invalid input,
  a timeout) is the request's own and is returned as is: sending it elsewhere would fail the same way.
* **Health checks**: every `health_interval_s` each endpoint is probed (server live, each model ready);
  failing ones leave the rotation, ready ones come back.
* **/v1/health**: `triton` and each model are ready when at least one endpoint serves them ready; each
  endpoint is reported as `triton@<address>` and `<model>@<address>`.

Endpoints are any `Inference` (`TritonInference` in production, twins in the fleet tests), so routing,
failover and health are tested without servers and again on real tritonservers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from phonos_models.common.result_files import ModelResult

from jobservice.inference import (
    NOT_READY,
    READY,
    SERVER_COMPONENT,
    UNAVAILABLE,
    Inference,
    InferenceRequest,
    InferenceUnavailable,
    ProgressCallback,
)
from phonos_config.fleet import EndpointSpec, parse_endpoints

log = logging.getLogger(__name__)
__all__ = ["EndpointSpec", "FleetInference", "build_inference", "parse_endpoints"]

UNKNOWN = "unknown"  # not probed yet: eligible, so a fresh fleet routes before its first health check


@dataclass
class Endpoint:
    name: str
    inference: Inference
    models: frozenset[str] | None
    server: str = UNKNOWN
    states: dict[str, str] = field(default_factory=dict)  # model → READY / NOT_READY / UNAVAILABLE
    in_flight: int = 0
    calls: int = 0
    last_used: int = 0
    in_flight_of: dict[str, int] = field(default_factory=dict)  # model → its calls here now
    capacities: dict[str, int] = field(default_factory=dict)  # model → what this node computes at once (when said)

    def load(self, model: str) -> float:
        """The model's calls here over what this node computes at once (its calls alone while that is unknown)."""
        calls = self.in_flight_of.get(model, 0)
        capacity = self.capacities.get(model)
        return calls / capacity if capacity else float(calls)

    def serves(self, model: str) -> bool:
        return self.models is None or model in self.models

    def eligible(self, model: str) -> bool:
        return self.server in (READY, UNKNOWN) and self.states.get(model, UNKNOWN) in (READY, UNKNOWN)


class FleetInference:
    def __init__(self, endpoints: Iterable[tuple[str, Inference, frozenset[str] | None]], *,
                 health_interval_s: float = 2.0) -> None:
        self._endpoints = [Endpoint(name, inference, models) for name, inference, models in endpoints]
        if not self._endpoints:
            raise ValueError("a fleet needs at least one endpoint")
        self._interval = health_interval_s
        self._models: set[str] = set()  # every model asked for so far: what the health checks probe
        self._ticks = itertools.count(1)
        self._checker: asyncio.Task[None] | None = None

    @classmethod
    def from_urls(cls, text: str, *, health_interval_s: float = 2.0, api_secret: str = "") -> FleetInference:
        """`api_secret`: PHONOS_TRITON_API_SECRET, one secret for every endpoint ("": unlocked Tritons)."""
        from jobservice.triton_inference import TritonInference

        return cls(((s.address, TritonInference(s.address, api_secret=api_secret), s.models)
                    for s in parse_endpoints(text)), health_interval_s=health_interval_s)

    @property
    def endpoints(self) -> Sequence[Endpoint]:
        return tuple(self._endpoints)

    def _ensure_checker(self) -> None:
        if self._checker is None or self._checker.done():
            self._checker = asyncio.create_task(self._check_forever(), name="fleet-health")

    async def infer(self, request: InferenceRequest, on_progress: ProgressCallback | None = None) -> ModelResult:
        self._ensure_checker()
        self._models.add(request.model)
        tried: set[str] = set()
        failures: list[str] = []
        while True:
            endpoint = self._pick(request.model, tried)
            if endpoint is None:
                detail = "; ".join(failures) or self._why_none(request.model)
                raise InferenceUnavailable(f"no endpoint could serve {request.model} ({detail})")
            tried.add(endpoint.name)
            endpoint.in_flight += 1
            endpoint.in_flight_of[request.model] = endpoint.in_flight_of.get(request.model, 0) + 1
            endpoint.last_used = next(self._ticks)
            try:
                result = await endpoint.inference.infer(request, on_progress)
            except InferenceUnavailable as exc:
                failures.append(f"{endpoint.name}: {exc}")
                endpoint.states[request.model] = UNAVAILABLE  # out until a health check finds it ready
                log.warning("endpoint unavailable, trying another", extra={
                    "action": "fleet.failover", "endpoint": endpoint.name, "model": request.model,
                    "request_id": request.request_id})
                continue
            finally:
                endpoint.in_flight -= 1
                endpoint.in_flight_of[request.model] -= 1
            endpoint.calls += 1
            return result

    def _pick(self, model: str, tried: set[str]) -> Endpoint | None:
        candidates = [e for e in self._endpoints if e.serves(model) and e.name not in tried and e.eligible(model)]
        # The node with the most room for this model: a node of one instance beside one of three took every other
        # call, so a job waited in the small one's queue while the big one had instances free (found by a reviewer).
        return min(candidates, key=lambda e: (e.load(model), e.in_flight, e.last_used), default=None)

    def _why_none(self, model: str) -> str:
        serving = [e for e in self._endpoints if e.serves(model)]
        if not serving:
            return "no endpoint is configured for it"
        return ", ".join(f"{e.name} {e.server if e.server != READY else e.states.get(model, UNKNOWN)}"
                         for e in serving)

    async def health(self, models: Sequence[str]) -> dict[str, str]:
        """Probes every endpoint now (each caches briefly), updates the rotation, reports all of them."""
        self._ensure_checker()
        self._models.update(models)
        await self._check_all(models)
        states: dict[str, str] = {SERVER_COMPONENT: READY if any(e.server == READY for e in self._endpoints)
                                  else UNAVAILABLE}
        for model in models:
            seen = [e.states.get(model, UNAVAILABLE) for e in self._endpoints if e.serves(model)]
            states[model] = READY if READY in seen else NOT_READY if NOT_READY in seen else UNAVAILABLE
        for endpoint in self._endpoints:
            states[f"{SERVER_COMPONENT}@{endpoint.name}"] = endpoint.server
            for model in models:
                if endpoint.serves(model):
                    states[f"{model}@{endpoint.name}"] = endpoint.states.get(model, UNAVAILABLE)
        return states

    async def capacity(self, model: str) -> int | None:
        """The endpoints' that serve `model` and answer, together (dispatch may keep them all busy: a node that is
        down adds nothing until it is back); None when none can say."""
        serving = [e for e in self._endpoints if e.serves(model)]
        said = await asyncio.gather(*(e.inference.capacity(model) for e in serving))
        for endpoint, capacity in zip(serving, said, strict=True):
            if capacity is not None:
                endpoint.capacities[model] = capacity  # what routing weighs its calls by
        found = [n for n in said if n is not None]
        return sum(found) if found else None

    async def _check_all(self, models: Iterable[str]) -> None:
        wanted = sorted(set(models))
        await asyncio.gather(*(self._check(e, [m for m in wanted if e.serves(m)]) for e in self._endpoints))

    async def _check(self, endpoint: Endpoint, models: list[str]) -> None:
        try:
            found = await endpoint.inference.health(models)
        except Exception as exc:  # a probe must never stop the checker
            log.warning("health probe failed", extra={"action": "fleet.probe_failed", "endpoint": endpoint.name,
                                                       "error": repr(exc)})
            found = {SERVER_COMPONENT: UNAVAILABLE, **{m: UNAVAILABLE for m in models}}
        before = endpoint.server
        endpoint.server = found.get(SERVER_COMPONENT, UNAVAILABLE)
        for model in models:
            endpoint.states[model] = found.get(model, UNAVAILABLE)
        if before != endpoint.server and before != UNKNOWN:
            log.info("endpoint %s", "back" if endpoint.server == READY else "out", extra={
                "action": "fleet.endpoint_state", "endpoint": endpoint.name, "state": endpoint.server})

    async def _check_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            if self._models:
                await self._check_all(self._models)

    def snapshot(self) -> list[dict[str, object]]:
        """Each endpoint's state and counters (for logs, benchmarks and tests)."""
        return [{"endpoint": e.name, "server": e.server, "models": dict(e.states), "in_flight": e.in_flight,
                 "calls": e.calls} for e in self._endpoints]

    async def close(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None
        await asyncio.gather(*(e.inference.close() for e in self._endpoints))


def build_inference(triton_url: str, triton_urls: str, health_interval_s: float, label: str = "", *,
                    api_secret: str = "") -> Inference:
    """The deployment's model servers: a fleet when PHONOS_TRITON_URLS is set, else the one PHONOS_TRITON_URL
    (`label`: its `endpoint` label in /metrics, PHONOS_TRITON_ENDPOINT_LABEL; `api_secret`: the key to their APIs,
    PHONOS_TRITON_API_SECRET)."""
    if triton_urls.strip():
        return FleetInference.from_urls(triton_urls, health_interval_s=health_interval_s, api_secret=api_secret)
    from jobservice.triton_inference import TritonInference

    return TritonInference(triton_url, label=label, api_secret=api_secret)

