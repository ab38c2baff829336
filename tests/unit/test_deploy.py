"""deploy/ as operators run it: the Compose file against the Compose specification and every Kubernetes
manifest against the Kubernetes API's schemas (both offline), and the wiring between the parts."""

from __future__ import annotations

import dataclasses
import json
import re
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from jobservice.fleet_inference import parse_endpoints
from jobservice.modelspecs.registry import triton_models
from jobservice.readiness import API_SERVICE
from launcher.weights_table import WEIGHT_SETS
from phonos_config.edge import EdgeSettings
from phonos_config.service import ServiceSettings, check_database_url

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES_VERSION = "1.30.0"  # the oldest release operators are likely to run with gRPC probes GA (1.27+)
# The variables of ServiceSettings, and the edge's that the manifests set (phonos_config/edge.py).
SETTINGS = {"PHONOS_" + f.name.upper() for f in dataclasses.fields(ServiceSettings)} | {"PHONOS_TRUSTED_PROXIES"}
# libpq's variable, which the PostgreSQL driver (asyncpg) reads for a PHONOS_DATABASE_URL without a password.
DRIVER = {"PGPASSWORD"}


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
    jobservice = find("Deployment", "jobservice")["spec"]["template"]["spec"]
    container = jobservice["containers"][0]
    # Every setting named exists (a typo would be silently ignored by the service).
    assert set(config) | {e["name"] for e in container["env"]} <= SETTINGS | DRIVER
    assert config["PHONOS_DATABASE_URL"].startswith("postgresql://")
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
    assert set(env) <= SETTINGS | DRIVER
    assert env["PHONOS_DATABASE_URL"].startswith("postgresql://")
    tritons = {name for name, s in services.items() if s.get("image") == "phonos-triton:latest"}
    assert {e.address.split(":")[0] for e in parse_endpoints(env["PHONOS_TRITON_URLS"])} == tritons
    for name in tritons:
        [device] = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["capabilities"] == ["gpu"]
    assert services["jobservice"]["deploy"]["replicas"] >= 2
    assert services["jobservice"]["volumes"] == [f"results:{env['PHONOS_DATA_DIR']}"]
    assert services["jobservice"]["healthcheck"]["test"][1:4] == ["python", "-m", "jobservice.health_probe"]
    assert set(services["gateway"]["environment"]) <= SETTINGS
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


def seconds(duration: str) -> int:
    return int(duration[:-1]) * {"s": 1, "m": 60, "h": 3600}[duration[-1]]


def test_compose_health_is_the_job_services_api_not_every_model() -> None:
    """The healthcheck asked the default health service, NOT_SERVING until every served model is ready: one model
    that could not load (its weights missing) left the job services unhealthy for good, and the gateway
    (`service_healthy`) was never created, so esmfold and diffdock were unreachable too. It asks `phonos.api` now,
    as the Kubernetes readiness probe does, and waits as long as a start waits for its PostgreSQL."""
    check = compose()["services"]["jobservice"]["healthcheck"]
    assert check["test"][4:] == ["127.0.0.1:50051", "--service", API_SERVICE]
    assert seconds(check["start_period"]) >= ServiceSettings.from_env({}).database_start_wait_s
    assert compose()["services"]["gateway"]["depends_on"]["jobservice"] == {"condition": "service_healthy"}
    # The Tritons load their models for minutes: their health may fail that long, as the startupProbe allows.
    startup = find("StatefulSet", "triton")["spec"]["template"]["spec"]["containers"][0]["startupProbe"]
    triton = compose()["services"]["triton-gpu0"]["healthcheck"]
    assert seconds(triton["start_period"]) >= startup["periodSeconds"] * startup["failureThreshold"]


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
    # One `endpoint` per Triton: the address the job services call it at, their call metrics' label.
    called = {e.address for e in parse_endpoints(services["jobservice"]["environment"]["PHONOS_TRITON_URLS"])}
    assert {endpoint(jobs["triton"], {"__address__": target}) for target in targets["targets"]} == called


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


