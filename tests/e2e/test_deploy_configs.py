"""deploy/: the Prometheus scrape configuration and every query of the Grafana dashboard pass promtool."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.support import REPO

pytestmark = pytest.mark.e2e

DEPLOY = REPO / "deploy"


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: scripts/install.sh installs Debian's prometheus package"
    return found


def dashboard_queries() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "phonos-dashboard.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-compose.yml"])
def test_the_scrape_configuration_is_valid(name: str) -> None:
    checked = subprocess.run([promtool(), "check", "config", str(DEPLOY / name)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_kubernetes_scrape_configuration_names_the_jobs_the_alerts_and_dashboard_read(tmp_path: Path) -> None:
    """A Prometheus discovering the manifests' annotated pods named every target `kubernetes-pods`, so
    `up{job="phonos"}` matched nothing and PhonosJobServiceDown never fired. Debian's promtool has no Kubernetes
    discovery: its relabelling is checked with the discovery swapped for a static target."""
    config = yaml.safe_load((DEPLOY / "prometheus-kubernetes.yml").read_text())
    jobs = {scrape["job_name"] for scrape in config["scrape_configs"]}
    wanted = set(re.findall(r'job="([^"]+)"', (DEPLOY / "alerts.yml").read_text()))
    wanted |= {job for query in dashboard_queries() for job in re.findall(r'job="([^"]+)"', query)}
    assert wanted and wanted <= jobs, (wanted, jobs)
    for scrape in config["scrape_configs"]:
        assert scrape.pop("kubernetes_sd_configs") == [{"role": "pod", "namespaces": {"own_namespace": True}}]
        scrape["static_configs"] = [{"targets": ["10.244.0.7:80"]}]
    (tmp_path / "alerts.yml").write_text((DEPLOY / "alerts.yml").read_text())
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = subprocess.run([promtool(), "check", "config", str(tmp_path / "prometheus.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 16
    # promtool parses rule expressions offline: each query becomes a recording rule.
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"phonos_dashboard:query_{i}", "expr": q}
                                                        for i, q in enumerate(queries)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(queries)} rules found" in checked.stdout


def test_the_alerting_rules_are_valid_and_their_unit_tests_pass() -> None:
    """Syntax (`check rules`) and behaviour (`test rules`: deploy/alerts_test.yml feeds synthetic series and says
    which alerts fire when, so a `for:` cut too short or an expression that never matches fails here)."""
    checked = subprocess.run([promtool(), "check", "rules", str(DEPLOY / "alerts.yml")],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool(), "test", "rules", str(DEPLOY / "alerts_test.yml")],
                            capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0, tested.stdout + tested.stderr
