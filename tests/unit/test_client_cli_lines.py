"""What the `phonos` command prints at a narrow terminal, and how short its error lines are: found walking it at 60
columns. `jobs show`'s metadata ran past the edge mid-word, `account`'s summary was one 82-cell line, and every
refusal ended with a 32-character request id that made it wrap (the id is for a server's failure: its admin finds
the call by it)."""

from __future__ import annotations

import argparse
import io
import json
import shlex
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
    assert capsys.readouterr().err == "phonos: not found: job nope\n"
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


# --- one-line confirmations: at 60 columns each is broken between its parts, never inside an id or a command ---

FIRST, RERUN = "2ddc31ee-e23c-4ff6-937b-e56429a6eca5", "183bf76a-9127-4ad1-aeb1-1bf3e983119c"
SHARE = {"share_id": "shr_2a9b7fa5321eab70", "job_id": FIRST, "created_at": "2026-12-01T12:50:32.386Z",
         "expires_at": "2026-12-31T12:50:32.386Z"}
TOKEN_PATH = "/shared/S41NQrdHFzWqc4nrgxD8F1TcBWUw0kc_nUjL0te59fs"
HOOK = {"webhook_id": "wh_5e2b0c7a91d34f68", "url": "https://example.org/hook", "created_at": "2026-12-01T12:50:32Z",
        "events": ["job.started", "job.completed", "job.failed"]}
SECRET = "whsec_3kP0b9yXcVq2mJ8nR4tL6wZ1aF7dG5hS0eU9iO2pQ"


class Answers(BaseHTTPRequestHandler):
    """The API's answers to the confirmations' calls, as the gateway gives them (seed shapes)."""

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        path = self.path.split("?")[0]
        body: dict[str, Any] = {
            "/cancel": {"success": True, "job_id": FIRST, "status": "cancelled", "credits_refunded": 10},
            "/input": {"model": "esmfold", "sequence": "MKTVRQERLK", "params": {}, "name": "first"},
            "/predict": {"success": True, "job_id": RERUN, "model": "esmfold", "status": "pending", "credits_used": 10},
            "/shares": {"share": SHARE, "url": TOKEN_PATH},
            "/webhooks": {"webhook": HOOK, "secret": SECRET},
            "/rotate-secret": {"success": True, "webhook": HOOK, "secret": SECRET, "message": "rotated",
                               "previous_secret_expires_at": "2026-12-02T10:00:00.250Z"},
            "/account": {"account": {"id": 1, "username": "user56320371827051",
                                     "email": "user56320371827051@example.org"},
                         "credits": {"balance": 950}, "jobs": {"total": 5, "completed": 2, "active": 2, "failed": 0}},
        }[next(end for end in ("/cancel", "/input", "/predict", "/shares", "/account", "/webhooks", "/rotate-secret")
               if path.endswith(end))]
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer  # noqa: N815 - http.server's names


