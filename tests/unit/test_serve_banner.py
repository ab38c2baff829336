"""`phonos serve`'s banner: addresses a person can open (a listener on 0.0.0.0 is shown on 127.0.0.1, an IPv6
literal in brackets), the same rule for the launcher's own readiness probe, and a sign-in line that is true."""

from __future__ import annotations

import asyncio
import io
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from aiohttp import web

from jobservice import admin
from jobservice.accounts import NewKey
from jobservice.admin import FirstStart
from launcher import tables
from launcher.banner import endpoint_lines, operator_program, sign_in_line
from launcher.serve import (
    JobServiceChild,
    TritonChild,
    announce,
    api_operational,
    jobservice_command,
    jobservice_env,
)
from launcher.triton import TritonPorts
from launcher.urls import reachable
from phonos_config.service import ServiceSettings
from tests.support import REPO, wait_until

# How tests/e2e and bench/ read the banner (tests/e2e/test_serve_and_clients.py, bench/triton_recovery.py).
REST_LINE = r"REST gateway:\s+(http://\S+)/v1"
READY = {"http_port": 8000, "grpc_port": 50051, "metrics_port": 9464}


@pytest.mark.unit
@pytest.mark.parametrize(("bind", "host", "everywhere"), [
    ("0.0.0.0", "127.0.0.1", "all interfaces"),
    ("", "127.0.0.1", "all interfaces"),
    ("::", "[::1]", "all IPv6 interfaces"),
    ("127.0.0.1", "127.0.0.1", None),
    ("api.example.org", "api.example.org", None),
    ("fd00::5", "[fd00::5]", None),
    ("::1", "[::1]", None),
])
def test_a_bind_host_is_shown_as_an_address_to_connect_to(bind: str, host: str, everywhere: str | None) -> None:
    where = reachable(bind)
    assert (where.host, where.listening_on) == (host, everywhere)
    assert where.url(8000, "/v1") == f"http://{host}:8000/v1"
    assert where.address(50051) == f"{host}:50051"
    assert where.note() == (f"listening on {everywhere}; " if everywhere else "")


@pytest.mark.unit
def test_a_banner_on_every_interface_shows_loopback_urls_and_says_where_it_listens() -> None:
    settings = ServiceSettings(http_host="0.0.0.0", grpc_host="0.0.0.0", metrics_host="0.0.0.0")
    lines = endpoint_lines(settings, READY, '  sign in as "admin"')
    text = "\n".join(lines)
    assert "0.0.0.0" not in text
    assert lines[0] == "REST gateway:  http://127.0.0.1:8000/v1  (listening on all interfaces; try /v1/health)"
    assert lines[1] == "Dashboard:     http://127.0.0.1:8000/"
    assert lines[3] == "gRPC:          127.0.0.1:50051  (listening on all interfaces; reflection + health enabled)"
    assert lines[4] == ("metrics:       http://127.0.0.1:9464/metrics  "
                        "(listening on all interfaces; Prometheus; job service + Triton)")
    match = re.search(REST_LINE, text)
    assert match and match.group(1) == "http://127.0.0.1:8000"


@pytest.mark.unit
def test_a_banner_on_loopback_is_unchanged_and_an_ipv6_literal_is_bracketed() -> None:
    lines = endpoint_lines(ServiceSettings(), {**READY, "metrics_port": 0}, "")
    assert lines[0] == "REST gateway:  http://127.0.0.1:8000/v1  (try /v1/health)"
    assert lines[3] == "gRPC:          127.0.0.1:50051  (reflection + health enabled)"
    assert not any(line.startswith("metrics:") for line in lines)  # metrics off: no line
    v6 = endpoint_lines(ServiceSettings(http_host="::1", grpc_host="::1"), READY, "")
    assert v6[0].startswith("REST gateway:  http://[::1]:8000/v1  (try") and v6[3].startswith("gRPC:          [::1]:50051")


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(autouse=True)
def phonos_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The banners below are read as printed for a `phonos` PATH finds (how the operator's program is named where
    it is not is test_the_operator_program_is_named_as_it_can_be_typed's)."""
    monkeypatch.setattr("launcher.serve.operator_program", lambda: "phonos")


@pytest.fixture
def everywhere() -> Iterator[int]:
    """A real HTTP listener on 0.0.0.0 (every IPv4 interface), as `phonos serve --http-host 0.0.0.0` binds."""
    server = HTTPServer(("0.0.0.0", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.integration
def test_the_printed_url_of_a_listener_on_every_interface_opens(everywhere: int) -> None:
    lines = endpoint_lines(ServiceSettings(http_host="0.0.0.0"), {**READY, "http_port": everywhere}, "")
    base_url = re.search(REST_LINE, "\n".join(lines)).group(1)  # type: ignore[union-attr]
    with urllib.request.urlopen(f"{base_url}/v1/health", timeout=5) as answer:
        assert answer.status == 200 and answer.read() == b"ok"


@pytest.mark.integration
def test_the_launcher_sees_a_gateway_bound_to_ipv6_any_as_operational(tmp_path: Path) -> None:
    """aiohttp (asyncio) binds "::" IPv6-only: the readiness probe must come over [::1], not 127.0.0.1, or
    `phonos serve --http-host ::` would wait for ever without printing its banner."""

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "operational"})

    async def scenario() -> bool:
        app = web.Application()
        app.router.add_get("/v1/health", health)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "::", 0)
        await site.start()
        try:
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            settings = ServiceSettings(http_host="::", data_dir=tmp_path)
            jobs = JobServiceChild(settings, {})
            jobs.ready_info = {"http_port": port}
            return await asyncio.to_thread(api_operational, settings, jobs)
        finally:
            await runner.cleanup()

    assert asyncio.run(scenario())


