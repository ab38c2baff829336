"""As a user would: `phonos serve`, `phonos keys create`, and the seed's own Python client."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import gemmi
import pytest
import requests

from tests.support import REPO, parse_scrape, process_alive, wait_until

pytestmark = pytest.mark.e2e

PHONOS = [sys.executable, "-m", "launcher.cli"]


def phonos_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    # ESMFold alone keeps start-up short; `phonos serve` serves all three by default.
    env.update({"PHONOS_MODELS": "esmfold", **extra})
    return env


class Serve:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.lines: list[str] = []
        self.popen = subprocess.Popen(
            [*PHONOS, "serve", "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0", "--data-dir", str(data_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=phonos_env(**env), cwd=REPO,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            self.lines.append(line.rstrip())

    def find(self, pattern: str) -> re.Match[str] | None:
        for line in self.lines:
            match = re.search(pattern, line)
            if match:
                return match
        return None

    def wait_ready(self) -> str:
        match = wait_until(lambda: self.find(r"REST gateway:\s+(http://\S+)/v1"), 400, 0.2)
        return match.group(1)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=60)
        except subprocess.TimeoutExpired:  # a stop that hangs: say where, from what the serve said last
            self.popen.kill()
            self.popen.wait(timeout=30)
            tail = "\n".join(self.lines[-60:])
            raise AssertionError(f"phonos serve did not stop within 60 s of SIGTERM; its last lines:\n{tail}") from None


def port_open(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def phonos_status(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "launcher.cli", "status", "--data-dir", str(data_dir), "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_serve_prints_a_key_and_the_seed_python_and_node_clients_save_a_pdb(tmp_path: Path) -> None:
    serve = Serve(tmp_path / "var")
    try:
        # `phonos status` finds a serve still starting (Triton loading its models) where it listens: its address
        # was recorded with the banner, so a status during the start asked 8080 and said nothing answered there.
        address = tmp_path / "var" / "serve-address.json"
        wait_until(lambda: address.exists() or serve.find(r"REST gateway:"), 400, 0.05)
        assert address.exists() and not serve.find(r"REST gateway:"), "recorded only with the banner"
        starting = phonos_status(tmp_path / "var")
        assert starting.returncode in (0, 1), (starting.stdout, starting.stderr)  # degraded while Triton loads
        base_url = serve.wait_ready()
        assert json.loads(starting.stdout)["url"] == base_url
        key_line = serve.find(r"API key .*: (pk_\S+)")
        assert key_line, serve.lines
        api_key = key_line.group(1)
        dashboard = serve.find(r"Dashboard:\s+(http://\S+/)")
        password = serve.find(r'sign in as "admin" with password (\S+)')
        assert dashboard and dashboard.group(1) == base_url + "/" and password, serve.lines
        signed_in = requests.post(f"{base_url}/auth/sign-in", json={"username": "admin", "password": password.group(1)},
                                  timeout=30)
        assert signed_in.status_code == 200 and signed_in.json()["username"] == "admin"
        assert requests.get(dashboard.group(1), timeout=10).url.endswith("/jobs")
        triton_address = serve.find(r"Triton ready:\s+(\S+)").group(1)
        grpc_address = serve.find(r"gRPC:\s+(\S+)").group(1)
        assert requests.get(f"{base_url}/v1/health", timeout=10).json()["status"] == "operational"

        script = (REPO / "examples" / "python_client.py").read_text()
        script = script.replace('API_KEY = "YOUR_API_KEY"', f'API_KEY = "{api_key}"')
        script = script.replace('BASE_URL = "https://app.phonos.bio"', f'BASE_URL = "{base_url}"')
        workdir = tmp_path / "client"
        workdir.mkdir()
        (workdir / "client.py").write_text(script)

        # The seed's Node client, as it is but for its key and address: axios from the repository's node_modules.
        script = (REPO / "examples" / "node_client.js").read_text()
        script = script.replace("const API_KEY = 'YOUR_API_KEY';", f"const API_KEY = '{api_key}';")
        script = script.replace("const BASE_URL = 'https://app.phonos.bio';", f"const BASE_URL = '{base_url}';")
        assert api_key in script and base_url in script
        assert (REPO / "node_modules" / "axios").is_dir(), "axios is missing: run scripts/install.sh"
        node_dir = tmp_path / "node_client"
        node_dir.mkdir()
        (node_dir / "client.js").write_text(script)

        # Both clients at once: each submits its own job and waits 5 s between polls (as the seed's examples do),
        # so one after the other cost two of those waits; neither reads what the other does.
        clients = [subprocess.Popen([sys.executable, "client.py"], cwd=workdir, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True),
                   subprocess.Popen(["node", "client.js"], cwd=node_dir, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True,
                                    env={**os.environ, "NODE_PATH": str(REPO / "node_modules")})]
        try:
            (python_out, python_err), (node_out, node_err) = [c.communicate(timeout=300) for c in clients]
        finally:
            for client in clients:  # one that timed out
                if client.poll() is None:
                    client.kill()
        assert clients[0].returncode == 0, python_err
        assert "Job completed!" in python_out and "Structure saved to output.pdb" in python_out
        structure = gemmi.read_structure(str(workdir / "output.pdb"))
        residues = [r for r in structure[0][0]]
        assert gemmi.one_letter_code([r.name for r in residues]).upper() == "MGSSHHHHHHSSGLVPRGSHMASMTGGQQMGRGS"

        assert clients[1].returncode == 0 and not node_err, node_err
        assert "Job completed!" in node_out and "Structure saved to output.pdb" in node_out, node_out
        structure = gemmi.read_structure(str(node_dir / "output.pdb"))
        assert gemmi.one_letter_code([r.name for r in structure[0][0]]).upper() == "MGSSHHHHHHSSGLVPRGSHMASMTGGQQMGRGS"

        # The metrics the run left: one Prometheus scrape shows the job service and Triton's own.
        metrics_url = serve.find(r"metrics:\s+(http://\S+/metrics)").group(1)
        scrape = parse_scrape(requests.get(metrics_url, timeout=30).text)
        names = {name for name, _ in scrape}
        assert scrape[("phonos_jobs_completed_total", (("model", "esmfold"),))] >= 1
        assert scrape[("phonos_http_request_seconds_count",
                       (("method", "POST"), ("route", "/v1/predict"), ("status", "200")))] >= 1
        assert [v for (n, labels), v in scrape.items() if n == "phonos_triton_metrics_up"] == [1]
        # One `endpoint` label for the Triton it started, the same at every start (its ports are picked afresh), on
        # its own series and on the job service's calls of it.
        assert {dict(labels).get("endpoint") for (n, labels) in scrape
                if n in ("phonos_triton_metrics_up", "phonos_triton_request_seconds_count")
                or n.startswith("nv_inference_request_success")} == {"local"}
        assert any(n.startswith("nv_inference_request_success") and dict(labels).get("model") == "esmfold"
                   and v >= 1 for (n, labels), v in scrape.items())
        assert {"phonos_jobs_queued", "phonos_webhook_backlog", "phonos_job_wait_seconds_bucket"} <= names
        # The job service's start line says where it listens in words, then the record's fields.
        assert serve.find(rf"job service listening: gRPC on {re.escape(grpc_address)}, /metrics on "
                          rf"{re.escape(metrics_url.split('/')[2])} action=jobservice\.started "), serve.lines
        # `phonos status` finds it where it listens (port 0 here): it read only the PHONOS_* settings (8080).
        status = phonos_status(tmp_path / "var")
        assert status.returncode == 0 and json.loads(status.stdout)["url"] == base_url, (status.stdout, status.stderr)
    finally:
        assert serve.stop() == 0
    assert not (tmp_path / "var" / "serve-address.json").exists()  # a stopped serve's address is not kept
    # What a stop prints, start to end (was: eight `stop: X done in 0.00 s` lines from the job service): what it
    # does, the job service's one line, Triton's two.
    stopping = serve.lines.index("stopping: the job service first (its running jobs go back to pending), then Triton ...")
    said = serve.lines[stopping + 1:]
    assert len(said) == 3 and re.fullmatch(r"\S+ \S+ INFO jobservice\.server job service stopped: \d+\.\d\d s "
                                           r"\(gateway \d+\.\d\d s, readiness .*, database \d+\.\d\d s\)", said[0]), said
    assert said[1].startswith("stopping Triton (unloading its models") and said[2].startswith("Triton stopped ("), said
    assert not port_open(triton_address) and not port_open(grpc_address)  # every child process is gone

    # Same data dir: the account exists, no new key is printed. This start checks the launcher only (its banner,
    # then its children outliving no kill -9), so it serves the echo model: ready in ~1.5 s, not ESMFold's ~8 s.
    again = Serve(tmp_path / "var", PHONOS_MODELS="echo")
    children: list[int] = []
    try:
        again.wait_ready()
        assert again.find(r"API key") is None
        # The banner's lines arrive one by one: wait for the sign-in line itself.
        assert wait_until(lambda: again.find(r'sign in as "admin" \(no password seen, or forgot it\?'), 30, 0.1)
        assert not again.find("with password")

        # The launcher killed outright (kill -9, the OOM killer) runs none of its cleanup: its children end
        # with it anyway, freeing the data directory's lock and the ports for the next start.
        jobs = wait_until(lambda: again.find(r"job service:\s+pid (\d+)"), 30, 0.1)
        children += [int(again.find(r"Triton ready:.*pid (\d+)").group(1)), int(jobs.group(1))]
        again.popen.kill()
        again.popen.wait(timeout=10)
        assert wait_until(lambda: not any(process_alive(pid) for pid in children), 60, 0.2)
    finally:
        again.stop()
        for pid in children:  # what outlived the launcher (the failure above): each leads its own group
            if process_alive(pid):
                os.killpg(pid, signal.SIGKILL)


def test_serve_on_a_busy_port_fails_at_once_creating_nothing(tmp_path: Path) -> None:
    """A port someone else listens on: one line naming it and what to change, before the first account (and
    its key) is created and before Triton starts (so this is quick)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        ran = subprocess.run([*PHONOS, "serve", "--http-port", str(port), "--grpc-port", "0", "--metrics-port", "0",
                              "--data-dir", str(tmp_path / "var")],
                             capture_output=True, text=True, env=phonos_env(), cwd=REPO, timeout=60)
    assert ran.returncode == 2 and ran.stdout == ""  # no key, no "starting Triton"
    assert ran.stderr == (f"error: cannot listen for HTTP on 127.0.0.1:{port}: the port is in use (or the address is "
                          "not this machine's); choose another with PHONOS_HTTP_PORT or --http-port\n")
    assert not (tmp_path / "var").exists()


