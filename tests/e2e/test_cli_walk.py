"""The `phonos` command as a scientist walks it at an 80- and a 60-column terminal: a real process in a
pseudo-terminal of that size (or with stdout piped and stderr still the terminal), against the in-process service
on the inference twin. What the walk found: tables wider than the screen, a refused cursor said in the API's
words, `--json` pages that did not say where the next one starts."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shlex
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from phonos_client import Client

from jobservice.memory_inference import Slow
from tests.support import REPO, InProcessService, wait_until

pytestmark = pytest.mark.e2e

CLIENT_PATH = str(REPO / "clients" / "python")
LONG_NAME = "a rather long protein name for my kinase domain experiment"
SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"
# No saved login, and the addresses that answered are noted here, not in the home of whoever runs the tests.
WALK_CONFIG = str(Path(tempfile.mkdtemp(prefix="phonos-walk-")) / "config.toml")


@dataclass
class Run:
    code: int
    screen: str  # what the terminal got (stderr; stdout too unless piped)
    out: str  # stdout when piped


def phonos(url: str, key: str, *args: str, columns: int = 80, piped: bool = False,
           cwd: Path | None = None) -> Run:
    """`phonos ARGS` with a terminal of `columns` as stdin and stderr, and as stdout unless `piped`."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_") and k not in ("COLUMNS", "LINES")}
    env.update({"PHONOS_URL": url, "PHONOS_API_KEY": key, "PYTHONPATH": CLIENT_PATH, "PHONOS_CONFIG": WALK_CONFIG})
    process = subprocess.Popen([sys.executable, "-m", "phonos_client", *args], env=env, cwd=cwd, stdin=terminal,
                               stdout=subprocess.PIPE if piped else terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    screen, out = b"", b""
    streams = [controller] + ([process.stdout.fileno()] if process.stdout else [])
    deadline = time.monotonic() + 120
    while streams and time.monotonic() < deadline:
        ready, _, _ = select.select(streams, [], [], 0.2)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                streams.remove(fd)
            elif fd == controller:
                screen += chunk
            else:
                out += chunk
        if not ready and process.poll() is not None:
            break
    os.close(controller)
    code = process.wait(30)
    if process.stdout:
        out += process.stdout.read()
        process.stdout.close()
    return Run(code, screen.decode(errors="replace").replace("\r\n", "\n"), out.decode())


def lines_of(screen: str) -> list[str]:
    return [line for line in screen.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def account(twin_service: InProcessService) -> tuple[InProcessService, str, list[str]]:
    """A key with three finished jobs, one of them with a long name; their ids, newest first."""
    key = twin_service.new_key(credits=1000)
    with Client(twin_service.base_url, key) as client:
        ids = [client.wait(client.predict("esmfold", SEQUENCE, name=name).job_id, timeout=60).job_id
               for name in (LONG_NAME, "p2", "p3")]
    return twin_service, key, ids[::-1]


@pytest.mark.parametrize("columns", [80, 60])
def test_tables_fit_the_terminal_and_never_cut_an_id(account: tuple[InProcessService, str, list[str]],
                                                     columns: int) -> None:
    service, key, ids = account
    listed = phonos(service.base_url, key, "jobs", "ls", columns=columns)
    assert listed.code == 0
    rows = lines_of(listed.screen)
    assert all(len(row) < columns for row in rows), rows  # nothing wraps
    if columns == 80:  # room for every column once the name is shortened
        for job_id in ids:
            assert any(row.startswith(job_id) for row in rows), rows  # whole, at the row's start
        named = next(row for row in rows if row.startswith(ids[-1]))
        assert LONG_NAME not in named and "…" in named
    else:  # the ids, model, status and time alone are wider than 60: one line a field, every word kept
        assert [row.removeprefix("JOB ID   ") for row in rows if row.startswith("JOB ID ")] == ids
        name = rows.index(f"JOB ID   {ids[-1]}") + 4
        assert " ".join(row.strip() for row in rows[name:name + 2]) == f"NAME     {LONG_NAME}"
    models = lines_of(phonos(service.base_url, key, "models", columns=columns).screen)
    assert all(len(row) < columns for row in models), models
    # piped, the rows are as they always were: every field whole, tab-separated
    piped = phonos(service.base_url, key, "jobs", "ls", columns=columns, piped=True)
    assert f"{ids[-1]}\tesmfold\tcompleted\t" in piped.out and piped.out.rstrip().endswith(LONG_NAME)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_refused_cursor_is_said_with_the_flag(account: tuple[InProcessService, str, list[str]],
                                                transport: str) -> None:
    service, key, _ = account
    run = phonos(service.url_for(transport), key, "jobs", "ls", "--starting-after", "nope")
    assert run.code == 8
    # stderr a terminal: the refusal broken between words at its edge, not wrapped by it mid-word
    assert all(len(line) < 80 for line in run.screen.splitlines()), run.screen
    said = " ".join(run.screen.split())
    assert '--starting-after "nope" is not the id of one of your jobs' in said
    assert "starting_after" not in said and "without --starting-after" in said
    # piped (a script's log), the one line it always was
    piped = subprocess.run([sys.executable, "-m", "phonos_client", "jobs", "ls", "--starting-after", "nope"],
                           env={**os.environ, "PHONOS_URL": service.url_for(transport), "PHONOS_API_KEY": key,
                                "PYTHONPATH": CLIENT_PATH, "PHONOS_CONFIG": WALK_CONFIG, "COLUMNS": "60"},
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 8 and piped.stderr.count("\n") == 1 and piped.stderr.strip() == said


def test_a_json_page_says_its_next_cursor_on_a_terminals_stderr(
        account: tuple[InProcessService, str, list[str]]) -> None:
    """stdout keeps its shape (the API's answer, for scripts); stderr, a terminal, names the next page's cursor."""
    service, key, ids = account
    run = phonos(service.base_url, key, "jobs", "ls", "--limit", "2", "--json", piped=True)
    assert run.code == 0
    assert [job["job_id"] for job in json.loads(run.out)["jobs"]] == ids[:2]
    # on two lines, the cursor whole on the second (in one, it ran past the edge of 80 columns)
    assert "phonos: 2 of 3: --all for every one; the next page:\n" in run.screen
    assert f"\n  --starting-after {ids[1]}\n" in run.screen
    last = phonos(service.base_url, key, "jobs", "ls", "--starting-after", ids[1], "--json", piped=True)
    assert [job["job_id"] for job in json.loads(last.out)["jobs"]] == ids[2:] and "--starting-after" not in last.screen
    rows = phonos(service.base_url, key, "jobs", "ls", "--limit", "2", piped=True)  # piped rows: the same
    assert [row.split("\t")[0] for row in rows.out.splitlines()] == ids[:2]
    assert f"--starting-after {ids[1]}\n" in rows.screen
    # stderr not a terminal (a script's log): nothing more said there
    quiet = subprocess.run([sys.executable, "-m", "phonos_client", "jobs", "ls", "--limit", "2", "--json"],
                           env={**os.environ, "PHONOS_URL": service.base_url, "PHONOS_API_KEY": key,
                                "PYTHONPATH": CLIENT_PATH, "PHONOS_CONFIG": WALK_CONFIG},
                           capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == "" and len(json.loads(quiet.stdout)["jobs"]) == 2


def test_confirmations_fit_a_60_column_terminal(account: tuple[InProcessService, str, list[str]]) -> None:
    """`jobs rerun`, `jobs cancel` and `jobs share` said one line each, 67 to 166 cells: at 60 columns they wrapped
    mid-id. Now nothing wraps but the share link (a URL is kept whole), and the revoke command pastes as one
    (tests/unit/test_client_cli_lines.py has each line)."""
    service, key, ids = account
    service.settle()
    service.inference.script("esmfold", Slow(60))  # the rerun runs until cancelled
    rerun = phonos(service.base_url, key, "jobs", "rerun", ids[0], columns=60)
    assert rerun.code == 0, rerun.screen
    rows = lines_of(rerun.screen)
    new = rows[0].split()[0]
    assert rows[-1] == f"(the request of {ids[0]})" and all(len(row) < 60 for row in rows), rows
    cancelled = phonos(service.base_url, key, "jobs", "cancel", new, columns=60)
    assert lines_of(cancelled.screen)[0] == f"{new} cancelled", cancelled.screen
    assert all(len(row) < 60 for row in lines_of(cancelled.screen))
    shared = phonos(service.base_url, key, "jobs", "share", ids[0], columns=60)
    link, *note = lines_of(shared.screen)
    assert link.startswith(f"{service.base_url}/shared/") and all(len(row) < 60 for row in note), note
    revoke = shlex.split("\n".join(note[note.index(next(r for r in note if r.startswith("phonos "))):])
                         .replace("\\\n", " "))
    assert revoke[:4] == ["phonos", "jobs", "unshare", ids[0]] and revoke[4].startswith("shr_")  # pasted: one command


def test_the_command_waits_out_a_server_restart(twin_factory: type, tmp_path: Path) -> None:
    """`phonos serve` restarting its job service refuses connections for about 3 s: a command typed then at an
    address that answered the command before waits (saying why, once) and answers when the service is back on the
    same port, instead of failing. (An address that never answered fails at once: tests/unit/
    test_client_first_contact.py.)"""
    first = twin_factory.start(tmp_path / "var")
    key = first.new_key(credits=100)
    ports = {"grpc_port": first.grpc_port, "http_port": first.http_port}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    env.update({"PHONOS_URL": first.base_url, "PHONOS_API_KEY": key, "PYTHONPATH": CLIENT_PATH,
                "PHONOS_CONFIG": str(tmp_path / "config.toml")})
    used = subprocess.run([sys.executable, "-m", "phonos_client", "account"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert used.returncode == 0, used.stderr  # the address has answered this user's command
    first.stop()
    started = time.monotonic()
    command = subprocess.Popen([sys.executable, "-m", "phonos_client", "account", "--json"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Refused for a while (serve's restart: ~3 s). The service comes back once the command has said it is waiting,
    # and not before 1.5 s: after a fixed 1.5 s sleep, a command slow to start on a loaded host could find the
    # service already back, never be refused, and never say it.
    said: list[str] = []

    def read_stderr() -> None:
        for line in command.stderr or ():
            said.append(line)

    reading = threading.Thread(target=read_stderr, daemon=True)
    reading.start()
    wait_until(lambda: any("could not reach the server" in line for line in said) or command.poll() is not None, 60)
    time.sleep(max(0.0, started + 1.5 - time.monotonic()))
    twin_factory.start(tmp_path / "var", **ports)
    command.wait(timeout=60)  # its stderr is the reading thread's (communicate would read it too); stdout is short
    reading.join(10)
    out = command.stdout.read() if command.stdout else ""
    err = "".join(said)
    assert command.returncode == 0, err
    assert json.loads(out)["credits"]["balance"] == 100 and time.monotonic() - started >= 1.5
    assert err.count("could not reach the server") == 1 and "trying again for up to 8 s" in err
