"""The one routine both `phonos` commands (the users' in phonos_client, the operator's in launcher/) break a message
into terminal lines with, `phonos_client.columns.message_in_lines`: between words, never inside an id, a URL, a path,
a `backticked` or "quoted" span, nor a command with its flags and their values; piped, the one line as it is. They
had a routine each, whose rules differed: the client's broke `(`keys create`` and `"Ada Lovelace"`, the operator's
glued `phonos at http://...:` into one piece (it took every word after `phonos` to the clause's end) and let a
command longer than a line run past the edge, where the terminal cut it mid-word."""

from __future__ import annotations

import pytest
from phonos_client.columns import message_in_lines, pieces_in_lines, width

from launcher import tables

pytestmark = pytest.mark.unit

ID = "fcdf4066-a637-4328-b42a-5bfec7c767d5"
WIDE = "phonos: job 折りたたみ実験の結果 failed: 結果は保存されませんでした; see phonos jobs ls --status failed"
COMMANDS = frozenset({"jobs", "ls", "show", "webhooks", "rotate-secret", "login", "keys", "add", "users",
                      "set-password"})
HINT = '  sign in as "admin" (forgot the password? `phonos users set-password --username admin --data-dir /srv/var`)'

# (message, columns of the terminal, the lines): a line takes at most columns - 1 cells (the last one is kept free).
TABLE = [
    ("phonos: job failed; its webhooks were told: see them with phonos webhooks ls --all --json", 40,
     ["phonos: job failed; its webhooks were", "  told: see them with", "  phonos webhooks ls --all --json"]),
    ("phonos: job failed; its webhooks were told: see them with phonos webhooks ls --all --json", 60,
     ["phonos: job failed; its webhooks were told: see them with", "  phonos webhooks ls --all --json"]),
    ("phonos: nothing answers at http://127.0.0.1:9 (connection refused); run phonos login --url http://HOST:PORT",
     40, ["phonos: nothing answers at", "  http://127.0.0.1:9 (connection", "  refused); run",
          "  phonos login --url http://HOST:PORT"]),
    ("phonos: nothing answers at http://127.0.0.1:9 (connection refused); run phonos login --url http://HOST:PORT",
     80, ["phonos: nothing answers at http://127.0.0.1:9 (connection refused); run",
          "  phonos login --url http://HOST:PORT"]),
    # A command longer than the line: broken after its verbs and between flags, each with its value; ids whole.
    (f"phonos: job {ID} failed: see phonos jobs show {ID} --json", 60,
     [f"phonos: job {ID} failed:", f"  see phonos jobs show {ID}", "  --json"]),
    (f"phonos: job {ID} failed: see phonos jobs show {ID} --json", 80,
     [f"phonos: job {ID} failed: see", f"  phonos jobs show {ID} --json"]),
    (f"phonos: see phonos webhooks rotate-secret {ID} --expire-current-after 9d", 40,
     ["phonos: see", "  phonos webhooks rotate-secret", f"  {ID}", "  --expire-current-after 9d"]),
    (f"phonos: see phonos webhooks rotate-secret {ID} --expire-current-after 9d", 80,
     [f"phonos: see phonos webhooks rotate-secret {ID}", "  --expire-current-after 9d"]),
    # A backticked command after "(", and a flag's "quoted" value, each whole (the client broke both).
    ('error: (`keys create` makes a new account; another key for it: phonos keys add --username "Ada Lovelace")', 40,
     ["error: (`keys create` makes a new", "  account; another key for it:", "  phonos keys add",
      '  --username "Ada Lovelace")']),
    ('error: (`keys create` makes a new account; another key for it: phonos keys add --username "Ada Lovelace")', 80,
     ["error: (`keys create` makes a new account; another key for it:",
      '  phonos keys add --username "Ada Lovelace")']),
    ("error: the username is taken (`keys create` makes a new account with its first key)", 40,
     ["error: the username is taken", "  (`keys create` makes a new account", "  with its first key)"]),
    ('error: the username "ada" is taken (`keys create` makes a new account; another key: phonos keys add '
     '--username "Ada Lovelace")', 60,
     ['error: the username "ada" is taken (`keys create` makes a', "  new account; another key:",
      '  phonos keys add --username "Ada Lovelace")']),
    # A backticked command longer than the line: broken as a command is (the operator's ran past the edge).
    (HINT, 40, ['  sign in as "admin" (forgot the', "    password?", "    `phonos users set-password",
                "    --username admin", "    --data-dir /srv/var`)"]),
    (HINT, 60, ['  sign in as "admin" (forgot the password?', "    `phonos users set-password --username admin",
                "    --data-dir /srv/var`)"]),
    ('error: job 123 "my folding run of today" failed: its results were removed', 40,
     ["error: job 123", '  "my folding run of today" failed: its', "  results were removed"]),
    # `phonos` as a word, not a command: the words after it are words (the operator's routine glued them).
    ("error: nothing answers as phonos at http://127.0.0.1:9: connection refused (is `phonos serve` running?)", 40,
     ["error: nothing answers as phonos at", "  http://127.0.0.1:9: connection",
      "  refused (is `phonos serve` running?)"]),
    # A word longer than the line (a path): whole, on a line of its own, past the edge.
    ("phonos: cannot write /srv/phonos/results/2026/12/01/a-rather-long-directory-name/out.pdb: disk full", 40,
     ["phonos: cannot write", "  /srv/phonos/results/2026/12/01/a-rather-long-directory-name/out.pdb:",
      "  disk full"]),
    # East Asian wide characters take two cells each.
    (WIDE, 40, ["phonos: job 折りたたみ実験の結果", "  failed: 結果は保存されませんでした;",
                "  see phonos jobs ls --status failed"]),
    (WIDE, 60, ["phonos: job 折りたたみ実験の結果 failed:", "  結果は保存されませんでした; see",
                "  phonos jobs ls --status failed"]),
    (WIDE, 80, ["phonos: job 折りたたみ実験の結果 failed: 結果は保存されませんでした; see",
                "  phonos jobs ls --status failed"]),
    # An indented line goes on two cells further in.
    ("  seq-a, seq-b, seq-c: Invalid request: params.num_recycles must be between 0 and 48", 40,
     ["  seq-a, seq-b, seq-c: Invalid request:", "    params.num_recycles must be between", "    0 and 48"]),
    ("  seq-a, seq-b, seq-c: Invalid request: params.num_recycles must be between 0 and 48", 80,
     ["  seq-a, seq-b, seq-c: Invalid request: params.num_recycles must be between 0", "    and 48"]),
]