def endpoint(scrape: dict[str, Any], target: dict[str, str]) -> str | None:
    """The `endpoint` label a scrape config's relabelling gives a discovered target (Prometheus' `replace`, the
    default action: the source labels joined by `;`, the regex anchored, `$1` in the replacement)."""
    labels = dict(target)
    for rule in scrape["relabel_configs"]:
        if rule.get("action", "replace") != "replace":
            continue
        value = ";".join(labels.get(name, "") for name in rule["source_labels"])
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if match:
            labels[rule["target_label"]] = match.expand(re.sub(r"\$(\d+)", r"\\g<\1>", rule.get("replacement", "$1")))
    return labels.get("endpoint")


def test_each_triton_has_one_endpoint_label_in_kubernetes_too() -> None:
    """The Tritons' own metrics were labelled with the pod's IP (10.244.x.y:8002), their calls (the job services')
    with triton-0.triton:8001: two names for one server on the dashboard, and a new series (an alert's `for:`
    reset) at every rescheduling. The label is the pod's stable name, as phonos-config lists it."""
    config = yaml.safe_load((DEPLOY / "prometheus-kubernetes.yml").read_text())
    [scrape] = [s for s in config["scrape_configs"] if s["job_name"] == "triton"]
    called = {e.address for e in parse_endpoints(find("ConfigMap", "phonos-config")["data"]["PHONOS_TRITON_URLS"])}
    pods = {endpoint(scrape, {"__address__": f"10.244.{i}.7:8002", "__meta_kubernetes_pod_name": f"triton-{i}"})
            for i in range(find("StatefulSet", "triton")["spec"]["replicas"])}
    assert pods == called
    # PHONOS_TRITON_ENDPOINT_LABEL names the one Triton of PHONOS_TRITON_URL: refused beside a fleet's URLs.
    with pytest.raises(ValueError, match="PHONOS_TRITON_ENDPOINT_LABEL"):
        ServiceSettings.from_env({**find("ConfigMap", "phonos-config")["data"], "PHONOS_TRITON_ENDPOINT_LABEL": "x"})


def test_prometheus_discovers_pods_in_its_own_namespace_only() -> None:
    """The header said a namespace's RBAC was enough while the discovery watched every namespace's pods (which
    needs a ClusterRole, and scraped another namespace's phonos too)."""
    config = yaml.safe_load((DEPLOY / "prometheus-kubernetes.yml").read_text())
    for scrape in config["scrape_configs"]:
        assert scrape["kubernetes_sd_configs"] == [{"role": "pod", "namespaces": {"own_namespace": True}}], scrape


def test_the_database_password_is_never_pasted_into_a_url() -> None:
    """Compose pasted ${PHONOS_DB_PASSWORD} into PHONOS_DATABASE_URL, where / + = # @ (`openssl rand -base64`)
    broke it, and the Kubernetes Secret held the password twice (POSTGRES_PASSWORD and inside the URL), free to
    drift apart. The URL has no password now; the job services get the one copy as PGPASSWORD."""
    services = compose()["services"]
    env = services["jobservice"]["environment"]
    check_database_url(env["PHONOS_DATABASE_URL"])
    assert urlsplit(env["PHONOS_DATABASE_URL"]).password is None
    assert env["PGPASSWORD"] == services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert env["PGPASSWORD"].startswith("${PHONOS_DB_PASSWORD:?")
    config = find("ConfigMap", "phonos-config")["data"]
    check_database_url(config["PHONOS_DATABASE_URL"])
    assert urlsplit(config["PHONOS_DATABASE_URL"]).password is None
    assert list(find("Secret", "phonos-db")["stringData"]) == ["POSTGRES_PASSWORD"]

    def password_ref(kind: str, name: str, variable: str) -> dict[str, str]:
        [env] = [e for e in find(kind, name)["spec"]["template"]["spec"]["containers"][0]["env"]
                 if e["name"] == variable]
        return dict(env["valueFrom"]["secretKeyRef"])

    assert password_ref("Deployment", "jobservice", "PGPASSWORD") == {"name": "phonos-db", "key": "POSTGRES_PASSWORD"}
    assert password_ref("StatefulSet", "postgres", "POSTGRES_PASSWORD") == password_ref(
        "Deployment", "jobservice", "PGPASSWORD")


