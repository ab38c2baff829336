"""What the `phonos` command shows a person: every option explained in --help, and tables whose columns line up
whatever the names hold (wide CJK text, combining marks, control characters)."""

from __future__ import annotations

import argparse
import importlib
import io
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from phonos_client import Client, WebhookSignatureError, verify_webhook
from phonos_client import cli as client_cli
from phonos_client.columns import fit, table, visible, width
from phonos_client.display import Display
from phonos_client.models import WebhookDelivery

from launcher import cli as server_cli
from tests.support import REPO

pytestmark = pytest.mark.unit


def options_without_help(parser: argparse.ArgumentParser, path: str) -> Iterator[str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from options_without_help(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction) and (not action.help or action.help == argparse.SUPPRESS):
            yield f"{path}: {'/'.join(action.option_strings) or action.dest}"


@pytest.mark.parametrize("build", [client_cli.build_parser, server_cli.build_parser], ids=["client", "server"])
def test_every_option_and_argument_of_every_command_has_a_help_line(build: object) -> None:
    """The client's `phonos` and the server install's (operator verbs, and the users' verbs again)."""
    parser = build()  # type: ignore[operator]
    assert list(options_without_help(parser, "phonos")) == []
    fold = parser._subparsers._group_actions[0].choices["fold"]  # type: ignore[union-attr]
    assert "the predictor: esmfold" in fold.format_help()  # `phonos fold --help` says what --model picks


def option_metavars(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from option_metavars(sub, f"{path} {name}")
        elif action.option_strings and action.nargs != 0 and not action.choices:
            yield f"{path} {action.option_strings[-1]}", str(action.metavar or f"<{action.dest.upper()}>")


def test_options_show_what_they_take_not_their_python_names() -> None:
    """`--samples N`, `--protein PDB|JOB_ID`: never argparse's upper-cased destination (`SAMPLES_PER_COMPLEX`)."""
    shown = dict(option_metavars(client_cli.build_parser(), "phonos"))
    assert [f"{option} {metavar}" for option, metavar in shown.items() if metavar.startswith("<") and "_" in metavar] \
        == []  # <...>: argparse's own
    assert (shown["phonos dock --samples"], shown["phonos dock --protein"], shown["phonos jobs ls --limit"]) == (
        "N", "PDB|JOB_ID", "N")


def test_a_table_lines_up_wide_and_combining_text() -> None:
    rows = [("j1", "タンパク質", "completed"), ("j22", "cafe\u0301 ok", "failed"), ("j3", "plain", "pending")]
    lines = table(("JOB ID", "NAME", "STATUS"), rows).splitlines()
    assert lines[0] == "JOB ID  NAME        STATUS"
    status_at = {width(line[:line.index(status)]) for line, status in zip(lines[1:], ("completed", "failed", "pending"),
                                                                             strict=True)}
    assert status_at == {width("JOB ID  NAME        ")}  # every STATUS cell starts in the same terminal column
    assert lines[1] == "j1      タンパク質  completed"  # 5 wide characters: 10 cells


def test_number_columns_are_right_aligned_header_included_and_their_units_follow() -> None:
    rows = [("grant", "+1000", "1000", "1 attempt"), ("charge", "-10", "990", "12 attempts"), ("x", "-", "5", "-")]
    lines = table(("WHY", "CHANGE", "BALANCE", "TRIES"), rows, numbers={"CHANGE", "BALANCE", "TRIES"}).splitlines()
    assert lines == ["WHY     CHANGE  BALANCE        TRIES",
                     "grant    +1000     1000   1 attempt",
                     "charge     -10      990  12 attempts",
                     "x            -        5            -"]
    assert table(("A", "B"), [("1", "22")]).splitlines() == ["A  B", "1  22"]  # no number columns: as before


def test_control_characters_in_a_name_are_shown_not_sent_to_the_terminal() -> None:
    assert visible("a\nb\x1b[2Jc\td") == "a?b?[2Jc?d"
    assert table(("ID", "NAME"), [("1", "two\nlines")]).splitlines() == ["ID  NAME", "1   two?lines"]
    assert fit("タンパク質", 6) == "タン… " and width(fit("タンパク質", 6)) == 6  # cut by cells, padded to exactly 6


def test_a_progress_row_with_a_wide_name_keeps_its_bar_in_line() -> None:
    screen = io.StringIO()
    display = Display(screen, tty=True)
    display.add("j1", "タンパク質の折りたたみ", "pending")
    display.add("j2", "plain", "pending")
    rows = [line.removeprefix("\x1b[2K") for line in screen.getvalue().split("\x1b[1F")[-1].splitlines()]
    assert [width(row[:row.index("[")]) for row in rows] == [25, 25]  # the label's 24 cells and a space


def test_a_missing_verb_is_named_by_its_choices_and_the_version_is_printed(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = client_cli.build_parser()
    with pytest.raises(SystemExit) as missing:
        parser.parse_args(["jobs"])
    assert missing.value.code == 2
    said = capsys.readouterr().err
    verbs = "ls, show, watch, download, cancel, rerun, rm, share, shares, unshare"
    # one line, as every error of the command (it was the usage block, then argparse's `required: {ls,show,...}`)
    assert said == f"phonos jobs: say what to do: {verbs}; see phonos jobs --help\n" and "jobs_command" not in said
    usage = client_cli.build_parser()._subparsers._group_actions[0].choices["jobs"].format_usage()  # type: ignore[union-attr]
    assert usage == "usage: phonos jobs [-h] COMMAND ...\n"  # the verbs listed under it in --help, each explained
    for argv, line in [(["frob"], '"frob" is not a command; the commands are login, fold, dock, jobs'),
                       (["jobs", "ls", "--status", "bogus"], 'phonos jobs ls: --status "bogus" is not one of pending, '),
                       (["jobs", "ls", "--limit", "x"], 'phonos jobs ls: --limit takes a whole number, not "x"; see '),
                       (["dock", "--ligand", "C"], "phonos dock: --protein missing; see phonos dock --help")]:
        with pytest.raises(SystemExit) as refused:
            parser.parse_args(argv)
        said = capsys.readouterr().err
        assert refused.value.code == 2 and line in said and said.count("\n") == 1, said
    with pytest.raises(SystemExit):
        parser.parse_args(["--version"])
    assert capsys.readouterr().out.startswith("phonos-client ")
    # an argument the verb does not take points at that verb's help (it was the top level's, which lists verbs)
    with pytest.raises(SystemExit) as unknown:
        client_cli.main(["jobs", "ls", "--bogus"])
    said = capsys.readouterr().err
    assert unknown.value.code == 2 and said == "phonos jobs ls: unrecognized arguments: --bogus; see phonos jobs ls --help\n", said


def test_the_phonos_command_of_either_install_prints_the_same_version(capsys: pytest.CaptureFixture[str]) -> None:
    """Both packages install a `phonos` console script (pyproject.toml, clients/python/pyproject.toml); whichever
    a user's `phonos` is, `phonos --version` answers, with the client's version."""
    from phonos_client import __version__

    answers = []
    for pyproject in (REPO / "pyproject.toml", REPO / "clients" / "python" / "pyproject.toml"):
        target = tomllib.loads(pyproject.read_text())["project"]["scripts"]["phonos"]
        module, _, function = target.partition(":")
        with pytest.raises(SystemExit) as done:
            getattr(importlib.import_module(module), function)(["--version"])
        assert done.value.code == 0, target
        answers.append(capsys.readouterr().out)
    assert answers == [f"phonos-client {__version__}\n"] * 2


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_folds_outcome_table_names_the_column_that_holds_files_or_the_error(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    outcomes = [client_cli.Outcome("ok", "j1", "completed", files=["ok.pdb"]),
                client_cli.Outcome("bad", None, "rejected", error="invalid residue 'X'", refused_exit=8)]
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    assert client_cli.report(outcomes, as_json=False) == 8
    assert screen.getvalue().splitlines() == ["NAME  JOB ID  STATUS     FILES / ERROR",
                                              "ok    j1      completed  ok.pdb",
                                              "bad   -       rejected   invalid residue 'X'"]
    monkeypatch.undo()
    client_cli.report(outcomes, as_json=False)  # piped: the rows alone, as before
    assert capsys.readouterr().out == "ok\tj1\tcompleted\tok.pdb\nbad\t-\trejected\tinvalid residue 'X'\n"


def test_a_pending_deliverys_next_try_is_in_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    common = {"event": "job.completed", "created_at": "2026-11-30T19:00:00Z", "job_id": "j1", "payload": {}}
    pending = WebhookDelivery.from_dict({**common, "delivery_id": "2", "status": "pending", "attempts": 1,
                                         "last_status_code": 500, "next_attempt_at": "2026-11-30T19:02:00Z"})
    delivered = WebhookDelivery.from_dict({**common, "delivery_id": "1", "status": "delivered", "attempts": 1,
                                           "last_status_code": 200})
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    rows = [client_cli.delivery_row(d) for d in (pending, delivered)]
    client_cli.listing(argparse.Namespace(json=False), [], client_cli.DELIVERY_HEADER, rows, "no deliveries")
    cells = [[cell.strip() for cell in re.split(r"  +", line)] for line in screen.getvalue().splitlines()]
    assert [row[-4:] for row in cells] == [["STATUS", "TRIES", "ANSWER", "NEXT TRY"],
                                           ["pending", "1 attempt", "HTTP 500", "2026-11-30T19:02:00Z"],
                                           ["delivered", "1 attempt", "HTTP 200", "-"]]


@pytest.mark.parametrize("server", [True, False], ids=["with-server", "client-alone"])
def test_help_says_whether_the_operator_verbs_can_run_here(monkeypatch: pytest.MonkeyPatch, server: bool) -> None:
    if not server:  # the client installed alone: no `launcher` package to find
        monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    said = " ".join(client_cli.build_parser().format_help().split())
    assert ("operator's verb: `phonos serve --help`" in said) is server
    assert ("(needs the phonos server install) phonos serve ..." in said) is not server
    assert "(server install)" not in said


def every_parser(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if sub.add_help:  # the operator's verbs are listed only: their help is the server package's
                    yield from every_parser(sub, f"{path} {name}")


def test_every_help_fits_a_60_column_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """The verbs' and the choices' lists in braces (`{login,fold,...,backup}`, `{pending,running,...}`) ran past a
    60-column terminal: verbs are COMMAND, listed under it, and choices are named in their option's help. What is
    left wider is argparse's own indent of one option in a long verb's usage line, never cut."""
    monkeypatch.setenv("COLUMNS", "60")
    wide = [f"{path}: {line}" for path, parser in every_parser(client_cli.build_parser(), "phonos")
            for line in parser.format_help().splitlines()
            if len(line) >= 60 and not (line.strip().startswith("[") and line.strip().endswith("]"))]
    assert wide == []


def test_phonos_help_lists_every_exit_code_the_command_uses() -> None:
    from phonos_client import errors

    used = {0, 1, 2, 130, 141} | {kind.exit_code for kind in vars(errors).values()
                                  if isinstance(kind, type) and issubclass(kind, errors.PhonosError)}
    said = " ".join(client_cli.build_parser().format_help().split())
    assert all(f" {code} " in said.split("exit codes:")[1].replace(";", " ") for code in used), said
    # `phonos status`, which this `phonos` lists (and runs where the server is installed): its 9 was not there,
    # nor that 1 is degraded for it.
    from launcher import status

    codes = said.split("exit codes:")[1].split("`status`")[1].replace(",", " ")
    assert all(f" {code} " in f"{codes} " for code in (status.EXIT_DEGRADED, status.EXIT_UNREACHABLE,
                                                      status.EXIT_NO_JOB_SERVICE)), codes
    assert f" {status.EXIT_DEGRADED} degraded" in codes, codes


def test_every_not_found_the_server_says_reads_not_found_once() -> None:
    """Each 404 message the gateway and the job service write (`Webhook {id} not found`, `Delivery {id} of webhook
    {id} not found`, ...) as the command says it: `not found: webhook wh_x`, once (it was `Not found: Webhook wh_x
    not found`, whichever verb met it)."""
    said = re.compile(r"""f?["']((?:[A-Z][\w ]*?(?:\{[^}]*\}[\w ]*?)*) not found)["']""")
    messages = {m[1] for folder in ("gateway", "jobservice") for path in (REPO / folder).rglob("*.py")
                for m in said.finditer(path.read_text())}
    assert {"Webhook {echoed_id(webhook_id)} not found", "Job {echoed_id(job_id)} not found"} <= messages
    for message in messages:
        line = client_cli.error_words("Not found", re.sub(r"\{[^}]*\}", "x_1", message))
        assert line.startswith("not found") and line.lower().count("not found") == 1, (message, line)
    assert client_cli.error_words("Not found", "Webhook wh_x not found") == "not found: webhook wh_x"


# Values the command repeats in its messages are quoted one way, JSON's ("-1"): argparse's own refusals are said so
# (`--status "bogus" is not one of ...`, `--limit takes a whole number, not "x"`: usage_words turns its 'x' into
# "x"), and so are the command's (inputs.quoted). `--expire-current-after -1` said '-1', Python's repr.
REFUSED = [["webhooks", "rotate-secret", "wh_x", "--expire-current-after", "-1"],
           ["webhooks", "rotate-secret", "wh_x", "--expire-current-after", "a while"],
           ["jobs", "ls", "--since", "5"], ["jobs", "ls", "--limit", "x"], ["jobs", "ls", "--status", "bogus"],
           ["frob"], ["fold", "MKV", "--param", "x"], ["fold", "MKV", "--formats", "pbd"],
           ["dock", "--protein", "a b", "--ligand", "C"], ["usage", "--days", "1.5"],
           ["jobs", "share", "j", "--expires-in-days", "x"], ["webhooks", "create", "u", "--event", "x"]]
PYTHON_QUOTED = re.compile(r"(?<![\w'])'[^'\s][^']*'(?![\w'])")  # 'x' around a value; not an apostrophe (job's)


@pytest.mark.parametrize("argv", REFUSED, ids=[" ".join(argv) for argv in REFUSED])
def test_a_refused_value_is_quoted_as_json_quotes_it(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    monkeypatch.setenv("PHONOS_URL", "http://127.0.0.1:9")  # refused before any request: nothing is sent there
    monkeypatch.setenv("PHONOS_API_KEY", "pk_test")
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    try:
        code = client_cli.main(argv)
    except SystemExit as exited:
        code = int(exited.code or 0)
    said = capsys.readouterr().err
    assert code == 2 and said.count("\n") == 1, said
    assert '"' in said and not PYTHON_QUOTED.search(said), said


def test_the_commands_messages_repeat_no_value_in_pythons_quotes() -> None:
    """The source of the command's and the SDK's messages: no `{value!r}` (Python's 'x'); `quoted(value)` or
    json.dumps. The SDK's too (Client(transport=...), verify_webhook's): a script shows them to a person as the
    command's are."""
    client = REPO / "clients" / "python" / "phonos_client"
    found = [f"{path.name}: {line.strip()}" for path in sorted(client.glob("*.py"))
             for line in path.read_text().splitlines() if re.search(r"![ra]\}", line)]
    assert found == []


def test_the_sdks_messages_say_a_value_in_json_quotes() -> None:
    """`Client(transport="http")` said `transport must be 'rest' or 'grpc', got 'http'`; verify_webhook's refusals of
    a malformed header said it in Python's quotes too: now JSON's, as the command's messages."""
    with pytest.raises(ValueError) as refused:
        Client("http://127.0.0.1:9", "pk_test", transport="http")  # type: ignore[arg-type]
    assert str(refused.value) == 'transport must be "rest" or "grpc", got "http"'
    for header, delivery_id, said in [("v1=ab'c", None, '"v1=ab\'c"'), ("t=1,v1=ab", "it's", '"it\'s"'),
                                      ("t=1,v2=ab", None, '"t=1,v2=ab"')]:
        with pytest.raises(WebhookSignatureError) as bad:
            if delivery_id is None:
                verify_webhook("{}", header, "whsec_x")
            else:
                verify_webhook("{}", header, "whsec_x", delivery_id=delivery_id)
        assert str(bad.value).endswith(f": {said}") and not PYTHON_QUOTED.search(str(bad.value)), bad.value


def test_dock_help_says_how_its_result_files_are_named_without_a_name_flag_it_lacks() -> None:
    # `phonos dock --help` said the files were "named as --name says", and dock has no --name.
    verbs = client_cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    dock, fold = (" ".join(verbs[verb].format_help().split()) for verb in ("dock", "fold"))
    assert "--name says" not in dock and "after each ligand's name in --ligands" in dock
    assert "--name says" in fold


def test_login_help_says_where_the_key_is_stored_and_how_to_choose_the_file() -> None:
    # A newcomer found PHONOS_CONFIG nowhere but a module's docstring: login's help said nothing of the file.
    verbs = client_cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    login = " ".join(verbs["login"].format_help().split())
    assert "$PHONOS_CONFIG" in login and "~/.config/phonos/config.toml" in login and "PHONOS_API_KEY" in login
