"""deploy/alerts.yml and the Grafana dashboard against what a running job service really exports.

A rule or panel that names a series (or a label) nobody exports is silent, not an error: Prometheus evaluates
it to nothing, so the alert never fires and the panel stays empty. One real service on the in-memory twin runs
a little of everything (a completed job, a model error, a refused request, a rate-limited key, a failed
sign-in, a webhook), is scraped once, and every name and label each expression uses must be in that scrape.
PromQL syntax and the rules' behaviour are promtool's (tests/e2e/test_deploy_configs.py).
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from jobservice.memory_inference import Failure
from tests.conftest import store_env
from tests.support import REPO, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration

DEPLOY = REPO / "deploy"
# Labels Prometheus adds to every scraped series (target labels), never in the exposition itself.
TARGET_LABELS = {"job", "instance"}
# PromQL's words that look like identifiers: aggregations, functions, keywords, binary operators.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "inf", "nan", "atan2",
}
# Series that are Prometheus' own (`up`) or Triton's own, re-exported or scraped (checked by tests/e2e).
NOT_OURS = re.compile(r"^(up|nv_\w+)$")
# Series with samples only where PHONOS_DATA_DIR/results is a file system of its own (jobservice/metrics.py
# ResultsVolume; a real mount in tests/service/test_disk_full.py): here they need only be declared.
OWN_RESULTS_VOLUME_ONLY = {"phonos_results_dir_free_bytes", "phonos_results_dir_size_bytes"}


@dataclass
class Query:
    """The series and labels one PromQL expression reads."""

    where: str
    names: set[str] = field(default_factory=set)
    selector_labels: dict[str, set[str]] = field(default_factory=dict)  # series → labels matched in its {...}
    grouping_labels: set[str] = field(default_factory=set)  # by (...), without (...), on (...), ignoring (...)


def parse_promql(expr: str, where: str) -> Query:
    """Names and labels of an expression, by stripping what is not a series name: string literals, selector
    bodies (kept per series), range and subquery brackets, grouping clauses, numbers, functions (an identifier
    followed by `(`) and keywords."""
    query = Query(where)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values may hold anything: `{code=~"A|B"}`
    for clause in re.finditer(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", text):
        query.grouping_labels |= {label.strip() for label in clause.group(1).split(",") if label.strip()}
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    for selector in re.finditer(r"([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}", text):
        labels = set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", selector.group(2)))
        query.selector_labels.setdefault(selector.group(1), set()).update(labels)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # [5m], [30m:1m]
    for match in re.finditer(r"(?<![\w.:])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()", text):
        word = match.group(1)
        if word not in PROMQL_WORDS:
            query.names.add(word)
    return query


def alert_queries() -> list[tuple[Query, dict[str, str]]]:
    """Every alert of deploy/alerts.yml: its query and its annotations."""
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())
    return [(parse_promql(rule["expr"], f"alert {rule['alert']}"), rule.get("annotations", {}))
            for group in rules["groups"] for rule in group["rules"]]


def dashboard_queries() -> list[Query]:
    dashboard = json.loads((DEPLOY / "grafana" / "phonos-dashboard.json").read_text())
    return [parse_promql(target["expr"], f"panel {panel['title']!r}")
            for panel in dashboard["panels"] for target in panel["targets"]]


@dataclass
class Exposition:
    """One scrape, parsed by prometheus_client's own text parser: each sample name and the label names its
    samples carry."""

    labels: dict[str, set[str]]
    declared: set[str] = field(default_factory=set)  # every family's name, samples or not

    @classmethod
    def parse(cls, text: str) -> Exposition:
        labels: dict[str, set[str]] = {}
        declared: set[str] = set()
        for family in text_string_to_metric_families(text):
            declared.add(family.name)
            for sample in family.samples:
                labels.setdefault(sample.name, set()).update(sample.labels)
        return cls(labels, declared)


def problems(query: Query, exposition: Exposition) -> Iterator[str]:
    ours = {name for name in query.names if not NOT_OURS.match(name)}
    for name in sorted(ours):
        if name in OWN_RESULTS_VOLUME_ONLY and name in exposition.declared and not query.selector_labels.get(name):
            continue
        if name not in exposition.labels:
            yield f"{query.where}: reads {name}, which the job service does not export"
            continue
        for label in sorted(query.selector_labels.get(name, set()) - exposition.labels[name] - TARGET_LABELS):
            yield f"{query.where}: {name} has no label {label!r} (it has {sorted(exposition.labels[name])})"
    if ours and query.names == ours:  # a grouping label must come from one of the expression's series
        known = set().union(*(exposition.labels.get(name, set()) for name in ours)) | TARGET_LABELS
        for label in sorted(query.grouping_labels - known):
            yield f"{query.where}: groups by {label!r}, which none of {sorted(ours)} has"


@pytest.fixture(scope="module")
def exposition(tmp_path_factory: pytest.TempPathFactory, store: str,
               request: pytest.FixtureRequest) -> Iterator[Exposition]:
    with socket.socket() as sock:  # a Triton metrics URL nothing answers: phonos_triton_metrics_up exists, 0
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    service = InProcessService(tmp_path_factory.mktemp("alerts"), {
        **store_env(store, request), "PHONOS_TRITON_METRICS_URLS": f"http://127.0.0.1:{closed}/metrics",
        "PHONOS_AUTH_FAILURES_PER_MINUTE": "1"})
    try:
        yield Exposition.parse(load_and_scrape(service))
    finally:
        service.stop()


def load_and_scrape(service: InProcessService) -> str:
    """A little of everything an alert or a panel reads, then one scrape."""
    client = service.client(service.new_key(credits=1000))
    with WebhookReceiver() as receiver:
        created = client.post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]})
        assert created.status_code == 200
        service.inference.script("esmfold", Failure.MODEL_ERROR)  # the first job fails, the second completes
        outcomes = sorted(client.wait_for(client.predict().json()["job_id"])["status"] for _ in range(2))
        assert outcomes == ["completed", "failed"]
        # Recorded, not only received: the delivery's counter (phonos_webhook_deliveries) is counted as the sender
        # records the answer, a moment after the receiver has it; a scrape in between lacked the series.
        delivered = f"/v1/webhooks/{created.json()['webhook']['webhook_id']}/deliveries?status=delivered"
        wait_until(lambda: client.get(delivered).json()["pagination"]["total"] == 1, 30)
    assert client.post("/v1/predict", json={"model": "no-such-model", "sequence": "MKT"}).status_code == 400
    limited = service.client(service.new_key(rate_limit=1))
    assert [limited.get("/v1/account").status_code for _ in range(2)] == [200, 429]
    stranger = service.client("pk_not_a_key")
    assert [stranger.get("/v1/account").status_code for _ in range(2)] == [401, 429]
    return requests.get(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=30).text


def test_every_alert_reads_series_and_labels_the_service_exports(exposition: Exposition) -> None:
    queries = alert_queries()
    assert len(queries) >= 15
    found = [problem for query, _ in queries for problem in problems(query, exposition)]
    assert not found, "\n".join(found)


def test_every_alerts_annotations_name_labels_its_series_have(exposition: Exposition) -> None:
    """`{{ $labels.model }}` of a series without `model` renders as an empty string in the page."""
    found = []
    for query, notes in alert_queries():
        known = set().union(*(exposition.labels.get(name, set()) for name in query.names)) | TARGET_LABELS
        if "up" in query.names:
            known |= {"endpoint"}  # deploy/prometheus-compose.yml relabels the Tritons' targets with it
        for text in notes.values():
            found += [f"{query.where}: annotation uses $labels.{label}" for label in
                      re.findall(r"\$labels\.(\w+)", text) if label not in known]
    assert not found, "\n".join(found)


def test_every_dashboard_panel_reads_series_and_labels_the_service_exports(exposition: Exposition) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    found = [problem for query in queries for problem in problems(query, exposition)]
    assert not found, "\n".join(found)


def documented_series() -> dict[str, set[str]]:
    """docs/observability.md's series table: each `phonos_` name and the label names its row lists."""
    rows: dict[str, set[str]] = {}
    for line in (REPO / "docs" / "observability.md").read_text().splitlines():
        cells = line.split("|")
        if len(cells) < 4:
            continue
        for name in re.findall(r"`(phonos_\w+)`", cells[1]):
            rows[name] = set(re.findall(r"[a-z_]+", cells[2]))
    return rows


