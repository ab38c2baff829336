"""deploy/'s Triton locked as `phonos serve` locks its own: the image's command (deploy/triton-start.sh) starts the
real tritonserver with every API but health and metadata restricted to PHONOS_TRITON_API_SECRET, the secret the
Compose file and the Kubernetes manifests give the job services too. Without it the deployed Tritons answered any
caller on their network (unload a model, infer without credits). Run here with this machine's tritonserver on the
echo model (the image's own paths replaced by the script's settings)."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import yaml

from launcher.triton import DEFAULT_MODEL_REPOSITORY, TritonInstall, TritonPorts, triton_environment
from phonos_config.triton_access import HEADER, RESTRICTED_APIS, check_api_secret
from tests.support import wait_until

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCRIPT = DEPLOY / "triton-start.sh"


def test_the_image_runs_the_start_script_and_it_locks_what_the_service_expects() -> None:
    dockerfile = (DEPLOY / "Dockerfile.triton").read_text()
    assert "COPY deploy/triton-start.sh deploy/triton-ready.sh /opt/phonos/" in dockerfile
    assert 'CMD ["/opt/phonos/triton-start.sh"]' in dockerfile
    text = SCRIPT.read_text()
    assert f"apis={','.join(RESTRICTED_APIS)}\n" in text  # the list phonos_config/triton_access.py locks
    assert f":{HEADER}=$PHONOS_TRITON_API_SECRET" in text


def test_compose_and_kubernetes_give_the_tritons_and_the_job_services_one_secret() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    tritons = [s for s in services.values() if s.get("image") == "phonos-triton:latest"]
    wanted = services["jobservice"]["environment"]["PHONOS_TRITON_API_SECRET"]
    assert wanted.startswith("${PHONOS_TRITON_API_SECRET:?")  # no default: an unset secret stops `up`
    assert tritons and all(t["environment"]["PHONOS_TRITON_API_SECRET"] == wanted for t in tritons)
    docs = [d for path in sorted((DEPLOY / "kubernetes").glob("*.yaml"))
            for d in yaml.safe_load_all(path.read_text()) if d]

    def secret_ref(kind: str, name: str) -> dict[str, str]:
        [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
        [env] = [e for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]
                 if e["name"] == "PHONOS_TRITON_API_SECRET"]
        return dict(env["valueFrom"]["secretKeyRef"])

    assert secret_ref("StatefulSet", "triton") == secret_ref("Deployment", "jobservice")
    ref = secret_ref("Deployment", "jobservice")
    [secret] = [d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == ref["name"]]
    placeholder = secret["stringData"][ref["key"]]
    with pytest.raises(ValueError, match="the example manifest's placeholder"):  # applied as is: refused, not run
        check_api_secret(placeholder)
    check_api_secret(placeholder.replace("change-me", "f3Kq9") + "-0123456789")  # the shape of a real one passes


@contextmanager
def started(tmp_path: Path, **settings: str) -> Iterator[str]:
    """deploy/triton-start.sh run with this machine's tritonserver on the checkout's model repository, `settings`
    added to its environment; yields its HTTP base URL once it answers, stops it (gracefully) after."""
    install, ports = TritonInstall.locate(), TritonPorts.pick()
    env = triton_environment({**triton_environment(), "TRITONSERVER": str(install.binary),
                              "PHONOS_TRITON_MODEL_REPOSITORY": str(DEFAULT_MODEL_REPOSITORY), **settings})
    log = (tmp_path / "triton.log").open("wb")
    process = subprocess.Popen(
        ["sh", str(SCRIPT), f"--backend-directory={install.backend_dir}", "--http-address=127.0.0.1",
         "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1", f"--http-port={ports.http}",
         f"--grpc-port={ports.grpc}", f"--metrics-port={ports.metrics}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{ports.http}"
    try:
        def listening() -> bool:
            try:
                return requests.get(f"{base}/v2/health/live", timeout=5).ok
            except requests.ConnectionError:  # not listening yet
                assert process.poll() is None, (tmp_path / "triton.log").read_text()[-2000:]
                return False

        wait_until(listening, 120, 0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)  # graceful: tritonserver removes its shm regions
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_the_start_script_starts_a_locked_triton(tmp_path: Path) -> None:
    secret = secrets.token_urlsafe(32)
    with started(tmp_path, PHONOS_TRITON_LOAD_MODELS="echo", PHONOS_TRITON_API_SECRET=secret) as base:
        wait_until(lambda: requests.get(f"{base}/v2/models/echo/ready", timeout=5).ok, 120, 0.2)
        refused = requests.post(f"{base}/v2/repository/models/echo/unload", timeout=10)
        assert refused.status_code == 403, refused.text
        assert secret not in refused.text
        index = requests.post(f"{base}/v2/repository/index", headers={HEADER: secret}, timeout=10)
        assert index.status_code == 200 and "echo" in index.text
        assert requests.get(f"{base}/v2/models/echo", timeout=10).ok  # metadata stays open, as health does


def test_the_readiness_probe_wants_a_model_not_just_the_server(tmp_path: Path) -> None:
    """The image's Triton runs with --strict-readiness=false (one model that cannot load must not take the others
    down), so /v2/health/ready said ready with no model loaded at all (no weights mounted): the Compose
    healthcheck and the Kubernetes readiness probe asked it. deploy/triton-ready.sh asks for a model of the list."""
    with started(tmp_path, PHONOS_TRITON_LOAD_MODELS="echo no_such_model") as base:
        def probe(models: str) -> int:
            return subprocess.run(["sh", str(DEPLOY / "triton-ready.sh"), base], capture_output=True, timeout=30,
                                  env={**os.environ, "PHONOS_TRITON_LOAD_MODELS": models}).returncode

        assert requests.get(f"{base}/v2/health/ready", timeout=10).ok  # not strict: "ready" all the same
        assert probe("no_such_model") == 1  # it serves nothing of the list
        assert probe("no_such_model echo") == 0  # one model of the list is enough
