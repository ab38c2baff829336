"""A wrong server address is said at once; a server that answered before is waited for.

A refused connection (or a host name that does not resolve) looks the same whether the address is wrong or the
server is restarting. The `phonos` command tells them apart by history: an address that has answered it before
(remembered beside the config file) or a wait the user chose (PHONOS_MAX_RETRY_WAIT) is waited out as before;
any other fails on its first request, in one line that names the address and where it came from. Before, a typo
in PHONOS_URL took the whole retry budget (8 s) to be said."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from phonos_client import Client, ServerUnreachableError, calls, cli, config, errors
from phonos_client.retry import RetryPolicy, Tries

pytestmark = pytest.mark.unit


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Answers(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        data = json.dumps({"job_id": "j1", "model": "esmfold", "status": "completed",
                           "created_at": "2026-01-01T00:00:00Z"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def serving(port: int, after_s: float = 0.0) -> Iterator[None]:
    """A server on `port` that starts listening after `after_s` (refused until then)."""
    box: list[ThreadingHTTPServer] = []

    def start() -> None:
        time.sleep(after_s)
        box.append(ThreadingHTTPServer(("127.0.0.1", port), Answers))
        box[0].serve_forever(poll_interval=0.05)

    threading.Thread(target=start, daemon=True).start()
    while after_s == 0 and not box:
        time.sleep(0.01)
    try:
        yield
    finally:
        deadline = time.monotonic() + after_s + 5
        while not box and time.monotonic() < deadline:
            time.sleep(0.05)
        box[0].shutdown()
        box[0].server_close()


@pytest.fixture
def home(operator_env: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    operator_env.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    operator_env.setenv("PHONOS_API_KEY", "pk_x")
    return operator_env


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_a_first_request_that_nothing_answers_fails_at_once(scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with Client(url, "pk_x", fail_fast_until_answered=True) as client, \
            pytest.raises(ServerUnreachableError) as refused:
        client.get_job("j1")
    assert time.monotonic() - started < 2.0  # not the 8 s budget
    assert refused.value.never_answered and refused.value.server == url
    assert refused.value.reason == "connection refused" and refused.value.exit_code == 7
    assert not client.answered


def test_once_the_server_answered_a_refusal_is_waited_out(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    with Client(f"http://127.0.0.1:{port}", "pk_x", fail_fast_until_answered=True) as client:
        with serving(port):
            assert client.get_job("j1").job_id == "j1"
        assert client.answered
        with caplog.at_level("INFO", logger="phonos_client"), serving(port, after_s=1.0):  # a restart: 1 s down
            assert client.get_job("j1").job_id == "j1"
    assert any("trying again" in record.getMessage() for record in caplog.records)


def test_the_grpc_words_for_a_connection_never_made() -> None:
    """gRPC says a refusal and an unknown host in its own words (UNAVAILABLE, no phonos title); only those are
    never-connected, a connection that broke mid-call is an ordinary connection error."""
    for details, reason in [
        ("failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Failed to connect to remote "
         "host: Connection refused", "connection refused"),
        ("errors resolving nosuch.invalid:1: [field:hostname lookup error:address lookup failed for "
         "nosuch.invalid:1: Domain name not found]", "no such host"),
        ("DNS resolution failed for nosuch.invalid:1: C-ares status is not ARES_SUCCESS", "no such host")]:
        error = errors.from_grpc_status("UNAVAILABLE", details, {})
        assert isinstance(error, ServerUnreachableError) and error.reason == reason, details
    broken = errors.from_grpc_status("UNAVAILABLE", "Socket closed", {})
    assert isinstance(broken, errors.APIConnectionError) and not isinstance(broken, ServerUnreachableError)


def test_the_command_says_a_wrong_address_in_one_line(home: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    home.setenv("PHONOS_URL", url)
    started = time.monotonic()
    assert cli.main(["jobs", "ls"]) == 7
    assert time.monotonic() - started < 2.0
    said = capsys.readouterr().err
    assert said == (f"phonos: nothing answers at {url} (connection refused); it came from PHONOS_URL: "
                    "set PHONOS_URL=http://HOST:PORT\n")
    assert cli.main(["login", "--url", "http://nosuch.invalid:8080"]) == 7  # login's --url
    assert capsys.readouterr().err == ("phonos: nothing answers at http://nosuch.invalid:8080 (no such host); "
                                       "check --url (http://HOST:PORT)\n")


def test_an_address_that_answered_before_or_a_chosen_wait_is_waited_for(home: pytest.MonkeyPatch,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    home.setenv("PHONOS_URL", url)
    assert cli.client_options(url, 120, 8)["fail_fast_until_answered"]
    with serving(port):
        assert cli.main(["jobs", "show", "j1", "--json"]) == 0  # it answered: remembered
    capsys.readouterr()
    assert config.answered_before(url) and not config.answered_before(f"http://127.0.0.1:{free_port()}")
    assert config.answered_path().stat().st_mode & 0o777 == 0o600
    assert not cli.client_options(url, 120, 8)["fail_fast_until_answered"]
    with serving(port, after_s=1.0):  # restarting: its first request is refused for a second, then answered
        assert cli.main(["jobs", "show", "j1", "--json"]) == 0
    assert "trying again for up to 8 s" in capsys.readouterr().err
    other = f"http://127.0.0.1:{free_port()}"
    home.setenv("PHONOS_MAX_RETRY_WAIT", "5")
    assert not cli.client_options(other, 120, 5)["fail_fast_until_answered"]


def test_the_remembered_addresses_are_few(home: pytest.MonkeyPatch) -> None:
    for port in range(1, 30):
        config.remember_answered(f"http://127.0.0.1:{port}")
    kept = config.answered_path().read_text().splitlines()
    assert len(kept) == config.ANSWERED_KEPT and kept[-1] == "http://127.0.0.1:29"
    config.remember_answered("http://127.0.0.1:15")  # newest last, once
    assert config.answered_path().read_text().splitlines()[-1] == "http://127.0.0.1:15"
    assert len(config.answered_path().read_text().splitlines()) == config.ANSWERED_KEPT


class NotPhonos(BaseHTTPRequestHandler):
    """Some other web server at the address: an HTML 404 for everything."""

    def log_message(self, *args: Any) -> None:
        pass

    def answer(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"content-type": "text/html", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.answer(404, b"<html><body>Not Found</body></html>")


def test_another_web_server_at_the_address_is_said_as_that(home: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """It said "phonos: HTTP 404" and exited 4, as for a job that does not exist. No phonos API at the URL is one
    outcome, exit 2 (the server URL is wrong: no wait changes it), at the address's root as under a path (it was 7
    at the root and 2 under a path)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), NotPhonos)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    codes = []
    try:
        for at in (url, f"{url}/api"):
            home.setenv("PHONOS_URL", at)
            codes.append(cli.main(["jobs", "ls"]))
            assert not config.answered_before(at)  # not a phonos server's answer: nothing to wait for there
    finally:
        server.shutdown()
        server.server_close()
    assert codes == [2, 2]
    assert capsys.readouterr().err.splitlines() == [
        f"phonos: {url} answered HTTP 404, not as a phonos server answers; it came from PHONOS_URL: set "
        "PHONOS_URL=http://HOST:PORT",
        f"phonos: no phonos API under /api: {url}/api answered HTTP 404, not as a phonos server answers; it came from "
        "PHONOS_URL: set PHONOS_URL=http://HOST:PORT"]