@pytest.fixture
def answering(operator_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    operator_env.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    operator_env.setenv("PHONOS_URL", url)
    operator_env.setenv("PHONOS_API_KEY", "pk_x")
    yield url
    server.shutdown()
    server.server_close()


def shown(monkeypatch: pytest.MonkeyPatch, *argv: str) -> list[str]:
    """What `phonos ARGV` prints on a 60-column terminal, a line each."""
    at_a_terminal(monkeypatch)
    assert cli.main(list(argv)) == 0
    printed = sys.stdout.getvalue()  # type: ignore[attr-defined]
    return printed.splitlines()


def pasted(lines: list[str]) -> list[str]:
    """The words a shell reads from lines pasted as they are (a line ending ` \\` goes on on the next)."""
    return shlex.split("\n".join(lines).replace("\\\n", " "))


def test_cancel_and_rerun_say_their_parts_whole_at_a_narrow_terminal(
        answering: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert shown(monkeypatch, "jobs", "cancel", FIRST) == [f"{FIRST} cancelled", "(10 credits refunded)"]
    assert shown(monkeypatch, "jobs", "rerun", FIRST) == [f"{RERUN}  esmfold  pending", "10 credits",
                                                          f"(the request of {FIRST})"]
    # Piped (and wide), the lines scripts read, as they always were.
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli.main(["jobs", "rerun", FIRST]) == 0
    assert sys.stdout.getvalue() == f"{RERUN}\tesmfold\tpending\t10 credits (the request of {FIRST})\n"
    monkeypatch.setattr(sys, "stdout", Terminal())
    monkeypatch.setenv("COLUMNS", "120")
    assert cli.main(["jobs", "cancel", FIRST]) == 0
    assert sys.stdout.getvalue() == f"{FIRST} cancelled (10 credits refunded)\n"


def test_a_share_links_note_fits_and_its_revoke_command_pastes_as_one(
        answering: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = shown(monkeypatch, "jobs", "share", FIRST)
    assert lines[0] == answering + TOKEN_PATH  # a URL on a line of its own, whole (broken, it could not be copied)
    assert all(width(line) < 60 for line in lines[1:]), lines
    assert lines[1:3] == ["shown once; anyone with it can see the results until",
                          "2026-12-31T12:50:32.386Z; revoke it with:"]
    assert pasted(lines[3:]) == ["phonos", "jobs", "unshare", FIRST, SHARE["share_id"]]
    monkeypatch.setenv("COLUMNS", "200")
    assert cli.shared_to_fit("L", SHARE["expires_at"], FIRST, SHARE["share_id"]) == (
        f"L\n(shown once; anyone with it can see the results until {SHARE['expires_at']}; revoke: phonos jobs "
        f"unshare {FIRST} {SHARE['share_id']})")  # room: as it was


def test_the_account_line_breaks_between_name_balance_and_jobs(answering: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert shown(monkeypatch, "account") == ["user56320371827051 (user56320371827051@example.org):",
                                             "950 credits; jobs: 5 total, 2 completed, 2 active, 0 failed"]


def test_the_command_to_follow_jobs_again_fits_and_pastes_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """`fold --no-wait` and Ctrl-C say it on stderr: at 60 columns its 64 cells wrapped mid-word."""
    at_a_terminal(monkeypatch)
    words = ["phonos", "jobs", "watch", FIRST, RERUN, "--out", "out dir"]
    lines = cli.command_to_fit(words, Terminal()).splitlines()
    assert lines == ["  phonos jobs watch 2ddc31ee-e23c-4ff6-937b-e56429a6eca5 \\",
                     "    183bf76a-9127-4ad1-aeb1-1bf3e983119c --out 'out dir'"]
    assert pasted(lines) == words
    assert cli.command_to_fit(words, io.StringIO()) == "  " + shlex.join(words)  # piped: the one line


@pytest.mark.parametrize("stderr_tty", [False, True], ids=["log", "person"])
def test_piped_share_and_webhook_create_print_one_line_a_script_reads(
        answering: str, monkeypatch: pytest.MonkeyPatch, stderr_tty: bool) -> None:
    """Piped, `jobs share` printed the link and a note line, `webhooks create` three lines (the id, a label, the
    secret): `link=$(phonos jobs share ID)` held two lines. Now stdout is one line: the link; the webhook's id and its
    secret, tab-separated (the secret is shown only this once: a script must get it). The note goes to stderr where a
    person reads it (a terminal), nowhere in a log; on a terminal stdout is what it was (the tests above)."""
    monkeypatch.setenv("COLUMNS", "200")  # the note's one line fits
    monkeypatch.setattr(sys, "stderr", Terminal() if stderr_tty else io.StringIO())
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli.main(["jobs", "share", FIRST]) == 0
    assert sys.stdout.getvalue() == f"{answering}{TOKEN_PATH}\n"
    note = sys.stderr.getvalue()  # type: ignore[attr-defined]
    assert note == ("" if not stderr_tty else
                    f"phonos: the link is shown once; anyone with it can see the results until {SHARE['expires_at']}; "
                    f"revoke it with: phonos jobs unshare {FIRST} {SHARE['share_id']}\n"), note
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli.main(["webhooks", "create", HOOK["url"]]) == 0
    assert sys.stdout.getvalue() == f"{HOOK['webhook_id']}\t{SECRET}\n"
    assert ("shown this once" in sys.stderr.getvalue()) is stderr_tty  # type: ignore[attr-defined]
    for overlap, until in (("1h", "2026-12-02T10:00:00.250Z"), ("0", "-")):  # rotate-secret's 4 lines: one, too
        monkeypatch.setattr(sys, "stdout", io.StringIO())
        assert cli.main(["webhooks", "rotate-secret", HOOK["webhook_id"], "--expire-current-after", overlap]) == 0
        assert sys.stdout.getvalue() == f"{HOOK['webhook_id']}\t{SECRET}\t{until}\n"
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert cli.main(["webhooks", "create", HOOK["url"], "--json"]) == 0  # --json: the API's answer, as before
    assert json.loads(sys.stdout.getvalue()) == {"webhook": HOOK, "secret": SECRET}
    monkeypatch.setattr(sys, "stdout", Terminal())
    monkeypatch.setenv("COLUMNS", "120")
    assert cli.main(["webhooks", "create", HOOK["url"]]) == 0  # a terminal: as it was
    assert sys.stdout.getvalue() == f"{HOOK['webhook_id']}\nits signing secret, shown this once:\n{SECRET}\n"


@pytest.mark.parametrize("columns", [60, 80])
def test_the_words_over_a_lost_submissions_command_fit_a_terminal(monkeypatch: pytest.MonkeyPatch,
                                                                  columns: int) -> None:
    """Their first half alone (104 cells) ran past an 80-column edge mid-word, after "interrupted while submitting."
    too; now broken between words. Piped: the one line it was."""
    for said in (cli.SUBMIT_AGAIN, cli.RESUBMIT_AGAIN):
        args = argparse.Namespace(submit_again_said=said)
        monkeypatch.setenv("COLUMNS", str(columns))
        monkeypatch.setattr(sys, "stderr", Terminal())
        lines = cli.submit_again_said(args, "interrupted while submitting. ").splitlines()
        assert all(width(line) < columns for line in lines) and len(lines) > 1, lines
        assert " ".join(lines) == "interrupted while submitting. " + " ".join(said)
        monkeypatch.setattr(sys, "stderr", io.StringIO())
        assert cli.submit_again_said(args) == " ".join(said)
