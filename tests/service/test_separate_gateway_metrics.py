"""A gateway in its own process (`python -m gateway`, deploy/'s layout) serves its own Prometheus `/metrics` with
the REST latency it records (`phonos_http_request_seconds`), on its own listener and never the public port. Was:
only the in-process gateway's histogram was served (by the job service), so the Grafana dashboard's REST panels
stayed empty in deploy/'s Compose and Kubernetes deployments."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from phonos_config.service import ServiceSettings
from tests.serve_process import gateway_process
from tests.support import REPO, InProcessService, parse_scrape

pytestmark = pytest.mark.integration

DEPLOY = REPO / "deploy"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    running = InProcessService(tmp_path_factory.mktemp("gwmetrics"), {})
    yield running
    running.stop()


def test_the_separate_gateway_serves_its_rest_latency_on_its_own_metrics_listener(service: InProcessService) -> None:
    with gateway_process(service.grpc_target, "--metrics-port", "0") as (popen, ready):
        assert ready is not None and ready["event"] == "ready", popen.stderr.read() if popen.stderr else ""
        base, metrics_port = f"http://127.0.0.1:{ready['http_port']}", ready["metrics_port"]
        assert isinstance(metrics_port, int) and metrics_port not in (0, ready["http_port"])
        for _ in range(3):
            assert requests.get(f"{base}/v1/health", timeout=10).status_code == 200
        assert requests.get(f"{base}/v1/jobs", timeout=10).status_code == 401

        scrape = requests.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10)
        assert scrape.status_code == 200 and scrape.headers["Content-Type"].startswith("text/plain")
        samples = parse_scrape(scrape.text)
        count = "phonos_http_request_seconds_count"
        assert samples[(count, (("method", "GET"), ("route", "/v1/health"), ("status", "200")))] == 3
        assert samples[(count, (("method", "GET"), ("route", "/v1/jobs"), ("status", "401")))] == 1
        assert any(name == "process_resident_memory_bytes" for name, _ in samples)
        # Never on the public port: /metrics there is an unknown route, answered in the API's error shape.
        public = requests.get(f"{base}/metrics", timeout=10)
        assert public.status_code == 404 and "phonos_http_request_seconds" not in public.text


def test_it_can_be_turned_off_and_a_taken_port_is_one_error_line(service: InProcessService) -> None:
    with gateway_process(service.grpc_target, PHONOS_GATEWAY_METRICS_ENABLED="false") as (_popen, ready):
        assert ready is not None and ready["metrics_port"] is None
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with gateway_process(service.grpc_target, PHONOS_GATEWAY_METRICS_PORT=str(port)) as (popen, ready):
            assert ready is None
            assert popen.wait(timeout=20) == 2
            err = popen.stderr.read() if popen.stderr else ""
            lines = [line for line in err.splitlines() if line.startswith("error:")]
            assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "PHONOS_GATEWAY_METRICS_PORT" in lines[0]
            assert "Traceback" not in err


def test_a_port_out_of_range_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="PHONOS_GATEWAY_METRICS_PORT"):
        ServiceSettings.from_env({"PHONOS_GATEWAY_METRICS_PORT": "70000"})
    assert ServiceSettings().gateway_metrics_port == 9465 and ServiceSettings().gateway_metrics_host == "127.0.0.1"


def test_deploy_scrapes_every_separate_gateway() -> None:
    """Compose: the gateway's listener on the project network, scraped at gateway:9465 by prometheus-compose.yml.
    Kubernetes: the gateway pods' annotations and port name the same listener."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert compose["services"]["gateway"]["command"][:3] == ["python", "-m", "gateway"]
    settings = ServiceSettings.from_env(compose["services"]["gateway"]["environment"])
    assert settings.gateway_metrics_enabled and settings.gateway_metrics_host == "0.0.0.0"
    assert all(str(settings.gateway_metrics_port) not in p for p in compose["services"]["gateway"]["ports"])
    jobs = {job["job_name"]: job for job in yaml.safe_load((DEPLOY / "prometheus-compose.yml").read_text())["scrape_configs"]}
    [gateways] = jobs["phonos-gateway"]["dns_sd_configs"]
    assert (gateways["names"], gateways["type"], gateways["port"]) == (["gateway"], "A", settings.gateway_metrics_port)

    [deployment] = [doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / "gateway.yaml").read_text())
                    if doc["kind"] == "Deployment"]
    template = deployment["spec"]["template"]
    container = template["spec"]["containers"][0]
    pod = ServiceSettings.from_env({e["name"]: e["value"] for e in container["env"]})
    assert pod.gateway_metrics_host == "0.0.0.0"
    annotations = template["metadata"]["annotations"]
    assert (annotations["prometheus.io/scrape"], annotations["prometheus.io/port"]) == ("true", str(pod.gateway_metrics_port))
    assert {"name": "metrics", "containerPort": pod.gateway_metrics_port} in container["ports"]


def test_the_dashboards_process_panels_stay_on_the_job_services(tmp_path: Path) -> None:
    """The gateway's process_* series come under its own job: the dashboard's process panels read job="phonos"."""
    dashboard = (DEPLOY / "grafana" / "phonos-dashboard.json").read_text()
    assert 'process_resident_memory_bytes{job=\\"phonos\\"}' in dashboard
