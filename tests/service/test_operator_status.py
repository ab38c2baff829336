"""`phonos status` against a real running job service and gateway (in process, on the inference twin): its figures
are the service's state (a job queued behind a slow one, a model set not ready), its exit status says healthy or
not, and an address where nothing answers is one line, not a traceback."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from phonos_client.columns import width

from jobservice.memory_inference import Slow
from launcher import cli
from launcher.serve_address import ServeAddress, forget, record
from tests.serve_process import separate_gateway
from tests.support import REPO, InProcessService, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    """One model run at a time, so that a second job waits queued behind a slow first one."""
    running = InProcessService(tmp_path_factory.mktemp("status"), {"PHONOS_MAX_INFLIGHT_PER_MODEL": "1"})
    yield running
    running.stop()


def _status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["status", *argv])
    said = capsys.readouterr()
    return code, said.out, said.err


def _addresses(service: InProcessService) -> list[str]:
    return ["--url", service.base_url, "--metrics-url", f"http://127.0.0.1:{service.metrics_port}/metrics"]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_job_queued_behind_a_running_one_is_shown_as_such(service: InProcessService,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    client = service.client(service.new_key(credits=1000))
    service.inference.script("esmfold", Slow(60), Slow(60))
    ids = [client.predict().json()["job_id"] for _ in range(2)]
    try:
        wait_until(lambda: client.get(f"/v1/jobs/{ids[0]}").json()["status"] == "running", 10)
        code, out, _ = _status(capsys, *_addresses(service), "--json")
        found = json.loads(out)
        assert code == 0 and found["status"] == "operational" and found["version"] == "v1", found
        assert found["components"]["esmfold"] == "ready" and found["metrics_error"] is None
        load = found["metrics"]["models"]["esmfold"]
        assert (load["ready"], load["queued"], load["running"]) == (True, 1, 1), found
        assert 0 <= load["oldest_queued_seconds"] < 60
        assert found["metrics"]["database_up"] is True and found["metrics"]["webhook_backlog"] == 0
        assert found["metrics"]["data_dir_free_bytes"] > 0

        # Piped: one line each, stable for grep.
        code, piped, _ = _status(capsys, *_addresses(service))
        lines = piped.splitlines()
        assert code == 0 and lines[0] == f"phonos at {service.base_url}: operational (API v1)", out
        assert "database: ready" in lines
        assert any(line.startswith("esmfold: ready, 1 queued, 1 running (oldest queued ") for line in lines), piped
        assert "webhooks: 0 deliveries waiting" in lines  # one is "1 delivery waiting" (status_lines)
        assert any(line.startswith("data dir: ") and " free of " in line for line in lines), piped

        # The local service by default: the addresses `phonos serve` would print for these settings.
        monkeypatch.setenv("PHONOS_HTTP_PORT", str(service.http_port))
        monkeypatch.setenv("PHONOS_METRICS_PORT", str(service.metrics_port))
        code, out, _ = _status(capsys, "--json")
        assert code == 0 and json.loads(out)["metrics"]["models"]["esmfold"]["queued"] == 1, out

        # A 60-column terminal: every line within it, the same words.
        monkeypatch.setenv("COLUMNS", "60")
        for stream in (sys.stdout, sys.stderr):
            monkeypatch.setattr(stream, "isatty", lambda: True)
        code, shown, _ = _status(capsys, *_addresses(service))
        assert code == 0 and all(width(line) < 60 for line in shown.splitlines()), shown
        def words(text: str) -> str:  # the same words, only broken (an age or a size may have moved on since)
            return re.sub(r"\d+(\.\d+)?", "N", " ".join(text.split()))

        assert words(shown) == words(piped)
    finally:
        for job_id in ids:
            client.post(f"/v1/jobs/{job_id}/cancel")


def test_a_model_not_ready_is_degraded_with_its_own_exit_status(service: InProcessService,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    service.inference.set_ready("esmfold", False)
    try:
        code, out, _ = wait_until(lambda: (said := _status(capsys, *_addresses(service)))[0] == 1 and said, 10)
        lines = out.splitlines()
        assert lines[0] == f"phonos at {service.base_url}: DEGRADED (API v1)", out
        assert lines[1].startswith("  PHONOS API is running, but these are not ready: ") and "esmfold" in lines[1]
        assert any(line.startswith("esmfold: NOT READY (") for line in lines), out
        code, out, _ = _status(capsys, *_addresses(service), "--json")
        found = json.loads(out)
        assert code == 1 and found["status"] == "degraded" and found["components"]["esmfold"] != "ready", found
    finally:
        service.inference.set_ready("esmfold", True)
    code, out, _ = wait_until(lambda: (said := _status(capsys, *_addresses(service)))[0] == 0 and said, 10)
    assert "esmfold: ready, 0 queued, 0 running" in out.splitlines(), out


def test_metrics_that_do_not_answer_leave_the_health_lines(service: InProcessService,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The verdict is the health's: a metrics listener away (another machine's loopback) is said, not a failure."""
    missing = f"http://127.0.0.1:{free_port()}/metrics"
    code, out, _ = _status(capsys, "--url", service.base_url + "/v1", "--metrics-url", missing)
    assert code == 0 and f"metrics: not read from {missing}: connection refused" in out.splitlines(), out
    code, out, _ = _status(capsys, "--url", service.base_url)
    assert code == 0 and "metrics: not asked (queues, webhooks, disk: give --metrics-url)" in out, out
    assert "esmfold: ready" in out.splitlines()