@pytest.mark.e2e
def test_serve_s_http_host_reaches_the_job_service_that_binds_the_gateway(operator_env: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    """`phonos serve --http-host ::` sets the launcher's settings; the gateway is bound by the job service
    process, which must get the same host, or the banner's "listening on all interfaces" would be false."""
    settings = ServiceSettings(data_dir=tmp_path, http_host="::", http_port=0, grpc_host="::", grpc_port=0,
                               metrics_port=0)
    triton = TritonChild(["esmfold"], TritonPorts(8010, 8011, 8012), settings, {})  # never started: not needed
    jobs = JobServiceChild(settings, jobservice_env(settings, triton))  # operator_env: no PHONOS_* of the caller
    jobs.spawn()
    try:
        assert jobs.popen is not None
        assert wait_until(jobs.is_ready, 60, 0.1), "the job service never printed its ready line"
        with socket.create_connection(("::1", jobs.ready_info["http_port"]), timeout=5):
            pass  # bound to "::": reachable on [::1] (on 127.0.0.1 only, this connection is refused)
        with socket.create_connection(("::1", jobs.ready_info["grpc_port"]), timeout=5):
            pass  # gRPC on "::" too (grpc cannot bind ":::0"; the job service brackets the literal)
    finally:
        jobs.stop()
    assert jobs.exit_code() is not None


@pytest.mark.unit
def test_a_restarted_job_service_comes_back_on_the_ports_it_first_bound(tmp_path: Path) -> None:
    """Port 0 (any free one) is picked once: a job service restarted after a crash must listen where the banner
    said, the metrics port included (it moved, and Prometheus's target with the banner's port went dark)."""
    settings = ServiceSettings(data_dir=tmp_path, http_port=0, grpc_port=0, metrics_port=0)
    jobs = JobServiceChild(settings, {})
    ready = '{"event": "ready", "grpc_port": 40001, "http_port": 40002, "metrics_port": 40003}\n'
    jobs._read_stdout(SimpleNamespace(stdout=io.StringIO(ready)), threading.Event())  # type: ignore[arg-type]
    command = jobservice_command(jobs.settings)
    ports = {flag: command[command.index(flag) + 1] for flag in ("--grpc-port", "--http-port", "--metrics-port")}
    assert ports == {"--grpc-port": "40001", "--http-port": "40002", "--metrics-port": "40003"}


FIRST = FirstStart(NewKey(api_key="pk_x", account_id=1, key_id="key_1"), password="Xq3-generated")


@pytest.mark.unit
@pytest.mark.parametrize(("first", "holder", "says"), [
    (FIRST, None, '  sign in as "admin" with password Xq3-generated  (shown once; change it on the dashboard\'s '
                  "Account page)"),
    (None, "admin", '  sign in as "admin" (no password seen, or forgot it? `phonos users set-password --username admin`)'),
    (None, "ada", "  sign in with your username and password (forgot it? `phonos users set-password --username NAME`)"),
    (None, None, "  set a password to sign in: `phonos users set-password --username NAME`"),
])
def test_the_sign_in_line_says_what_is_true_of_the_passwords(first: FirstStart | None, holder: str | None,
                                                             says: str) -> None:
    assert sign_in_line(first, holder) == says


@pytest.mark.unit
def test_on_postgresql_the_set_password_command_names_the_database_it_needs() -> None:
    """Pasted into a shell without PHONOS_DATABASE_URL it refused, naming only --data-dir (and its advice, `keys
    create`, would have made a second, SQLite, database in the PostgreSQL install's data directory)."""
    said = sign_in_line(None, "admin", data_dir=Path("/srv/phonos"), postgres=True)
    assert said == ('  sign in as "admin" (no password seen, or forgot it? `PHONOS_DATABASE_URL="$PHONOS_DATABASE_URL" phonos '
                    'users set-password --username admin --data-dir /srv/phonos`)')


def _announce(settings: ServiceSettings, first: FirstStart | None, capsys: pytest.CaptureFixture[str]) -> str:
    """The banner `phonos serve` prints once Triton and the job service (which bound READY's ports) are ready."""
    jobs = JobServiceChild(settings, {})
    jobs.ready_info = dict(READY)
    announce(settings, TritonChild(["esmfold"], TritonPorts(8010, 8011, 8012), settings, {}), jobs, first)
    return capsys.readouterr().out


@pytest.mark.integration
def test_the_banner_of_a_service_on_every_interface_prints_no_0000(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    settings = ServiceSettings(data_dir=tmp_path, http_host="0.0.0.0", grpc_host="0.0.0.0", metrics_host="0.0.0.0")
    first = asyncio.run(admin.ensure_first_account(settings, credits=10, rate_limit=60))
    assert first is not None
    out = _announce(settings, first, capsys)
    assert "0.0.0.0" not in out, out
    assert re.search(REST_LINE, out).group(1) == "http://127.0.0.1:8000"  # type: ignore[union-attr]
    assert f'Dashboard:     http://127.0.0.1:8000/\n  sign in as "admin" with password {first.password}' in out


@pytest.mark.integration
def test_a_first_password_changed_while_the_models_loaded_is_not_printed(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """`phonos users set-password --username admin` while the first start's models loaded: the banner then printed
    the generated password as "shown once", and signing in with it was refused (a tester's finding)."""
    settings = ServiceSettings(data_dir=tmp_path)
    first = asyncio.run(admin.ensure_first_account(settings, credits=10, rate_limit=60))
    assert first is not None
    asyncio.run(admin.set_password(settings, username="admin", password="the operator's own choice"))
    out = _announce(settings, first, capsys)
    assert first.password not in out
    assert '  sign in as "admin" (no password seen, or forgot it? `phonos users set-password --username admin' in out


@pytest.mark.integration
def test_a_restart_where_only_other_accounts_have_passwords_says_sign_in_with_yours(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The operator never set admin's password but gave `ada` one: people can sign in (a real SQLite file;
    tests/store/test_sign_in_hint.py runs the lookup on PostgreSQL too)."""
    settings = ServiceSettings(data_dir=tmp_path)

    async def accounts() -> None:  # `phonos keys create` twice, then `phonos users set-password --username ada`
        for username in ("admin", "ada"):
            await admin.create_key(settings, username=username, email=None, credits=10, rate_limit=60)
        await admin.set_password(settings, username="ada", password="a long enough password")

    asyncio.run(accounts())
    out = _announce(settings, None, capsys)
    assert ("  sign in with your username and password (forgot it? `phonos users set-password --username NAME "
            f"--data-dir {tmp_path}`)") in out
    assert "set a password to sign in" not in out


@pytest.mark.unit
def test_the_operator_program_is_named_as_it_can_be_typed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """scripts/serve.sh runs `.venv/bin/phonos`, which is not on PATH: the banner's hint names that path (from the
    working directory, as the README does), `phonos` only when PATH finds this very program."""
    program = tmp_path / ".venv" / "bin" / "phonos"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    monkeypatch.chdir(tmp_path)
    assert operator_program(".venv/bin/phonos", on_path="") == ".venv/bin/phonos"
    assert operator_program(".venv/bin/phonos", on_path="/usr/local/bin/phonos") == ".venv/bin/phonos"  # another one
    assert operator_program(".venv/bin/phonos", on_path=str(program)) == "phonos"
    assert operator_program(str(program), on_path="") == ".venv/bin/phonos"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert operator_program(str(program), on_path="") == str(program)  # not under the working directory
    # `python -m launcher.cli`: `phonos` on PATH, else the one installed beside that Python, else the bare name.
    cli = str(REPO / "launcher" / "cli.py")
    python = str(program.parent / "python")
    assert operator_program(cli, on_path="/usr/local/bin/phonos", interpreter=python) == "phonos"
    assert operator_program(cli, on_path="", interpreter=python) == str(program)  # elsewhere: absolute
    monkeypatch.chdir(tmp_path)
    assert operator_program(cli, on_path="", interpreter=python) == ".venv/bin/phonos"
    assert operator_program(cli, on_path="", interpreter=str(elsewhere / "python")) == "phonos"  # none beside it


@pytest.mark.unit
def test_backup_names_the_restore_command_as_it_can_be_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    """`phonos backup` said `phonos serve --data-dir …` where PATH has no `phonos` (the README's `.venv/bin/phonos`)."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr(tables, "terminal_cells", lambda: None)  # piped: one line
    assert tables.restore_command(Path("/b/k"), ".venv/bin/phonos") == (
        "  to restore, start from it: .venv/bin/phonos serve --data-dir /b/k")
    monkeypatch.setattr(tables, "terminal_cells", lambda: 40)  # a narrow terminal: lines that paste as one command
    lines = tables.restore_command(Path("/backups/with space/2026"), ".venv/bin/phonos").splitlines()
    assert lines[1].strip().startswith(".venv/bin/phonos") and "'/backups/with space/2026'" in "".join(lines), lines


@pytest.mark.integration
def test_the_forgot_password_hint_of_a_service_with_its_own_data_dir_works_as_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`phonos serve --data-dir DIR` restarted: the hint's command, pasted in the same working directory, sets the
    password in DIR. It used to print `phonos users set-password --username admin`, which looked in ./var and
    said there was no database there."""
    data_dir = tmp_path / "state"
    settings = ServiceSettings(data_dir=data_dir)

    async def admin_with_password() -> None:
        await admin.create_key(settings, username="admin", email=None, credits=10, rate_limit=60)
        await admin.set_password(settings, username="admin", password="the first long password")

    asyncio.run(admin_with_password())
    here = tmp_path / "work"
    here.mkdir()
    monkeypatch.chdir(here)
    out = _announce(settings, None, capsys)
    hint = re.search(r'sign in as "admin" \(no password seen, or forgot it\? `([^`]+)`\)', out)
    assert hint is not None, out
    command = shlex.split(hint.group(1))
    assert command[0] == "phonos" and "--data-dir" in command, command
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "launcher.cli", *command[1:], "--password-stdin"], cwd=here,
                          input="a brand new long password\n", capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not (here / "var").exists()  # nothing made where the service's state is not


@pytest.mark.unit
def test_only_the_first_start_says_how_to_use_the_new_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The key is printed above Triton's start-up; under the addresses, a first start says what to type next with
    the address this service listens on (README's *Your first job* runs it against a live service)."""
    settings = ServiceSettings(data_dir=tmp_path)
    first = _announce(settings, FIRST, capsys)
    assert ("first job:     phonos login --url http://127.0.0.1:8000  (asks for the API key above), then "
            "phonos fold SEQUENCE  (curl: README, Your first job)") in first.splitlines()
    assert "first job:" not in _announce(settings, None, capsys)  # a restart: no new key to say anything of


@pytest.mark.unit
def test_the_banner_fits_a_narrow_terminal_between_words_and_is_whole_piped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """At 60 columns the terminal cut `Triton ready: ... log <path>)` (94 cells), the metrics line and the first-job
    command mid-word. On a terminal each line is broken between words under its value's column, an address, a path
    or a `phonos ...` command kept whole; piped (logs, tests/e2e and bench read it) each line is as it was."""
    settings = ServiceSettings(data_dir=tmp_path)
    piped = _announce(settings, FIRST, capsys)
    assert max(len(line) for line in piped.splitlines()) > 90
    monkeypatch.setenv("COLUMNS", "60")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    shown = _announce(settings, FIRST, capsys)
    lines = shown.splitlines()
    paths = str(tmp_path)
    assert [line for line in lines if len(line) >= 60 and paths not in line] == [], shown
    assert lines[1].startswith(" " * 15) and lines[0].startswith("Triton ready:  127.0.0.1:8011 (internal;")
    assert re.search(REST_LINE, shown).group(1) == "http://127.0.0.1:8000"  # type: ignore[union-attr]
    assert "phonos login --url http://127.0.0.1:8000" in shown and "phonos fold SEQUENCE" in shown
    def words(text: str) -> list[str]:
        return text.split()
    assert words(shown) == words(piped)  # the same words, only broken


@pytest.mark.unit
def test_on_postgresql_triton_logs_to_a_file_of_its_host_and_the_banner_names_it(tmp_path: Path) -> None:
    """Serves sharing a data directory on PostgreSQL wrote one triton.log together; each host's is its own now,
    and the banner named triton.log whatever the file was (found by a reviewer)."""
    from launcher.serve_address import this_host

    shared = ServiceSettings(data_dir=tmp_path, database_url="postgresql://phonos@db.lab/phonos")
    triton = TritonChild(["esmfold"], TritonPorts(8010, 8011, 8012), shared, {})
    assert triton.log_path == tmp_path / f"triton.{this_host()}.log"
    assert TritonChild(["esmfold"], TritonPorts(8010, 8011, 8012), ServiceSettings(data_dir=tmp_path),
                       {}).log_path == tmp_path / "triton.log"
    jobs = JobServiceChild(shared, {})
    jobs.ready_info = dict(READY)
    import contextlib
    import io
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        announce(shared, triton, jobs, FIRST)
    assert f"log {tmp_path / f'triton.{this_host()}.log'})" in out.getvalue()
