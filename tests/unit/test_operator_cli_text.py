"""What the operator's `phonos` verbs show a lab admin on a terminal: tables that fit its width or become records,
a key in the activity log named once (its id and name), a usage error in one line saying where the help is, every
option showing what it takes, and --help listing every exit status the command uses."""

from __future__ import annotations

import argparse
import ast
import json
import os
import pty
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from phonos_client import cli as client_cli
from phonos_client import errors as client_errors
from phonos_client.columns import width
from phonos_client.pipes import EXIT_CLOSED_PIPE

from launcher import cli, tables
from tests.support import REPO

pytestmark = pytest.mark.unit

LONG_NAME = "ci pipeline for the long-named lab cluster"
NOTE = "lab grant 2026 for the structural genomics work"


@pytest.fixture
def data_dir(operator_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """ada with three keys (one long-named, one expiring), a grant with a long note, and a change made with a key;
    李小龍, whose name takes two cells a character."""
    var = str(tmp_path / "var")
    for argv in (["keys", "create", "--username", "ada", "--email", "ada@example.org", "--credits", "500"],
                 ["keys", "add", "--username", "ada", "--name", LONG_NAME],
                 ["keys", "add", "--username", "ada", "--name", "laptop", "--read-only", "--expires-in-days", "30"],
                 ["credits", "add", "--username", "ada", "--amount", "100", "--note", NOTE],
                 ["keys", "create", "--username", "李小龍", "--credits", "10"]):
        assert cli.main([*argv, "--data-dir", var]) == 0
    capsys.readouterr()
    with sqlite3.connect(tmp_path / "var" / "phonos.sqlite3") as db:  # what POST /v1/keys with ada's "ci" key records
        db.execute("INSERT INTO account_activity (account_id, created_at, action, actor_kind, actor_key_id, "
                   "actor_key_name, client_address, key_id, details) VALUES (1, ?, 'api_key.created', 'api_key', "
                   "'key_5f0c2a9be1d34c07', 'ci', '192.0.2.7', 'key_0123456789abcdef', ?)",
                   (time.time(), json.dumps({"name": "laptop", "scope": "read_only"})))
    return var


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main(list(argv)) == 0
    return capsys.readouterr().out


def test_the_activity_log_names_a_key_by_its_id_and_name_once(data_dir: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """It printed "key key_5f0c…": the id says it is a key. As `phonos account activity` shows it to the account."""
    out = _out(capsys, "accounts", "activity", "--username", "ada", "--data-dir", data_dir)
    newest = out.splitlines()[2]
    assert "key_5f0c2a9be1d34c07 (ci)" in newest and "key key_" not in out, out
    assert newest.split()[3:] == ["api_key.created", "key_5f0c2a9be1d34c07", "(ci)", "192.0.2.7",
                                  "key_0123456789abcdef", "name=laptop", "scope=read_only"]  # details as the account's


VERBS = [["keys", "list", "--username", "ada"], ["accounts", "list"], ["accounts", "activity", "--username", "ada"],
         ["credits", "history", "--username", "ada"], ["accounts", "usage"]]


@pytest.mark.parametrize("columns", [60, 80, 120])
def test_tables_fit_the_terminal_or_become_records(data_dir: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """Each line within the terminal (one cell kept free), an id never cut, a table where it fits: they were fixed
    widths, 150 cells for the keys, wrapping every row on an 80-column terminal."""
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    shown = {verb[0] + " " + verb[1]: _out(capsys, *verb, "--data-dir", data_dir) for verb in VERBS}
    for verb, out in shown.items():
        assert all(width(line) < columns for line in out.splitlines()), (verb, out)
    for key_id in ("key_5f0c2a9be1d34c07", "key_0123456789abcdef"):
        assert key_id in shown["accounts activity"]
    keys = shown["keys list"].splitlines()
    if columns == 120:  # a table: the times short (`12-01 10:09Z`), the long name cut
        assert keys[0].split()[:3] == ["KEY", "ID", "PREFIX"] and len(keys) == 4 and LONG_NAME not in keys[2]
        assert "active until " in shown["keys list"] and " UTC" not in shown["keys list"]
        assert NOTE in shown["credits history"] and " UTC" in shown["credits history"]  # it fits as it is
        assert "李小龍" in shown["accounts list"].splitlines()[-1]
    else:  # records: one field a line, nothing cut
        assert keys[0].startswith("KEY ID ") and any(line.endswith(LONG_NAME) for line in keys)
    if columns == 60:  # the activity log too: its ids alone are too wide
        assert shown["accounts activity"].splitlines()[2].startswith("ACTION  ")


def test_piped_tables_are_whole_whatever_the_terminal(data_dir: str, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    out = _out(capsys, "keys", "list", "--username", "ada", "--data-dir", data_dir)
    assert LONG_NAME in out and " UTC  " in out and out.startswith("KEY ID  ")


def test_a_real_terminal_gets_the_fitted_table(data_dir: str) -> None:
    """The verb in a pty, as a person runs it (COLUMNS as the shell sets it)."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen([sys.executable, "-m", "launcher.cli", "credits", "history", "--username", "ada",
                           "--data-dir", data_dir], stdout=follower, stderr=follower, cwd=REPO, env=env) as child:
        os.close(follower)
        said = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the child is gone (EIO)
                break
            if not chunk:
                break
            said += chunk
        assert child.wait(timeout=60) == 0
    os.close(leader)
    lines = said.decode().replace("\r\n", "\n").splitlines()
    assert lines[1].split() == ["WHEN", "CHANGE", "BALANCE", "KIND", "WHY"]
    assert all(width(line) < 80 for line in lines) and lines[2].endswith("…"), lines


@pytest.mark.parametrize(("argv", "said"), [
    (["keys", "frob"], 'phonos keys: "frob" is not a command; the commands are create, add, list, revoke, update; '
                       "see phonos keys --help\n"),
    (["keys"], "phonos keys: say what to do: create, add, list, revoke, update; see phonos keys --help\n"),
    (["credits", "add", "--username", "ada", "--amount", "x"],
     'phonos credits add: --amount takes a whole number, not "x"; see phonos credits add --help\n'),
    (["accounts", "activity"], "phonos accounts activity: --username missing; see phonos accounts activity --help\n"),
    (["accounts", "list", "--bogus"], "phonos accounts list: unrecognized arguments: --bogus; see phonos accounts list "
                                      "--help\n"),  # it was `phonos: ...; see phonos --help`, the list of verbs
])
def test_a_usage_error_is_one_line_saying_where_the_help_is(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                            said: str) -> None:
    """It was argparse's usage block and `argument keys_command: invalid choice: 'frob' (choose from ...)`."""
    with pytest.raises(SystemExit) as refused:
        cli.main(argv)
    assert refused.value.code == 2 and capsys.readouterr().err == said


def every_parser(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if name in client_cli.OPERATOR_VERBS or path != "phonos":  # the users' verbs: the client's tests
                    yield from every_parser(sub, f"{path} {name}")


def test_every_option_shows_what_it_takes_and_every_help_fits_60_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--username NAME`, `--data-dir DIR`: never argparse's upper-cased destination (`DATA_DIR`, `HTTP_HOST`)."""
    monkeypatch.setenv("COLUMNS", "60")
    parsers = list(every_parser(cli.build_parser(), "phonos"))
    python_names = [f"{path} {action.option_strings[-1]}" for path, parser in parsers for action in parser._actions
                    if action.option_strings and action.nargs != 0 and not action.choices and not action.metavar]
    assert python_names == []
    wide = [f"{path}: {line}" for path, parser in parsers for line in parser.format_help().splitlines()
            if len(line) >= 60 and not (line.strip().startswith("[") and line.strip().endswith("]"))]
    assert wide == []


def _exit_statuses(path: Path, functions: set[str] | None = None) -> set[int]:
    """The integer constants returned by a module's functions (those named, or all): its exit statuses."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef) and (functions is None or node.name in functions):
            found |= {ret.value.value for ret in ast.walk(node) if isinstance(ret, ast.Return)
                      and isinstance(ret.value, ast.Constant) and isinstance(ret.value.value, int)}
    return found


def _status_exit_statuses() -> set[int]:
    """`phonos status`'s (launcher/status.py: EXIT_OPERATIONAL, EXIT_DEGRADED, ...), returned by name, not as numbers."""
    from launcher import status

    return {value for name, value in vars(status).items() if name.startswith("EXIT_")}


def _exit_codes_said(parser: argparse.ArgumentParser) -> str:
    return " ".join(parser.format_help().split()).split("exit codes:")[1].replace(";", " ").replace(",", " ")


def test_help_lists_every_exit_status_the_command_uses() -> None:
    used = (_exit_statuses(REPO / "launcher" / "cli.py") | _exit_statuses(REPO / "launcher" / "serve.py", {"serve"})
            | set(cli.EXIT.values()) | {EXIT_CLOSED_PIPE} | _status_exit_statuses()
            | {int(kind.exit_code) for kind in vars(client_errors).values()  # the users' verbs, run from here too
               if isinstance(kind, type) and issubclass(kind, client_errors.PhonosError)})
    assert {1, 2, 141} <= used
    said = _exit_codes_said(cli.build_parser())
    assert [code for code in sorted(used) if f" {code} " not in said] == [], said


def test_status_help_lists_its_exit_statuses() -> None:
    """`phonos status --help` listed none, though a monitor branches on them: 0 operational, 1 degraded, 7 nothing
    answers, 9 a gateway without its job service (and 2, 130, 141 as every verb)."""
    status = dict(every_parser(cli.build_parser(), "phonos"))["phonos status"]
    said = _exit_codes_said(status)
    used = _status_exit_statuses() | {cli.EXIT["usage"], cli.EXIT["interrupted"], EXIT_CLOSED_PIPE}
    assert {0, 1, 7, 9} <= used
    assert [code for code in sorted(used) if f" {code} " not in said] == [], said
    assert " 0 operational " in said and " 1 degraded " in said, said


def test_a_data_directory_that_is_a_file_is_said_so(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """It was `[Errno 17] File exists` (keys create) or "no phonos database in" (the other verbs)."""
    (tmp_path / "phonos.db").write_text("")
    for argv in (["keys", "create", "--username", "ada"], ["accounts", "list"], ["serve"]):
        assert cli.main([*argv, "--data-dir", str(tmp_path / "phonos.db")]) == 2
        assert capsys.readouterr().err == (f"error: cannot use the data directory {tmp_path / 'phonos.db'}: it is a "
                                           "file, not a directory (check --data-dir or PHONOS_DATA_DIR)\n")


def test_weights_fetch_says_what_it_cannot_use_in_one_line(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Both were tracebacks: requests' MissingSchema for a mirror without http://, NotADirectoryError for a --dir
    that is a file. Neither reaches the network."""
    with pytest.raises(SystemExit) as refused:
        cli.main(["weights", "fetch", "esmfold", "--mirror", "mirror.lab", "--dir", str(tmp_path)])
    assert refused.value.code == 2 and capsys.readouterr().err == (
        'phonos weights fetch: --mirror: not an http:// or https:// URL: "mirror.lab"; see phonos weights fetch '
        "--help\n")
    (tmp_path / "weights").write_text("")
    assert cli.main(["weights", "fetch", "esmfold", "--dir", str(tmp_path / "weights")]) == 1
    assert capsys.readouterr().err == (f"error: cannot write the weights under {tmp_path / 'weights'}: Not a directory "
                                       f"({tmp_path / 'weights' / 'esmfold_v1'})\n")


@pytest.mark.parametrize(("stop", "status", "said"), [(KeyboardInterrupt, 130, "\ninterrupted\n"),
                                                      (EOFError, 2, "\nerror: no password given: nothing was changed\n")])
def test_a_password_prompt_left_with_ctrl_c_or_ctrl_d_ends_in_a_line(data_dir: str, capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    stop: type[BaseException], status: int,
                                                                    said: str) -> None:
    """Ctrl-C at `New dashboard password:` was a traceback from getpass."""
    def prompt(text: str) -> str:
        raise stop

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("getpass.getpass", prompt)
    assert cli.main(["users", "set-password", "--username", "ada", "--data-dir", data_dir]) == status
    assert capsys.readouterr().err == said


def test_backup_json_writes_its_time_as_every_other_json_does(data_dir: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """RFC 3339 (`keys list --json`, the API); `snapshot_at` was epoch seconds, the one exception."""
    out = _out(capsys, "backup", str(tmp_path / "copy"), "--json", "--data-dir", data_dir)
    snapshot_at = json.loads(out)["snapshot_at"]
    assert isinstance(snapshot_at, str) and snapshot_at.endswith("Z")
    assert abs(datetime.fromisoformat(snapshot_at.replace("Z", "+00:00")).timestamp() - time.time()) < 60


def test_db_build_refuses_in_the_commands_words(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """It was `build_db: no FASTA records found`, the module's name rather than the command's `error:`."""
    (tmp_path / "empty.fasta").write_text("")
    assert cli.main(["db", "build", str(tmp_path / "empty.fasta"), str(tmp_path / "db")]) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"error: cannot build the uniref90 database from {tmp_path / 'empty.fasta'}: ")
    assert said.count("\n") == 1


def test_a_page_that_is_not_the_last_says_the_next_on_a_terminal(data_dir: str, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    page = ["--limit", "2", "--data-dir", data_dir]
    piped = _out(capsys, "credits", "history", "--username", "ada", *page)
    assert "--offset" not in piped  # a program reading it gets the table alone
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert _out(capsys, "accounts", "activity", "--username", "ada", *page).endswith("(the next page: --offset 2)\n")
    last = _out(capsys, "credits", "history", "--username", "ada", "--offset", "1", *page)  # 1 of 2: the last page
    assert "--offset" not in last and "opening balance" in last


def _one_line_answers(data_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """What the changing verbs say (stdout and stderr together), one verb an entry."""
    said: dict[str, str] = {}

    def run(name: str, *argv: str) -> None:
        assert cli.main([*argv, "--data-dir", data_dir]) == 0, name
        both = capsys.readouterr()
        said[name] = both.out + both.err

    run("keys add", "keys", "add", "--username", "ada", "--name", "cluster", "--read-only", "--expires-in-days", "30")
    keys = json.loads(_out(capsys, "keys", "list", "--username", "ada", "--json", "--data-dir", data_dir))["keys"]
    key_id = next(k["key_id"] for k in keys if k["name"] == "cluster" and not k["revoked"])
    run("keys update", "keys", "update", key_id, "--rate-limit", "30", "--expires-in-days", "60")
    run("keys revoke", "keys", "revoke", key_id)
    run("credits add", "credits", "add", "--username", "ada", "--amount", "250")
    run("credits history", "credits", "history", "--username", "ada", "--limit", "1")
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("a long enough password\n"))
    run("users set-password", "users", "set-password", "--username", "ada", "--password-stdin")
    run("backup", "backup", str(tmp_path / "backup"))
    return said


def test_one_line_answers_fit_a_narrow_terminal_piped_they_are_one_line(data_dir: str, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`revoked key_… (pk_…...): requests made with it are refused from now on` took 90 cells: a 60-column terminal
    cut it mid-word. On a terminal each line is within it, broken between parts (the id and prefix whole, the
    restore command in lines that paste as one); piped each answer is the one line it always was."""
    monkeypatch.setenv("COLUMNS", "60")
    piped = _one_line_answers(data_dir, tmp_path / "piped", capsys, monkeypatch)
    assert re.fullmatch(r"revoked key_\w+ \(pk_\S+\.\.\.\): requests made with it are refused from now on\n",
                        piped["keys revoke"]), piped
    assert re.fullmatch(r"password set for \"ada\"; their open dashboard sessions were signed out\n",
                        piped["users set-password"])
    # `phonos`, or the `phonos` beside this Python where PATH has none (launcher.banner.operator_program)
    assert re.search(r"\n  to restore, start from it: (\S+/)?phonos serve --data-dir /\S+/backup\n$", piped["backup"])
    assert any(width(line) >= 60 for answer in piped.values() for line in answer.splitlines())

    for stream in (sys.stdout, sys.stderr):
        monkeypatch.setattr(stream, "isatty", lambda: True)
    shown = _one_line_answers(data_dir, tmp_path / "shown", capsys, monkeypatch)
    # Only a path longer than the line (pytest's tmp_path is) may pass the edge, on its own line: never cut.
    wide = [(verb, line) for verb, answer in shown.items() for line in answer.splitlines()
            if width(line) >= 60 and str(tmp_path) not in line]
    assert wide == [], shown
    assert "\n  to " + str(tmp_path / "shown" / "backup") in shown["backup"]
    revoked = shown["keys revoke"].splitlines()
    assert re.fullmatch(r"revoked key_\w{16} \(pk_\S+\.\.\.\):", revoked[0]) and len(revoked) == 2, revoked
    assert revoked[1] == "  requests made with it are refused from now on"
    assert " UTC," in shown["keys add"] and "(key key_" in shown["keys add"]
    restore = shown["backup"].splitlines()[-3:]
    assert restore[0] == "  to restore, start from it:" and restore[1].endswith(" \\"), restore
    assert restore[2].strip().startswith("'/") or re.match(r"(\S+/)?phonos serve", restore[1].strip()), restore
    def words(text: str) -> list[str]:  # the words, its ids, keys, times and sizes (one run's own) as a token
        return re.sub(r"(pk|key)_[\w-]+|\d+[\d:.-]*|piped|shown|\\|'", "*", text).split()
    same = ("keys add", "keys update", "keys revoke", "credits add", "users set-password")  # (no table, no paths)
    assert [words(shown[verb]) for verb in same] == [words(piped[verb]) for verb in same]


def _tty(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    for stream in (sys.stdout, sys.stderr):
        monkeypatch.setattr(stream, "isatty", lambda: True)


def test_an_error_line_fits_a_narrow_terminal_its_command_whole(data_dir: str, capsys: pytest.CaptureFixture[str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """`keys create` for a taken username pointed at `keys add` in one 190-cell `error:` line, which a 60-column
    terminal cut mid-word (the command too). On a terminal: within it, broken between words, the command and the
    backquoted verb whole; piped: the one line it always was."""
    argv = ["keys", "create", "--username", "ada", "--data-dir", data_dir]
    assert cli.main(argv) == 2
    piped = capsys.readouterr().err
    assert piped.count("\n") == 1 and piped.startswith("error: ") and width(piped) > 100
    assert piped.endswith('(`keys create` makes a new account with its first key; another key for an existing '
                          'account: phonos keys add --username "ada")\n'), piped
    _tty(monkeypatch, 60)
    assert cli.main(argv) == 2
    shown = capsys.readouterr().err
    lines = shown.splitlines()
    assert len(lines) > 1 and all(width(line) < 60 for line in lines), shown
    assert lines[-1].strip() == 'phonos keys add --username "ada")' and "(`keys create` makes" in shown
    assert " ".join(line.strip() for line in lines) == piped.strip()  # the same words, only broken


def test_weights_list_and_db_build_fit_a_narrow_terminal(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`weights list`'s file lines (URL, size, checksum: ~200 cells) wrapped mid-digest on a terminal; there each
    part is whole on its own line, and piped the two-space columns are as they were."""
    from launcher.weights_table import WEIGHT_SETS

    piped = _out(capsys, "weights", "list").splitlines()
    first = next(iter(WEIGHT_SETS.values()))
    item = first.files[1]
    assert f"  {item.url}  {item.approx_size}  sha256 {item.sha256}" in piped
    _tty(monkeypatch, 60)
    shown = _out(capsys, "weights", "list").splitlines()
    assert f"  {item.url}" in shown and f"    {item.approx_size}" in shown and f"    sha256 {item.sha256}" in shown
    assert all(width(line) < 60 or line.strip().startswith(("https://", "sha256 ")) for line in shown), shown

    (tmp_path / "seqs.fasta").write_text(">a\nMKTAYIAKQRQISFVKSHFSRQ\n>b\nMKVLAAGIVALLLAAGCSSS\n")
    out = _out(capsys, "db", "build", str(tmp_path / "seqs.fasta"), str(tmp_path / "db")).splitlines()
    assert out[0] == f"wrote {tmp_path / 'db' / 'uniref90.fasta'}" or out[0].startswith(f"wrote {tmp_path}"), out
    assert all(width(line) < 60 for line in out[1:-1]) and out[-1].startswith("PHONOS_"), out


def test_an_empty_list_says_so_rather_than_a_header_without_rows(data_dir: str, capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """`accounts activity` of an account with none printed `grace: 0 of 0 entries, newest first` over a table
    header with no rows; a page past the end did the same. --json is what it was."""
    assert cli.main(["keys", "create", "--username", "grace", "--data-dir", data_dir]) == 0
    with sqlite3.connect(Path(data_dir) / "phonos.sqlite3") as db:  # whatever creating the account recorded
        db.execute("DELETE FROM account_activity WHERE account_id = "
                   "(SELECT id FROM accounts WHERE username = 'grace')")
    capsys.readouterr()
    activity = ["accounts", "activity", "--username", "grace", "--data-dir", data_dir]
    assert _out(capsys, *activity) == "grace: no activity recorded\n"
    assert _out(capsys, *activity, "--action", "api_key.created") == "grace: no api_key.created activity recorded\n"
    assert json.loads(_out(capsys, *activity, "--json")) == {"username": "grace", "total": 0, "entries": []}
    past = _out(capsys, "credits", "history", "--username", "ada", "--offset", "99", "--data-dir", data_dir)
    assert re.fullmatch(r"ada: \d+ credits; no entries from --offset 99; there are \d+\n", past), past
    past = _out(capsys, "accounts", "activity", "--username", "ada", "--offset", "99", "--data-dir", data_dir)
    assert re.fullmatch(r"ada: no entries from --offset 99; there are \d+\n", past), past


def test_a_usage_error_fits_a_narrow_terminal_broken_between_words(capsys: pytest.CaptureFixture[str],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`phonos keys: "frob" is not a command; the commands are create, ...` ran to 100 cells: a 60-column terminal
    cut it mid-word, where every other error of these verbs is broken between words (`said_error`)."""
    with pytest.raises(SystemExit):
        cli.main(["keys", "frob"])
    piped = capsys.readouterr().err
    _tty(monkeypatch, 60)
    with pytest.raises(SystemExit) as refused:
        cli.main(["keys", "frob"])
    shown = capsys.readouterr().err
    lines = shown.splitlines()
    assert refused.value.code == 2 and len(lines) == 2 and all(width(line) < 60 for line in lines), shown
    assert lines[-1].endswith("see phonos keys --help")  # the command to type stays whole
    assert " ".join(line.strip() for line in lines) == piped.strip()  # the same words, only broken


@pytest.mark.parametrize(("argv", "said"), [
    (["accounts", "--data-dir", "var"],
     "phonos accounts: say what to do before the options: list, activity, update, lock, usage; see phonos accounts "
     "--help\n"),
    (["credits", "--data-dir", "var", "history", "--username", "ada"],
     "phonos credits: say what to do before the options: add, history (phonos credits history --data-dir var "
     "--username ada); see phonos credits --help\n"),
])
def test_an_option_before_the_command_is_said_as_such(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                      said: str) -> None:
    """It was `phonos accounts: "var" is not a command`: argparse took the option's value for the command."""
    with pytest.raises(SystemExit) as refused:
        cli.main(argv)
    assert refused.value.code == 2 and capsys.readouterr().err == said


def test_backup_says_small_sizes_in_the_unit_that_shows_them(data_dir: str, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A small lab's backup said `12 copied (0.0 MB)`, which read as nothing copied."""
    out = _out(capsys, "backup", str(tmp_path / "copy"), "--data-dir", data_dir)
    assert re.search(r"\d+ jobs, \d+\.\d kB\n", out) and "0.0 MB" not in out, out
    assert [tables.size(n) for n in (0, 999, 1000, 1_234_567, 3 * 10**9, 5 * 10**12)] == [
        "0 B", "999 B", "1.0 kB", "1.2 MB", "3.0 GB", "5000.0 GB"]
