"""The progress the following verbs (`fold`, `dock`, `jobs watch`) draw on stderr: `-q/--quiet` draws none, as
--json did (a shell habit: `phonos fold x.fasta -q`), and a terminal that cannot move its cursor (TERM=dumb: Emacs'
shell, some CI logs) gets plain lines, not the bars' cursor-up escapes as litter."""

from __future__ import annotations

import argparse
import io

import pytest
from phonos_client import cli

pytestmark = pytest.mark.unit


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def drawn(monkeypatch: pytest.MonkeyPatch, args: argparse.Namespace, term: str) -> str:
    stderr = Terminal()
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.setenv("TERM", term)
    display = cli.display_for(args)
    display.add("j1", "prot1")
    display.update("j1", "running")
    display.update("j1", "completed", note="prot1.pdb")
    display.close()
    return stderr.getvalue()


@pytest.mark.parametrize("argv", [["fold", "MKTAYIAKQ", "-q"], ["dock", "--protein", "p.pdb", "--ligand", "CCO",
                                                                 "--quiet"], ["jobs", "watch", "j1", "-q"]])
def test_quiet_draws_no_progress(monkeypatch: pytest.MonkeyPatch, argv: list[str]) -> None:
    args = cli.build_parser().parse_args(argv)
    assert args.quiet is True
    assert drawn(monkeypatch, args, "xterm-256color") == ""
    args.quiet = False
    assert "prot1" in drawn(monkeypatch, args, "xterm-256color")  # without it, the bars as before


def test_a_dumb_terminal_gets_plain_lines_not_cursor_escapes(monkeypatch: pytest.MonkeyPatch) -> None:
    args = cli.build_parser().parse_args(["fold", "MKTAYIAKQ"])
    assert drawn(monkeypatch, args, "dumb") == "prot1: running\nprot1: completed - prot1.pdb\n"
    assert "\x1b[" in drawn(monkeypatch, args, "xterm-256color")
