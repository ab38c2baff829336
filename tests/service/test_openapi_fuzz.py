"""Schemathesis reads GET /v1/openapi.json from the live service and fuzzes every route with a valid key:
no 5xx, and every response (status, content type, headers, body) matches the document.

Bounded: a fixed number of examples per operation (derandomized), on the in-process service with the
inference twin serving all three models. Streams end after 0.15 s here (PHONOS_WATCH_MAX_STREAM_S), so
the account-wide event stream can be fuzzed too: every one of its cases holds the stream that long (0.5 s
cost 5 s of this test), and a keep-alive every 0.05 s still puts a comment line in each stream checked.

Every check runs but one: "schema-valid data is accepted" (positive_data_acceptance). The document
cannot say what the models accept beyond types and limits (amino-acid letters, a parsable SMILES,
model-specific params), so a schema-valid sequence such as "" is rightly a 400. The converse check runs:
data the document forbids must be refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.support import InProcessService

pytestmark = pytest.mark.integration

EXAMPLES_PER_ROUTE = 20  # 17 operations: a few hundred cases in all


@pytest.fixture(scope="module")
def fuzzed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    service = InProcessService(Path(tmp_path_factory.mktemp("fuzz")), {
        "PHONOS_MODELS": "esmfold,alphafold2,diffdock", "PHONOS_WATCH_MAX_STREAM_S": "0.15",
        "PHONOS_SSE_KEEPALIVE_S": "0.05",
        # schemathesis also sends every route without a key and expects 401: the failed-auth throttle
        # (429 after 30 a minute from one address) is tested elsewhere (tests/service/test_fuzz_edge.py)
        "PHONOS_AUTH_FAILURES_PER_MINUTE": "100000"})
    yield service
    service.stop()


@pytest.fixture(scope="module")
def api_key(fuzzed_service: InProcessService) -> str:
    return fuzzed_service.new_key(credits=1_000_000, rate_limit=1_000_000)


def test_every_route_answers_as_documented(fuzzed_service: InProcessService, api_key: str) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_service.base_url}/v1/openapi.json")
    schema.config.update(base_url=fuzzed_service.base_url)
    headers = {"Authorization": f"Bearer {api_key}"}
    routes: list[str] = []
    calls: list[str] = []
    for loaded in schema.get_all_operations():
        operation = loaded.ok()
        routes.append(operation.label)

        @settings(max_examples=EXAMPLES_PER_ROUTE, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            calls.append(case.operation.label)
            case.call_and_validate(headers=headers, timeout=30, excluded_checks=[positive_data_acceptance])

        check()
    document = fuzzed_service.client(None).get("/v1/openapi.json").json()
    documented = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    # every route of the document was fuzzed (schemathesis leaves out the document's own URL, which it loaded)
    assert set(routes) == set(calls) == documented - {"GET /v1/openapi.json"}
    print(f"\nschemathesis: {len(calls)} cases over {len(routes)} routes")
    assert len(calls) >= 200
