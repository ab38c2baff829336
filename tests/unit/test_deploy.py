"""deploy/ as operators run it: the Compose file against the Compose specification and every Kubernetes
manifest against the Kubernetes API's schemas (both offline), and the wiring between the parts."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from jobservice.fleet_inference import parse_endpoints
from jobservice.readiness import API_SERVICE
from phonos_config.edge import EdgeSettings
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_VERSION = "1.30.0"  # the oldest release operators are likely to run with gRPC probes GA (1.27+)
# The variables of ServiceSettings, and the edge's that the manifests set (phonos_config/edge.py).
SETTINGS = {"PHONOS_" + f.name.upper() for f in dataclasses.fields(ServiceSettings)} | {"PHONOS_TRUSTED_PROXIES"}


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def find(kind: str, name: str) -> dict[str, Any]:
    [doc] = [d for d in manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_every_kubernetes_manifest_is_valid_for_the_api() -> None:
    docs = manifests()
    assert {d["kind"] for d in docs} >= {"StatefulSet", "Deployment", "Service", "ConfigMap", "Secret",
                                         "PersistentVolumeClaim"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises on unknown or mistyped fields


def test_a_broken_manifest_is_caught() -> None:
    broken = find("Deployment", "jobservice")
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = "grpc-port"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_compose_file_is_valid_for_the_compose_specification() -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(compose(), schema)
    broken = compose()
    broken["services"]["jobservice"]["replica"] = 2  # a misspelt key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_kubernetes_wiring() -> None:
    config = find("ConfigMap", "phonos-config")["data"]
    secret = find("Secret", "phonos-db")["stringData"]
    jobservice = find("Deployment", "jobservice")["spec"]["template"]["spec"]
    container = jobservice["containers"][0]
    # Every setting named exists (a typo would be silently ignored by the service).
    assert set(config) | {e["name"] for e in container["env"]} <= SETTINGS
    assert secret["PHONOS_DATABASE_URL"].startswith("postgresql://")
    # Ready once it serves its API with its database: a Triton outage or model loading is every replica's at once,
    # and the API keeps answering through it (jobs wait), so it must not empty the Service; a replica still
    # waiting for its database refuses every call, so it gets none (was: health service "", SERVING while it
    # waits). Alive meanwhile ("" is SERVING then): not restarted for a database that is away. Same for the
    # gateway. tests/service/test_database_start_wait.py checks what each name answers while waiting and after.
    assert container["readinessProbe"]["grpc"] == {"port": 50051, "service": API_SERVICE}
    assert container["livenessProbe"]["grpc"] == {"port": 50051}
    gateway = find("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/v1/openapi.json"
    # One Triton per GPU node, each named in PHONOS_TRITON_URLS.
    triton = find("StatefulSet", "triton")["spec"]
    tc = triton["template"]["spec"]["containers"][0]
    assert tc["resources"]["limits"]["nvidia.com/gpu"] == 1
    affinity = triton["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert affinity["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] == "kubernetes.io/hostname"
    expected = {f"triton-{i}.triton:8001" for i in range(triton["replicas"])}
    assert {e.address for e in parse_endpoints(config["PHONOS_TRITON_URLS"])} == expected
    # Result files on one volume every replica mounts, at the data directory.
    claim = find("PersistentVolumeClaim", "phonos-results")["spec"]
    assert claim["accessModes"] == ["ReadWriteMany"]
    assert {"name": "results", "mountPath": config["PHONOS_DATA_DIR"]} in container["volumeMounts"]
    assert find("Deployment", "jobservice")["spec"]["replicas"] >= 2
    gateway = find("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert "dns:///jobservice:50051" in gateway["command"]
    # The job services believe the client address their gateways forward (the gateways' pod network); the
    # gateways believe the ingress in front. Both values are settings the processes accept.
    gateway_env = {e["name"]: e["value"] for e in gateway["env"]}
    assert set(gateway_env) <= SETTINGS
    for env in (config, gateway_env):
        assert EdgeSettings.from_env(env).trusted_proxies
    assert find("Service", "jobservice")["spec"]["clusterIP"] == "None"


def test_the_image_installs_the_local_packages_the_install_script_does() -> None:
    """The image's `phonos` (`docker compose exec jobservice phonos keys create`) imports the client package
    (launcher/cli.py): without clients/python installed it stopped at its first line (ModuleNotFoundError)."""
    def local_installs(text: str) -> set[str]:
        return set(re.findall(r"pip install [^\n]*--no-deps -e (\S+)", text))

    script = local_installs((DEPLOY.parent / "scripts" / "install.sh").read_text())
    assert script == {".", "clients/python"}
    assert local_installs((DEPLOY / "Dockerfile").read_text()) == script


def test_the_image_leaves_local_state_out_and_brings_the_dashboard_viewer() -> None:
    """`COPY . .` without a .dockerignore put a checkout's .venv (GBs) and var/ (the data directory: key hashes,
    webhook secrets, every job's data) into the image, and its dashboard viewer only if node_modules happened
    to be there."""
    ignored = {line.strip() for line in (DEPLOY.parent / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", str(ServiceSettings.from_env({}).data_dir), "weights", "node_modules"} <= ignored
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "COPY package.json package-lock.json ./" in dockerfile and "RUN npm ci" in dockerfile
    assert "COPY --from=viewer /assets/node_modules ./node_modules" in dockerfile


def test_the_triton_image_has_what_a_gpu_host_needs() -> None:
    """The GPU node's image: the packages docs/alphafold2.md names for GPU hosts (it had jax[cpu] only, so
    AlphaFold2 ran on the CPU beside the GPU) and hmmer (AlphaFold2's MSA search runs in the model)."""
    wanted = re.findall(r'`pip install -c constraints.txt "?([^"`]+?)"?`', (DEPLOY.parent / "docs" / "alphafold2.md").read_text())
    assert sorted(wanted) == ["jax[cuda12]==0.7.1", "openmm-cuda-12==8.6.1"]
    dockerfile = (DEPLOY / "Dockerfile.triton").read_text()
    assert all(package in dockerfile for package in wanted) and "apt-get install" in dockerfile and "hmmer" in dockerfile


def test_compose_wiring() -> None:
    services = compose()["services"]
    env = services["jobservice"]["environment"]
    assert set(env) <= SETTINGS
    assert env["PHONOS_DATABASE_URL"].startswith("postgresql://")
    tritons = {name for name, s in services.items() if s.get("image") == "phonos-triton:latest"}
    assert {e.address.split(":")[0] for e in parse_endpoints(env["PHONOS_TRITON_URLS"])} == tritons
    for name in tritons:
        [device] = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"]
    assert services["jobservice"]["deploy"]["replicas"] >= 2
    assert services["jobservice"]["volumes"] == [f"results:{env['PHONOS_DATA_DIR']}"]
    assert services["jobservice"]["healthcheck"]["test"][1:4] == ["python", "-m", "jobservice.health_probe"]
    # The job services trust the project network the gateway calls from (its subnet pinned for that); the gateway
    # faces clients itself and trusts nobody's X-Forwarded-For.
    [network] = compose()["networks"]["default"]["ipam"]["config"]
    trusted = EdgeSettings.from_env(env).trusted_proxies
    assert [str(n) for n in trusted] == [network["subnet"]] and "networks" not in services["gateway"]
    assert set(services["gateway"]["environment"]) <= SETTINGS
    assert EdgeSettings.from_env(services["gateway"]["environment"]).trusted_proxies == ()


def test_the_compose_files_backup_and_upgrade_lines_name_its_own_database_paths_and_services() -> None:
    """The header's backup (pg_dump from the postgres service, then the results from a job service's volume) and
    upgrade (stop the job services, then up) lines, which `phonos backup` cannot do for PostgreSQL, must name what
    this file defines: its database user and name, the results under the job services' PHONOS_DATA_DIR."""
    text = (DEPLOY / "compose.yaml").read_text()
    header = " ".join(line.lstrip("# ").rstrip("\\ ") for line in text.split("\nname:", 1)[0].splitlines())
    services = compose()["services"]
    database = services["postgres"]["environment"]
    dump = re.search(r"exec -T (\w+) pg_dump -U (\w+) --format=custom (\w+) > ", header)
    assert dump is not None, header
    assert dump.groups() == ("postgres", database["POSTGRES_USER"], database["POSTGRES_DB"])
    results = f"{services['jobservice']['environment']['PHONOS_DATA_DIR']}/results"
    assert f"cp jobservice:{results} backup/results" in header and "umask 077" in header, header
    assert "stop jobservice gateway && docker compose -f deploy/compose.yaml up -d" in header, header


def test_compose_waits_for_the_models_as_long_as_kubernetes_does() -> None:
    """The job service's health is SERVING only once Triton has loaded the models (minutes with real weights;
    the Triton StatefulSet's startupProbe allows that). Without a start_period, 10 failed checks 5 s apart
    made it unhealthy after ~50 s and `docker compose up` gave up on the gateway that depends on it."""
    check = compose()["services"]["jobservice"]["healthcheck"]
    seconds = {"s": 1, "m": 60, "h": 3600}
    start_period = int(check["start_period"][:-1]) * seconds[check["start_period"][-1]]
    startup = find("StatefulSet", "triton")["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    assert start_period >= startup["periodSeconds"] * startup["failureThreshold"]


LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def test_prometheus_can_scrape_every_part_of_the_compose_deployment() -> None:
    """The job services' /metrics listened on loopback inside their containers (the default) and nothing scraped
    the Tritons: deploy/'s Grafana dashboard stayed empty. Now every replica listens on the project network
    (unpublished) and deploy/prometheus-compose.yml scrapes the replicas and each Triton with its `endpoint`."""
    services = compose()["services"]
    # As `up` interpolates it (the file requires the secret from the environment: PHONOS_TRITON_API_SECRET=...).
    env = {**services["jobservice"]["environment"], "PHONOS_TRITON_API_SECRET": "s" * 32}
    settings = ServiceSettings.from_env(env)
    assert settings.metrics_enabled and settings.metrics_host not in LOOPBACK
    assert "ports" not in services["jobservice"]  # reachable on the project network only
    assert not settings.triton_metrics_urls  # scraped directly: each replica would repeat a fleet's Tritons
    scrape = yaml.safe_load((DEPLOY / "prometheus-compose.yml").read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    [replicas] = jobs["phonos"]["dns_sd_configs"]
    assert (replicas["names"], replicas["type"], replicas["port"]) == (["jobservice"], "A", settings.metrics_port)
    tritons = {name for name, s in services.items() if s.get("image") == "phonos-triton:latest"}
    [targets] = jobs["triton"]["static_configs"]
    assert set(targets["targets"]) == {f"{name}:8002" for name in tritons}
    # The dashboard's Triton panels group by `endpoint`, the label the re-export would add.
    assert {"source_labels": ["__address__"], "target_label": "endpoint"} in jobs["triton"]["relabel_configs"]


def test_prometheus_can_scrape_every_part_of_the_kubernetes_deployment() -> None:
    config = find("ConfigMap", "phonos-config")["data"]
    settings = ServiceSettings.from_env(config)
    assert settings.metrics_enabled and settings.metrics_host not in LOOPBACK and not settings.triton_metrics_urls
    for kind, name, port in (("Deployment", "jobservice", settings.metrics_port), ("StatefulSet", "triton", 8002)):
        template = find(kind, name)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert (annotations["prometheus.io/scrape"], annotations["prometheus.io/port"]) == ("true", str(port)), name
        assert {"name": "metrics", "containerPort": port} in template["spec"]["containers"][0]["ports"], name


ALERT_SEVERITIES = {"critical", "warning", "info"}


def test_both_prometheus_configurations_load_the_alerting_rules_and_each_alert_is_complete() -> None:
    """An operator routes by `severity` and reads `summary`/`description` in the page; a missing `for:` fires on
    one bad scrape. docs/observability.md has a runbook line for each alert."""
    for name in ("prometheus.yml", "prometheus-compose.yml"):
        assert yaml.safe_load((DEPLOY / name).read_text())["rule_files"] == ["alerts.yml"], name
    rules = [rule for group in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
             for rule in group["rules"]]
    docs = (DEPLOY.parent / "docs" / "observability.md").read_text()
    for rule in rules:
        assert rule["labels"]["severity"] in ALERT_SEVERITIES, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        assert re.fullmatch(r"\d+[mh]", rule["for"]), rule["alert"]
        assert f"`{rule['alert']}`" in docs, f"{rule['alert']} has no runbook line in docs/observability.md"
    assert len({rule["alert"] for rule in rules}) == len(rules)