def test_the_dashboard_sign_in_works_behind_the_kubernetes_tls_ingress() -> None:
    """Behind the TLS ingress the browser's Origin is https://<host> while the gateway sees http: without
    PHONOS_COOKIE_SECURE every sign-in was refused as cross-origin (403). Compose's gateway faces clients on plain
    HTTP and says the setting explicitly, false (a Secure cookie would never come back over http)."""
    gateway = find("Deployment", "gateway")["spec"]["template"]["spec"]["containers"][0]
    assert ServiceSettings.from_env({e["name"]: e["value"] for e in gateway["env"]}).cookie_secure
    compose_env = compose()["services"]["gateway"]["environment"]
    assert ServiceSettings.from_env({"PHONOS_COOKIE_SECURE": compose_env["PHONOS_COOKIE_SECURE"]}).cookie_secure is False
    lines = (DEPLOY / "compose.yaml").read_text().split("\n      PHONOS_COOKIE_SECURE:")[0].splitlines()
    comment = " ".join(line.strip("# ") for line in lines[-4:] if line.lstrip().startswith("#"))
    assert 'TLS set "true"' in comment, comment  # what to do behind a TLS proxy, said where the value is


def gpu_config_paths() -> dict[str, str]:
    """Every `/models/...` parameter of the models' configs/gpu.pbtxt: setting -> path."""
    found: dict[str, str] = {}
    for path in sorted((DEPLOY.parent / "triton_models").glob("*/configs/gpu.pbtxt")):
        for key, value in re.findall(r'key: "(\w+)" value: \{ string_value: "(/models/[^"]*)" \}', path.read_text()):
            assert found.setdefault(key, value) == value, (path, key)
    return found