def test_every_series_the_docs_list_is_exported_with_the_labels_they_name(exposition: Exposition) -> None:
    documented = documented_series()
    assert len(documented) >= 25
    found = []
    for name, labels in sorted(documented.items()):
        sample = next((n for n in (name, f"{name}_count") if n in exposition.labels), None)
        if sample is None and name in OWN_RESULTS_VOLUME_ONLY and name in exposition.declared and not labels:
            continue
        if sample is None:
            found.append(f"docs list {name}, which the job service does not export")
        elif exposition.labels[sample] - {"le"} != labels:
            found.append(f"docs give {name} the labels {sorted(labels)}; it has {sorted(exposition.labels[sample])}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize(("expr", "names", "labels", "grouping"), [
    ('sum by (model) (rate(phonos_jobs_failed_total{cause=~"model_error|x"}[15m])) / 2e3',
     {"phonos_jobs_failed_total"}, {"phonos_jobs_failed_total": {"cause"}}, {"model"}),
    ("histogram_quantile(0.95, sum by (le, model) (rate(phonos_job_wait_seconds_bucket[5m])))",
     {"phonos_job_wait_seconds_bucket"}, {}, {"le", "model"}),
    ("max(phonos_webhook_backlog) > 100 and deriv(max(phonos_webhook_backlog)[30m:1m]) > 0",
     {"phonos_webhook_backlog"}, {}, set()),
    ('up{job="triton"} == 0 or phonos_triton_metrics_up == 0 unless on (instance) x_y',
     {"up", "phonos_triton_metrics_up", "x_y"}, {"up": {"job"}}, {"instance"}),
    ("phonos_data_dir_free_bytes < 2^30", {"phonos_data_dir_free_bytes"}, {}, set()),
])
def test_the_promql_reader_finds_names_and_labels(expr: str, names: set[str], labels: dict[str, set[str]],
                                                  grouping: set[str]) -> None:
    query = parse_promql(expr, "x")
    assert (query.names, query.selector_labels, query.grouping_labels) == (names, labels, grouping)


def test_a_misspelt_series_or_label_is_caught() -> None:
    exposition = Exposition({"phonos_jobs_failed_total": {"model", "cause"}})
    bad = [parse_promql('sum by (model) (rate(phonos_jobs_failed_total{reason="x"}[5m]))', "a"),
           parse_promql("sum by (modle) (rate(phonos_jobs_failed_total[5m]))", "b"),
           parse_promql("rate(phonos_job_failed_total[5m])", "c")]
    assert [len(list(problems(query, exposition))) for query in bad] == [1, 1, 1]


def test_the_scrape_parses_into_sample_names(exposition: Exposition) -> None:
    """Histograms' samples are `_bucket`/`_sum`/`_count` (with `le` on buckets), counters' end in `_total`."""
    assert "le" in exposition.labels["phonos_job_wait_seconds_bucket"]
    assert "phonos_job_wait_seconds_count" in exposition.labels
    assert exposition.labels["phonos_jobs_failed_total"] == {"model", "cause"}
