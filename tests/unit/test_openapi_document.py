"""The OpenAPI document: generated from protos/ (no drift), valid OpenAPI 3.1, and covering every route."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from gateway.http_rule import rules_for_service
from phonos.v1 import phonos_pb2

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "phonos" / "v1" / "openapi.json"


def generator() -> Any:
    spec = importlib.util.spec_from_file_location("gen_openapi", REPO / "scripts" / "gen_openapi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text())


def test_the_committed_document_is_what_the_generator_makes_from_the_protos() -> None:
    assert DOCUMENT.read_text() == generator().render(), "run python scripts/gen_openapi.py"


def test_it_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)  # openapi-spec-validator: raises on any violation
    assert document["openapi"] == "3.1.0"


def test_every_http_rule_is_an_operation(document: dict[str, Any]) -> None:
    service = phonos_pb2.DESCRIPTOR.services_by_name["PhonosService"]
    for rule in rules_for_service(service):
        operation = document["paths"][rule.template.text][rule.http_method.lower()]
        assert operation["operationId"] == rule.method.name
    assert len({op["operationId"] for ops in document["paths"].values() for op in ops.values()}) == \
        len(rules_for_service(service)) + 1  # and GET /v1/openapi.json itself


def test_auth_errors_limits_and_enums_are_described(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "pk_...",
        "description": "An API key from `phonos keys create`."}
    assert paths["/v1/health"]["get"]["security"] == [] and "401" not in paths["/v1/health"]["get"]["responses"]
    predict = paths["/v1/predict"]["post"]
    assert {"400", "401", "402", "413", "422", "429", "500"} <= set(predict["responses"])
    assert document["components"]["responses"]["Error429"]["headers"]["Retry-After"]
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "message"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["required"] == ["model", "sequence"]
    assert any(p["name"] == "Idempotency-Key" for p in predict["parameters"])
    batch = paths["/v1/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert (batch["properties"]["jobs"]["minItems"], batch["properties"]["jobs"]["maxItems"]) == (1, 10)
    limit = next(p for p in paths["/v1/jobs"]["get"]["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"]) == (1, 100)
    job = document["components"]["schemas"]["Job"]
    assert job["properties"]["status"]["enum"] == ["pending", "running", "completed", "failed", "cancelled"]
    assert "output_file" not in job["required"] and "formats" in job["required"]  # optional vs always written
    events = paths["/v1/jobs/{job_id}/events"]["get"]
    assert set(events["responses"]["200"]["content"]) == {"text/event-stream"}
    assert "204" in events["responses"] and any(p["name"] == "Last-Event-ID" for p in events["parameters"])


def test_the_documented_error_codes_are_the_service_s_failure_kinds(document: dict[str, Any]) -> None:
    from jobservice.failures import FailureKind

    error_code = document["components"]["schemas"]["Job"]["properties"]["error_code"]
    assert error_code["enum"] == [str(kind) for kind in FailureKind]


def test_the_activity_filter_lists_the_service_s_actions_and_empty_for_all(document: dict[str, Any]) -> None:
    # The service reads an empty action as no filter (jobservice.activity.check_action), so the document lists
    # "" beside every action it records; a client generated from it may send any of them.
    from jobservice.activity import ACTIONS, check_action

    parameters = document["paths"]["/v1/account/activity"]["get"]["parameters"]
    action = next(p for p in parameters if p["name"] == "action")["schema"]
    assert action["enum"] == ["", *ACTIONS]
    assert check_action("") is None


def test_the_list_filters_list_empty_beside_all(document: dict[str, Any]) -> None:
    # GET /v1/jobs `status` and `model` and a webhook's deliveries' `status`: the service reads "" as "all"
    # (jobservice.servicer.ListJobs, webhook_deliveries.WebhookDeliveries.page), so the document lists both.
    from jobservice.states import JobStatus
    from jobservice.webhook_deliveries import ALL, STATUSES

    def enum(path: str, name: str) -> list[str]:
        parameters = document["paths"][path]["get"]["parameters"]
        return list(next(p for p in parameters if p["name"] == name)["schema"]["enum"])

    assert enum("/v1/jobs", "status") == [*(s.value for s in JobStatus), ALL, ""]
    assert enum("/v1/jobs", "model") == ["esmfold", "alphafold2", "diffdock", ALL, ""]
    assert enum("/v1/webhooks/{webhook_id}/deliveries", "status") == [*STATUSES, ALL, ""]


def test_the_limits_in_the_protos_are_the_service_s_limits(document: dict[str, Any]) -> None:
    from jobservice.service import MAX_NAME_LENGTH
    from phonos_config.service import ServiceSettings

    schemas = document["components"]["schemas"]
    assert schemas["BatchJobInput"]["properties"]["name"]["maxLength"] == MAX_NAME_LENGTH
    batch = document["paths"]["/v1/batch"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert batch["properties"]["jobs"]["maxItems"] == ServiceSettings().max_batch_jobs


def test_the_description_names_exactly_the_routes_that_take_an_idempotency_key(document: dict[str, Any]) -> None:
    """It said every POST that creates or changes something took one; POST /v1/keys and POST /v1/jobs/{id}/shares
    ignore it. The routes it names now are the routes whose operation lists the header."""
    taking = {f"`{method.upper()} {path}`" for path, operations in document["paths"].items()
              for method, operation in operations.items()
              if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))}
    said = document["info"]["description"].split("accept an `Idempotency-Key`")[1].split(";")[0]
    assert set(said.split(":", 1)[1].replace("\n", " ").strip().split(", ")) == taking
    assert "`POST /v1/predict`" in taking and "`POST /v1/keys`" not in taking
    assert "POST routes that create or change something" not in document["info"]["description"]
