"""`phonos status` against a `phonos serve` waiting for its PostgreSQL at start (launcher/serve_waiting.py).

A multi-node tester started `phonos serve` before its database: `phonos status --data-dir` exited 7, "nothing answers
... (is `phonos serve` running?)", and so did `--url` with `--metrics-url`, whose port answered `phonos_database_up
0`: the launcher waited for the database before it started the job service, and meanwhile only its metrics port
listened, and nowhere recorded for `phonos status`. Now it answers as a job service waiting for its database does
(`/v1/health` 503 `degraded`, `database: unreachable`, the reason, tries and seconds so far; every other call 503)
on the ports it serves on once the database answers, recorded for `phonos status`: DEGRADED, exit status 1 (README
"Is it healthy?"). The real `phonos serve`; its database a loopback relay that refuses until it forwards to the
session's PostgreSQL."""

from __future__ import annotations

import json
import re
import signal
import socket
from pathlib import Path

import pytest
import requests

from launcher import cli
from launcher.ports import free_port
from launcher.serve_address import recorded
from tests.pg_relays import Relay, shut
from tests.postgres import PostgresServer
from tests.serve_process import ServeProcess

pytestmark = pytest.mark.integration

WAITING = r"PHONOS API is starting: waiting for its database \(connection refused; try \d+, \d+ s so far\)"


class ForwardingRelay(Relay):
    def _ended(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        shut(source)
        shut(sink)


def _status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(["status", *argv])
    said = capsys.readouterr()
    return code, said.out, said.err


def _waiting_addresses(serve: ServeProcess) -> tuple[str, str]:
    """The gateway's root and the /metrics URL the waiting serve says answer meanwhile."""
    base = serve.wait_for(r"^  meanwhile (http://127\.0\.0\.1:\d+)/v1/health answers 503, waiting for the "
                          r"database \(`phonos status` says so\)$", 60).group(1)
    metrics = serve.wait_for(r"^  meanwhile (http://127\.0\.0\.1:\d+/metrics) answers, with phonos_database_up 0$",
                             60).group(1)
    return base, metrics


def test_status_says_a_serve_waiting_for_its_database_is_up_and_waiting(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "var"
    serve = ServeProcess(data_dir, PHONOS_DATABASE_URL=f"postgresql://phonos@127.0.0.1:{free_port()}/postgres",
                         PHONOS_DATABASE_START_WAIT_S="0", PHONOS_METRICS_PORT="0")
    try:
        serve.wait_for(r"^waiting for the database: PostgreSQL at 127\.0\.0\.1:\d+ refused the connection", 60)
        # As the tester ran it: the local serve, by its data directory (the address it recorded).
        code, out, err = _status(capsys, "--data-dir", str(data_dir))
        assert code == 1 and err == "", (code, out, err)  # was 7: "nothing answers as phonos at ..."
        base, metrics = _waiting_addresses(serve)
        lines = out.splitlines()
        assert lines[0] == f"phonos at {base}: DEGRADED (API v1)", out
        assert re.fullmatch(f"  {WAITING}", lines[1]), out  # why, and how long
        assert "database: unreachable" in lines, out
        # And by --url with --metrics-url.
        code, out, _ = _status(capsys, "--url", f"{base}/v1", "--metrics-url", metrics, "--json")
        found = json.loads(out)
        assert code == 1 and found["status"] == "degraded" and found["components"] == {"database": "unreachable"}
        assert re.fullmatch(WAITING, found["message"]) and found["metrics"]["database_up"] is False, found
        health = requests.get(f"{base}/v1/health", timeout=10)
        assert health.status_code == 503 and health.headers["Retry-After"], health.headers
        assert requests.get(f"{base}/v1/jobs", headers={"Authorization": "Bearer pk_x"}, timeout=10).status_code == 503
        serve.popen.send_signal(signal.SIGINT)  # Ctrl-C: stopped while waiting (test_database_start_wait.py)
        assert serve.popen.wait(timeout=15) == 130
    finally:
        serve.stop()
    assert recorded(data_dir, require_alive=False) is None  # its address taken out with it


def test_once_the_database_answers_the_serve_serves_where_it_waited_and_status_says_operational(
        postgres: PostgresServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The waiting listeners hand their ports (picked by port 0) over to the job service: the banner's address is
    the one `phonos status` was answered on while it waited."""
    gate = free_port()  # refused until the relay listens there: a database not started yet
    url = postgres.new_store_url("statuswait").replace(f":{postgres.port}/", f":{gate}/")
    data_dir = tmp_path / "var"
    serve = ServeProcess(data_dir, PHONOS_DATABASE_URL=url, PHONOS_METRICS_PORT="0", PHONOS_MODELS="echo")
    relay = None
    try:
        base, metrics = _waiting_addresses(serve)
        assert _status(capsys, "--data-dir", str(data_dir))[0] == 1
        relay = ForwardingRelay(("127.0.0.1", postgres.port), "status-gate", port=gate)  # the database is up
        banner = serve.wait_for(r"REST gateway:\s+(http://127\.0\.0\.1:\d+)/v1", 300)
        assert banner.group(1) == base, (banner.group(0), base)
        assert serve.wait_for(r"metrics:\s+(http://127\.0\.0\.1:\d+/metrics)", 30).group(1) == metrics
        code, out, _ = _status(capsys, "--data-dir", str(data_dir), "--json")
        found = json.loads(out)
        assert code == 0 and found["url"] == base and found["status"] == "operational", found
        assert found["metrics_url"] == metrics and found["metrics"]["database_up"] is True, found
        # No gRPC server ran in the launcher: gRPC's threads left there made every child start log a fork warning.
        assert not serve.find("skipping fork"), serve.lines
    finally:
        assert serve.stop() == 0, serve.lines[-20:]
        if relay is not None:
            relay.close()
