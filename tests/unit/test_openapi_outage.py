"""The OpenAPI document declares the outage's 503 on every route: the database's (PostgreSQL restarting) and an
unreachable job service's (behind a separate gateway) are no route's own, so the protos cannot be the only source.
Was: 503 only on GET /v1/health, where the proto declares it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

DOCUMENT = Path(__file__).resolve().parents[2] / "phonos" / "v1" / "openapi.json"
SERVED_BY_THE_GATEWAY_ITSELF = {("get", "/v1/openapi.json")}  # a file the gateway holds: no database, no rpc


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text())


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()
            if (method, path) not in SERVED_BY_THE_GATEWAY_ITSELF]


def test_every_route_declares_503_with_retry_after(document: dict[str, Any]) -> None:
    missing = [f"{method.upper()} {path}" for method, path, op in operations(document) if "503" not in op["responses"]]
    assert missing == []
    outage = document["components"]["responses"]["Error503"]
    assert "Retry-After" in outage["headers"] and "X-Request-Id" in outage["headers"]
    assert outage["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert "database" in outage["description"] and "job service" in outage["description"]
    assert len(operations(document)) > 20


def test_the_health_route_keeps_its_own_503_the_health_report(document: dict[str, Any]) -> None:
    degraded = document["paths"]["/v1/health"]["get"]["responses"]["503"]
    assert degraded["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/GetHealthResponse"}
    assert "Retry-After" in degraded["headers"] and "health report" in degraded["description"]
    others = [op["responses"]["503"] for method, path, op in operations(document) if path != "/v1/health"]
    assert all(response == {"$ref": "#/components/responses/Error503"} for response in others)