def test_the_tritons_mount_the_weights_where_their_configs_look() -> None:
    """No weights reached the Tritons: the GPU configs point at /models/..., and nothing was mounted there, so every
    model failed to load. A read-only volume is mounted at /models now, laid out as `phonos weights fetch` lays
    each set out (its directory under --dir), which is where each config looks."""
    paths = gpu_config_paths()
    assert set(paths) >= {"PHONOS_ESMFOLD_WEIGHTS_DIR", "PHONOS_ALPHAFOLD2_PARAMS_DIR", "PHONOS_DIFFDOCK_WEIGHTS_DIR",
                          "PHONOS_DIFFDOCK_ESM_DIR"}
    fetched = {setting: f"/models/{weights.directory}" for weights in WEIGHT_SETS.values() for setting in weights.settings}
    assert {key: fetched[key] for key in paths} == paths
    for name, service in compose()["services"].items():
        if service.get("image") == "phonos-triton:latest":
            mounts = [v for v in service["volumes"] if isinstance(v, dict) and v["target"] == "/models"]
            assert mounts == [{"type": "bind", "source": mounts[0]["source"], "target": "/models", "read_only": True}], name
    triton = find("StatefulSet", "triton")["spec"]["template"]["spec"]
    assert {"name": "weights", "mountPath": "/models", "readOnly": True} in triton["containers"][0]["volumeMounts"]
    [volume] = [v for v in triton["volumes"] if v["name"] == "weights"]
    claim = find("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])["spec"]
    assert "ReadWriteMany" in claim["accessModes"]  # one claim for every Triton pod, on any node


def test_a_triton_without_a_model_is_not_ready() -> None:
    """Triton runs with --strict-readiness=false (one model that cannot load must not take the others down), so
    /v2/health/ready, which the Compose healthcheck and the readiness probe asked, said ready with no model
    loaded. Both ask deploy/triton-ready.sh now (a model of the loaded list ready; tests/launcher runs it)."""
    probe = ["/opt/phonos/triton-ready.sh"]
    assert compose()["services"]["triton-gpu0"]["healthcheck"]["test"] == ["CMD", *probe]
    container = find("StatefulSet", "triton")["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"] == probe
    assert "--strict-readiness=false" in (DEPLOY / "triton-start.sh").read_text()
    assert "deploy/triton-ready.sh" in (DEPLOY / "Dockerfile.triton").read_text()


def default_models(script: str) -> list[str]:
    [default] = set(re.findall(r"\$\{PHONOS_TRITON_LOAD_MODELS:-([^}]*)\}", (DEPLOY / script).read_text()))
    return default.split()


def test_the_tritons_load_only_the_models_the_job_services_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Tritons loaded esm2 too, which nothing called: DiffDock's gpu.pbtxt embeds with its own ESM-2
    (PHONOS_DIFFDOCK_ESM_TRITON_MODEL ""), so every GPU held a second ESM-2 650M (~2.5 GB) for nothing."""
    monkeypatch.delenv("PHONOS_DIFFDOCK_ESM_TRITON_MODEL", raising=False)
    assert 'key: "PHONOS_DIFFDOCK_ESM_TRITON_MODEL" value: { string_value: "" }' in (
        DEPLOY.parent / "triton_models" / "diffdock" / "configs" / "gpu.pbtxt").read_text()
    for served in (compose()["services"]["jobservice"]["environment"]["PHONOS_MODELS"],
                   find("ConfigMap", "phonos-config")["data"]["PHONOS_MODELS"]):
        assert default_models("triton-start.sh") == triton_models(served.split(","))
    assert default_models("triton-ready.sh") == default_models("triton-start.sh")


def test_the_triton_image_runs_the_model_code_with_what_it_imports() -> None:
    """The image was Triton 24.10: Ubuntu 22.04 with Python 3.10, which the requirements (scipy 1.17, jax 0.7,
    transformers 5) and the code (typing.Self, tomllib) do not run on, and it copied triton_models/ only, while
    every model imports phonos_config (ModuleNotFoundError). Containers from 24.12 are Ubuntu 24.04 with Python 3.12
    (NVIDIA's release notes); every package of this checkout the model code imports is copied."""
    dockerfile = (DEPLOY / "Dockerfile.triton").read_text()
    [(year, month)] = re.findall(r"^FROM nvcr\.io/nvidia/tritonserver:(\d\d)\.(\d\d)-py3$", dockerfile, re.MULTILINE)
    assert (int(year), int(month)) >= (24, 12)
    assert "ENV PIP_BREAK_SYSTEM_PACKAGES=1" in dockerfile  # Ubuntu 24.04's Python is externally managed (PEP 668)
    installs = re.findall(r"pip install [^\n]*", dockerfile)
    assert installs and all("-c constraints.txt" in line for line in installs)  # numpy < 2 for the python stub
    assert "numpy<2" in (DEPLOY.parent / "constraints.txt").read_text()
    repository = DEPLOY.parent
    local = {path.name for path in repository.iterdir() if (path / "__init__.py").exists()}
    imported: set[str] = set()
    for path in (repository / "triton_models").rglob("*.py"):
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:from|import) ([a-zA-Z_]\w*)", line)
            if match:
                imported.add(match.group(1))
    needed = imported & local
    assert "phonos_config" in needed
    for package in needed:
        assert f"COPY {package} /opt/phonos/{package}" in dockerfile, package
    assert "COPY triton_models /opt/phonos/triton_models" in dockerfile
    assert "COPY pyproject.toml ./" in dockerfile  # phonos_models/common/software.py reads phonos's version there


def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "phonos-dashboard.json").read_text())


def test_the_dashboard_picks_its_data_source_without_an_import_step() -> None:
    """Every panel read `${DS_PROMETHEUS}`, an `__inputs` entry only the UI's Import resolves: provisioned from a
    file or by kube-prometheus-stack's sidecar, every panel said the data source was not found. A data source
    variable is resolved however the dashboard arrives (the default Prometheus at first, switchable at the top)."""
    board = dashboard()
    [variable] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
    assert "__inputs" not in board and "${DS_" not in json.dumps(board)
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    for panel in board["panels"]:
        assert panel["datasource"] == wanted, panel["title"]
        assert all(target["datasource"] == wanted for target in panel["targets"]), panel["title"]


def test_per_process_lines_name_their_replica() -> None:
    """Two job service replicas drew two lines named `CPU (cores)` and two `RSS (GiB)`: a panel whose series are
    per target (not aggregated away) names the target in each line's legend."""
    [panel] = [p for p in dashboard()["panels"] if p["title"] == "Job service process"]
    for target in panel["targets"]:
        assert "by (" not in target["expr"] and "{{instance}}" in target["legendFormat"], target