class RedirectsOrPages(NotPhonos):
    """Another web server answering a success or a redirect that is no API answer: a sign-in proxy's 302 with an
    empty body, or a 200 HTML page."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/redirect"):
            self.answer(302, b"", {"location": "https://sso.example/login"})
        else:
            self.answer(200, b"<html><body>Welcome</body></html>")


def test_a_redirect_or_a_page_that_is_no_json_is_said_as_another_server(home: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A 302 with an empty body (or a 200 web page) at PHONOS_URL crashed the CLI with a JSONDecodeError traceback,
    exit 1. It is no phonos API there: said so, exit 2, and the redirect is not followed (the key stays here)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), RedirectsOrPages)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    codes = []
    try:
        for at in (f"{url}/redirect", url):
            home.setenv("PHONOS_URL", at)
            codes.append(cli.main(["jobs", "ls"]))
    finally:
        server.shutdown()
        server.server_close()
    assert codes == [2, 2]
    err = capsys.readouterr().err
    assert "Traceback" not in err and "JSONDecodeError" not in err
    lines = err.splitlines()
    assert "answered HTTP 302, not as a phonos server answers" in lines[0], lines
    assert "answered HTTP 200, not as a phonos server answers" in lines[1], lines


@pytest.mark.parametrize(("wait", "said"), [(8, "8"), (0.5, "0.5"), (2.25, "2.25"), (120.0, "120")])
def test_a_short_chosen_wait_is_said_as_it_was_set(wait: float, said: str, caplog: pytest.LogCaptureFixture) -> None:
    """PHONOS_MAX_RETRY_WAIT=0.5 was said "trying again for up to 0 s", and then it did try again."""
    with caplog.at_level("INFO", logger="phonos_client"):
        assert RetryPolicy(max_retry_wait=wait).delay(calls.get_job("j1"), errors.APIConnectionError("gone"), Tries()) > 0
    assert [r.getMessage() for r in caplog.records] == [f"gone; trying again for up to {said} s"]
