"""What the `phonos` command prints at a narrow terminal, and how short its error lines are: found walking it at 60
columns. `jobs show`'s metadata ran past the edge mid-word, `account`'s summary was one 82-cell line, and every
refusal ended with a 32-character request id that made it wrap (the id is for a server's failure: its admin finds
the call by it)."""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from phonos_client import cli
from phonos_client.columns import width

pytestmark = pytest.mark.unit

JOB = {"job_id": "fcdf4066-a637-4328-b42a-5bfec7c767d5", "status": "completed",
       "download_url": "/v1/jobs/fcdf4066-a637-4328-b42a-5bfec7c767d5/download",
       "metadata": {"timings": {"service_total_s": 0.0215, "store_s": 0.021}, "random_seed": 2793054599,
                    "weights": "none: in-memory inference twin (no model ran)"},
       "formats": ["pdb", "sdf", "json", "confidence_plot", "zip"]}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdout a 60-column terminal (set in the test itself: pytest's capture puts its own back after set-up)."""
    monkeypatch.setattr(sys, "stdout", Terminal())
    monkeypatch.setenv("COLUMNS", "60")


def test_a_jobs_fields_go_on_under_themselves_at_a_narrow_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    at_a_terminal(monkeypatch)
    lines = cli.fields_on_screen(JOB).splitlines()
    long_word = f"download_url: {JOB['download_url']}"  # a path is never broken: copied whole
    assert [line for line in lines if width(line) >= 60] == [long_word]
    at = lines.index(next(line for line in lines if line.startswith("metadata:")))
    assert lines[at] == 'metadata:     {"timings": {"service_total_s": 0.0215,'
    assert lines[at + 1].startswith(" " * 14 + '"store_s"')  # under the value, not under the name
    assert " ".join(line.strip() for line in lines[at:at + 4]).removeprefix("metadata: ").strip().startswith(
        json.dumps(JOB["metadata"])[:60])


def test_piped_a_jobs_fields_are_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    assert len(cli.fields_on_screen(JOB).splitlines()) == len(JOB)  # not a terminal: as it always was


def test_the_account_line_breaks_after_a_clause(monkeypatch: pytest.MonkeyPatch) -> None:
    at_a_terminal(monkeypatch)
    line = "ada (ada@example.org): 4860 credits; jobs: 6 total, 6 completed, 0 active, 0 failed"
    assert cli.clauses_on_screen(line) == ("ada (ada@example.org): 4860 credits;\n"
                                           "jobs: 6 total, 6 completed, 0 active, 0 failed")
    assert cli.clauses_on_screen("ada (ada@example.org): 10 credits") == "ada (ada@example.org): 10 credits"


class Refuses(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status = 500 if "broken" in self.path else 404
        data = json.dumps({"error": "Internal server error" if status == 500 else "Not found",
                           "message": "something broke" if status == 500 else "Job nope not found"}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("x-request-id", "9ef19ce2a16c58fa889c7eca1ba37919")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def refusing(operator_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refuses)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    operator_env.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    operator_env.setenv("PHONOS_URL", f"http://127.0.0.1:{server.server_address[1]}")
    operator_env.setenv("PHONOS_API_KEY", "pk_x")
    yield
    server.shutdown()
    server.server_close()


def test_a_refusal_is_one_short_line_and_a_server_failure_names_its_request_id(
        refusing: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["jobs", "show", "nope"]) == 4
    assert capsys.readouterr().err == "phonos: Not found: Job nope not found\n"
    assert cli.main(["jobs", "show", "broken"]) == 7
    assert capsys.readouterr().err == ("phonos: Internal server error: something broke "
                                       "(request id 9ef19ce2a16c58fa889c7eca1ba37919)\n")


def test_the_next_page_note_puts_its_cursor_on_a_line_of_its_own_when_narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    more = "2 of 7: --all for every one, --starting-after 596d9adb-34c5-4e11-bf00-17eba8105a42 for the next page"
    monkeypatch.setenv("COLUMNS", "60")
    assert cli.note_to_fit(more, "(", ")", sys.stdout) == (
        "(2 of 7: --all for every one; the next page:\n --starting-after 596d9adb-34c5-4e11-bf00-17eba8105a42)")
    assert all(width(line) < 60 for line in cli.note_to_fit(more, "phonos: ", "", sys.stderr).splitlines())
    monkeypatch.setenv("COLUMNS", "120")
    assert cli.note_to_fit(more, "(", ")", sys.stdout) == f"({more})"  # room: the one line it was