def test_keys_create_prints_a_key_stored_only_as_a_hash(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    created = subprocess.run(
        [*PHONOS, "keys", "create", "--data-dir", str(data_dir), "--username", "ada", "--email", "ada@example.org",
         "--credits", "42", "--rate-limit", "7", "--json"],
        capture_output=True, text=True, env=phonos_env(), cwd=REPO, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert set(body) == {"api_key", "account_id", "account_row"}  # the id the account sees and its row number
    assert body["api_key"].startswith("pk_") and isinstance(body["account_id"], int) and body["account_row"] == 1
    database = (data_dir / "phonos.sqlite3").read_bytes()
    assert body["api_key"].encode() not in database
    plain = subprocess.run([*PHONOS, "keys", "create", "--data-dir", str(data_dir), "--username", "bob"],
                           capture_output=True, text=True, env=phonos_env(), cwd=REPO, timeout=60)
    assert plain.returncode == 0 and plain.stdout.strip().startswith("pk_")
    duplicate = subprocess.run([*PHONOS, "keys", "create", "--data-dir", str(data_dir), "--username", "ada"],
                               capture_output=True, text=True, env=phonos_env(), cwd=REPO, timeout=60)
    assert duplicate.returncode == 2 and "taken" in duplicate.stderr


def test_db_build_writes_a_searchable_fasta_and_manifest(tmp_path: Path) -> None:
    fasta = tmp_path / "in.fasta"
    fasta.write_text(">p1\nMKTVRQERLKSIVRILERSKEPV\n>p2\nMKTVRQERLKSIVRILERSKEPA\n")
    built = subprocess.run([*PHONOS, "db", "build", str(fasta), str(tmp_path / "db"), "--name", "mgnify"],
                           capture_output=True, text=True, env=phonos_env(), cwd=REPO, timeout=60)
    assert built.returncode == 0, built.stderr
    assert f"PHONOS_ALPHAFOLD2_MGNIFY={tmp_path / 'db' / 'mgnify.fasta'}" in built.stdout
    assert (tmp_path / "db" / "mgnify.fasta").read_text().count(">") == 2