@pytest.mark.parametrize(("message", "columns", "lines"), TABLE)
def test_a_message_is_broken_between_words_never_inside_one(message: str, columns: int, lines: list[str]) -> None:
    shown = message_in_lines(message, columns - 1, COMMANDS)
    assert shown == lines
    assert [line for line in shown if width(line) > columns - 1 and " " in line.strip()] == []  # only a lone word
    assert " ".join(line.strip() for line in shown) == message.strip()  # the same words, only broken
    assert message_in_lines(message, None, COMMANDS) == [message]  # piped (no terminal): the one line, as it is
    assert message_in_lines(message, 500, COMMANDS) == [message]  # room for it: as it is


def test_pieces_are_whole_and_a_label_keeps_its_value() -> None:
    """A one-line answer's pieces (`keys revoke`, `jobs cancel`) stay whole, a path in one with its spaces; a banner
    line's lines go on under its value, the value on the label's line however wide, its two-space gap kept."""
    pieces = [f"revoked key_{ID[:16]} (pk_abcdef...):", "requests made with it are refused from now on"]
    assert message_in_lines(pieces, 59) == [pieces[0], "  " + pieces[1]]
    assert pieces_in_lines([f"{ID} cancelled", "(10 credits refunded)"], 39) == [f"{ID} cancelled",
                                                                                  "(10 credits refunded)"]
    assert message_in_lines(["to", "/a path/with spaces/backup"], 10) == ["to", "  /a path/with spaces/backup"]
    line = "http://127.0.0.1:9464/metrics  (listening on all interfaces; Prometheus; job service + Triton)"
    under = " " * 15  # the value's column
    assert message_in_lines(line, 40, label="metrics:       ") == [
        "metrics:       http://127.0.0.1:9464/metrics", f"{under}(listening on all", f"{under}interfaces; Prometheus;",
        f"{under}job service + Triton)"]
    assert message_in_lines(line, 60, label="metrics:       ") == [
        "metrics:       http://127.0.0.1:9464/metrics  (listening on",
        f"{under}all interfaces; Prometheus; job service +", f"{under}Triton)"]


def test_a_command_ends_at_a_two_space_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The banner's `first job:     phonos login --url URL  (asks ...)`: the note after the gap is not the command's,
    and the operator's `phonos` knows its own verbs (`users set-password`) as the client knows its."""
    line = ("first job:     phonos login --url http://127.0.0.1:8000  (asks for the API key above), then "
            "phonos fold SEQUENCE  (curl: README)")
    monkeypatch.setenv("COLUMNS", "42")
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    under = " " * 15
    assert tables.banner_line(line).splitlines() == [
        "first job:     phonos login", f"{under}--url http://127.0.0.1:8000", f"{under}(asks for the API key",
        f"{under}above), then", f"{under}phonos fold SEQUENCE", f"{under}(curl: README)"]
    assert {"set-password", "keys", "jobs", "rotate-secret"} <= tables.command_words()
    message = "no password was set; run phonos users set-password --username ada --data-dir /srv/x"
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert tables.said_error(message) == f"error: {message}"  # piped: the one line
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert tables.said_error(message).splitlines() == ["error: no password was set; run",
                                                       "  phonos users set-password",
                                                       "  --username ada --data-dir /srv/x"]