def test_nothing_answering_is_one_line_and_exit_7(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = _status(capsys, "--url", url)
    assert (code, out) == (7, "")
    assert err == (f"error: nothing answers as phonos at {url}: connection refused (is `phonos serve` running? "
                   "another address: --url)\n")
    code, out, _ = _status(capsys, "--url", url, "--json")
    assert code == 7 and json.loads(out) == {"url": url, "status": "unreachable", "error": "connection refused"}


def test_the_console_command_says_it_without_a_traceback() -> None:
    """As an operator runs it: a separate process, the exit status a monitor's script branches on."""
    url = f"http://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "launcher.cli", "status", "--url", url], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 7 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: nothing answers as phonos at {url}: "), done.stderr


def test_a_gateway_whose_job_service_is_down_is_said_so_with_its_own_exit_status(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A separate gateway (`python -m gateway`) outlives its job service and answers its health 503 with only a
    `job_service` component. It was `DEGRADED`, `database: unknown`, no models, exit 1 (a model loading says the
    same): now the operator reads that the gateway answers but the job service behind it does not, exit 9."""
    with separate_gateway(f"127.0.0.1:{free_port()}") as gateway:
        code, out, err = _status(capsys, "--url", gateway)
        lines = out.splitlines()
        assert (code, err) == (9, ""), out
        assert lines[0] == f"phonos at {gateway}: JOB SERVICE UNREACHABLE (API v1)", out
        assert lines[1] == ("  the gateway answers, but the job service it calls does not (The job service cannot "
                            "be reached right now; try again in a few seconds.)"), out
        assert "--target" in lines[2] and "database" not in out and "unknown" not in out, out
        # A 50-column terminal: every line within it (the message too, broken between its words).
        monkeypatch.setenv("COLUMNS", "50")
        for stream in (sys.stdout, sys.stderr):
            monkeypatch.setattr(stream, "isatty", lambda: True)
        code, shown, _ = _status(capsys, "--url", gateway)
        assert code == 9 and all(width(line) <= 50 for line in shown.splitlines()), shown
        assert " ".join(shown.split()) == " ".join(out.split()), shown
        monkeypatch.undo()
        code, out, _ = _status(capsys, "--url", gateway, "--json")
        found = json.loads(out)
        assert code == 9 and found["status"] == "degraded" and found["components"] == {"job_service": "unavailable"}


def test_status_asks_the_serve_recorded_in_the_data_directory(service: InProcessService, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`phonos serve --http-port 18931` (or port 0) records where it listens; `phonos status` read only the PHONOS_*
    settings and said "nothing answers at 127.0.0.1:8080" about a service that was fine. A record a killed serve
    left (its process gone) is not used: the settings' address is asked, and named."""
    default_port = free_port()
    monkeypatch.setenv("PHONOS_HTTP_PORT", str(default_port))
    metrics = f"http://127.0.0.1:{service.metrics_port}/metrics"
    record(tmp_path, ServeAddress(os.getpid(), service.base_url, metrics))  # this process stands in for the serve
    code, out, err = _status(capsys, "--data-dir", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["url"] == service.base_url and json.loads(out)["metrics_url"] == metrics, err

    forget(tmp_path, os.getpid())  # that serve stopped
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    record(tmp_path, ServeAddress(int(gone.stdout), service.base_url, metrics))  # a serve killed with -9
    code, out, err = _status(capsys, "--data-dir", str(tmp_path))
    assert code == 7 and f"nothing answers as phonos at http://127.0.0.1:{default_port}" in err, err
    # the stopped serve's data directory is named: the address asked may be another install's (found by a tester)
    assert f"no `phonos serve` is recorded as running from {tmp_path}" in " ".join(err.split()), err
