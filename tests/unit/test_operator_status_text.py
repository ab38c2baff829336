"""`phonos status`'s reading of a scrape and its ages, without a service (tests/service/test_operator_status.py runs
it against one)."""

from __future__ import annotations

import pytest

from launcher import status

pytestmark = pytest.mark.unit

SCRAPE = """# HELP phonos_jobs_queued Jobs waiting to run (pending)
# TYPE phonos_jobs_queued gauge
phonos_jobs_queued{model="esmfold"} 3.0
phonos_jobs_queued{model="diffdock"} 0.0
# TYPE phonos_jobs_running gauge
phonos_jobs_running{model="esmfold"} 1.0
phonos_jobs_running{model="diffdock"} 0.0
# TYPE phonos_queue_oldest_age_seconds gauge
phonos_queue_oldest_age_seconds{model="esmfold"} 754.2
phonos_queue_oldest_age_seconds{model="diffdock"} 0.0
# TYPE phonos_model_ready gauge
phonos_model_ready{model="esmfold"} 1.0
phonos_model_ready{model="diffdock"} 0.0
# TYPE phonos_webhook_backlog gauge
phonos_webhook_backlog 2.0
# TYPE nv_inference_count counter
nv_inference_count{endpoint="127.0.0.1:8002",model="esmfold",version="1"} 12
this line is no Prometheus at all {{{
"""


def test_the_gauges_are_read_and_everything_else_in_the_scrape_is_left_alone() -> None:
    """Triton's re-exported `nv_*` families (or anything else on the page) can never fail the read; a gauge the
    scrape lacks (no data directory: no free-space gauge) is None, not 0."""
    found = status.parse_metrics(SCRAPE)
    assert found.models == {"diffdock": status.ModelLoad(0, 0, 0.0), "esmfold": status.ModelLoad(3, 1, 754.2)}
    assert found.model_ready == {"esmfold": True, "diffdock": False}
    assert found.webhook_backlog == 2 and found.free_bytes is None and found.database_up is None


def test_ages_are_said_in_the_unit_that_reads() -> None:
    assert [status.age(s) for s in (0, 4.4, 119, 754.2, 7200, 3 * 86400)] == ["0 s", "4 s", "119 s", "13 min",
                                                                              "2.0 h", "3.0 d"]


@pytest.mark.parametrize(("given", "url"), [("http://h:8080/v1", "http://h:8080"), ("http://h:8080/", "http://h:8080"),
                                            ("https://api.lab.org", "https://api.lab.org")])
def test_the_banners_rest_address_is_taken_as_the_gateway(given: str, url: str) -> None:
    """`phonos serve` prints `REST gateway:  http://127.0.0.1:8080/v1`: pasted as --url, it is the same service."""
    assert status.base_url(given) == url


@pytest.mark.parametrize(("backlog", "said"), [(0, "0 deliveries waiting"), (1, "1 delivery waiting"),
                                               (2, "2 deliveries waiting")])
def test_the_webhook_backlog_is_said_in_the_right_number(backlog: int, said: str) -> None:
    """Was "1 deliveries waiting"."""
    found = status.parse_metrics(SCRAPE.replace("phonos_webhook_backlog 2.0", f"phonos_webhook_backlog {backlog}.0"))
    state = status.Status("http://h:8080", "operational", "1", "", {"database": "ready"}, "http://h:9464/metrics",
                          found, None)
    webhooks = next(line for line in status.lines(state, str) if line[0] == "webhooks:")
    assert " ".join(webhooks[1:]).startswith(said), webhooks


def test_the_components_come_in_one_order_whatever_the_health_bodys() -> None:
    """An older service, or a proxy, may send /v1/health's components in any order: the lines and --json are the
    same each time, to compare by eye or by diff."""
    names = {"triton@10.0.0.8:8001": "ready", "triton": "ready", "database": "ready", "job_service": "ready",
             "triton@10.0.0.7:8001": "unavailable"}
    said = []
    for order in (list(names), list(reversed(names))):
        checked = status.Status("http://127.0.0.1:8080", "degraded", "v1", "", {n: names[n] for n in order},
                                None, None, None)
        said.append(([line for line in status.lines(checked, str)], list(checked.as_json()["components"])))
    assert said[0] == said[1]
    assert [line[0] for line in said[0][0] if line[0].startswith("triton")] == [
        "triton:", "triton@10.0.0.7:8001:", "triton@10.0.0.8:8001:"]
