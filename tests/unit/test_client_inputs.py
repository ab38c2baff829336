"""What `phonos fold` and `phonos dock` make of their input arguments, before anything is sent: a mistake is a
usage error saying which file or value and what is wrong with it, values worded as JSON words them."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import subprocess
from pathlib import Path

import pytest
from phonos_client import cli
from phonos_client.inputs import InputError, sequences_from

from launcher.ports import free_port
from tests.support import REPO

pytestmark = pytest.mark.unit

FASTA_JS = REPO / "gateway" / "static" / "js" / "fasta.js"


@pytest.mark.parametrize(("write", "argument", "says"), [
    (">empty\n\n>ok\nMKV\n", "records.fasta", 'FASTA record "empty" has no sequence'),
    ("MKV\n>empty\n", "headless.fasta", 'FASTA record "empty" has no sequence'),
    (None, "missing.fasta", "missing.fasta: no such file"),
    (None, "folds/p1", "folds/p1: no such file"),
    (None, ".", ".: a directory, not a FASTA file"),
    (None, "MKV-LA", '"MKV-LA" is neither a file nor an amino-acid sequence (letters only)'),
])
def test_a_fold_input_it_cannot_use_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: str | None,
                                            argument: str, says: str) -> None:
    monkeypatch.chdir(tmp_path)
    if write is not None:
        Path(argument).write_text(write)
    with pytest.raises(InputError) as refused:
        sequences_from(argument)
    assert str(refused.value) == says


def test_a_plain_sequence_file_and_a_sequence_argument_still_fold(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("one.txt").write_text("MKTAYIAKQR\nQISFVKSHFS\n")
    assert [(r.id, r.text) for r in sequences_from("one.txt")] == [("one", "MKTAYIAKQRQISFVKSHFS")]
    assert [(r.id, r.text) for r in sequences_from("mkv la")] == [("sequence", "MKVLA")]
    # longer than a file name may be (255): a sequence, not "[Errno 36] File name too long"
    long = "MKTAYIAKQRQISFVKSHFS" * 20
    assert [(r.id, r.text) for r in sequences_from(long)] == [("sequence", long)]
    assert [(r.id, r.text) for r in sequences_from(long.lower()[:300] + " " + long[300:])] == [("sequence", long)]


@pytest.mark.parametrize(("protein", "says"), [("nope.pdb", "phonos: --protein nope.pdb: no such file"),
                                               ("nope", 'phonos: --protein "nope" is neither a PDB file nor a job id'),
                                               ("x" * 300, f'phonos: --protein "{"x" * 300}" is neither a PDB file '
                                                           "nor a job id")])
def test_a_dock_protein_it_cannot_find_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], protein: str, says: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_URL", f"http://127.0.0.1:{free_port()}")  # nobody: nothing may be sent
    monkeypatch.setenv("PHONOS_API_KEY", "pk_x")
    assert cli.main(["dock", "--protein", protein, "--ligand", "CCO"]) == 2
    assert capsys.readouterr().err.strip() == says


# What the dashboard's form makes of the same text (gateway/static/js/fasta.js: fastaRecords, then recordNames),
# and what `phonos fold` makes of it from a file and on standard input: the same records, the same names.
FORM_TEXTS = [
    ("MKTAYIAKQR\nQISFVKSHFS\n", [("seq1", "MKTAYIAKQRQISFVKSHFS")]),
    ("MKTAYIAKQR\n>second one\nMKV\n>third\nMGS\nSHH\n", [("seq1", "MKTAYIAKQR"), ("second", "MKV"), ("third", "MGSSHH")]),
    ("  mktay iak \r\n\r\n>seq1\nMKV\n", [("seq1", "mktayiak"), ("seq1_2", "MKV")]),
    (">\nMKV\n>|||\nMGS\n", [("seq1", "MKV"), ("seq2", "MGS")]),
]


@pytest.mark.parametrize(("text", "records"), FORM_TEXTS)
def test_fasta_text_without_a_first_header_folds_as_the_dashboard_form_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, records: list[tuple[str, str]]) -> None:
    """Lines before the first header (or with no header at all) are a record named seq<N> by its place, on
    standard input and in a file with headers further down: the form's names (a file with no header at all is
    one sequence named after its file, as before)."""
    assert [(r.id, r.text) for r in sequences_from("-", text)] == records
    form = subprocess.run(["node", "--input-type=module", "-e", f"""
        import {{fastaRecords, recordNames}} from '{FASTA_JS.as_uri()}';
        const records = fastaRecords({json.dumps(text)});
        console.log(JSON.stringify(recordNames('', records).map((n, i) => [n, records[i].sequence])));"""],
        capture_output=True, text=True, check=True, timeout=30)
    assert [(n, "".join(s.split())) for n, s in json.loads(form.stdout)] == records
    monkeypatch.chdir(tmp_path)
    Path("in.fasta").write_text(text)
    from_file = [(r.id, r.text) for r in sequences_from("in.fasta")]
    assert from_file == (records if ">" in text else [("in", records[0][1])])


@pytest.mark.parametrize(("text", "says"), [
    ("", "standard input: no sequence in it"),
    ("\n  \n", "standard input: no sequence in it"),
    (">only a header\n", 'FASTA record "only a header" has no sequence'),
    ("MKV\n>p2\n>p3\nMGS\n", 'FASTA record "p2" has no sequence'),
])
def test_what_the_form_and_the_cli_both_refuse_is_said_before_anything_is_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], text: str,
        says: str) -> None:
    """No sequence, or a header with none under it (the form leaves it to the API's 400: an empty sequence)."""
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_URL", f"http://127.0.0.1:{free_port()}")  # nobody: nothing may be sent
    monkeypatch.setenv("PHONOS_API_KEY", "pk_x")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    assert cli.main(["fold", "-"]) == 2
    assert capsys.readouterr().err.strip() == f"phonos: {says}"


@pytest.mark.parametrize(("argv", "after"), [
    (["jobs", "ls", "--starting-after", "9b1c"], "9b1c"),
    (["jobs", "ls", "--all", "--starting-after", "9b1c"], "9b1c"),
    (["account", "credits", "--starting-after", "42"], "42"),
    (["account", "activity", "--limit", "5", "--starting-after", "17"], "17"),
    (["webhooks", "deliveries", "wh_1", "--starting-after", "d_9"], "d_9"),
    (["jobs", "ls"], None),
])
def test_the_paged_list_verbs_take_a_cursor(argv: list[str], after: str | None) -> None:
    assert cli.build_parser().parse_args(argv).starting_after == after


def test_a_cursor_with_all_is_the_sdk_walker_from_it() -> None:
    """--all --starting-after ID: the SDK's walker begun after ID (its pages: tests/unit/test_sdk_walkers.py), no page
    read here; --all alone the walker from the top; without --all one page, its next cursor kept for the hint."""
    items = [f"j{n}" for n in range(7)]
    asked: list[tuple[int | None, str | None]] = []
    walked: list[str | None] = []

    @dataclasses.dataclass
    class Page:
        jobs: list[str]
        total: int
        has_more: bool
        next_starting_after: str | None
        raw: dict = dataclasses.field(default_factory=dict)  # the API's answer (--json prints it)

    def page_at(limit: int | None, after: str | None) -> Page:
        asked.append((limit, after))
        start = items.index(after) + 1 if after else 0
        jobs = items[start:start + (limit or 20)]
        more = start + len(jobs) < len(items)
        return Page(jobs, len(items), more, jobs[-1] if more else None)

    def every(after: str | None) -> list[str]:
        walked.append(after)
        return items[items.index(after) + 1:] if after else items

    def args(*argv: str) -> argparse.Namespace:
        return cli.build_parser().parse_args(["jobs", "ls", *argv])

    shown = cli.listed(args("--all", "--starting-after", "j1"), every, page_at, lambda p: p.jobs)
    assert (shown.items, shown.total, shown.next_after) == (items[2:], None, None)
    assert cli.listed(args("--all"), every, page_at, lambda p: p.jobs).items == items
    assert (walked, asked) == (["j1", None], [])
    shown = cli.listed(args("--limit", "3", "--starting-after", "j0"), every, page_at, lambda p: p.jobs)
    assert (shown.items, shown.total, shown.next_after, asked) == (["j1", "j2", "j3"], 7, "j3", [(3, "j0")])


@pytest.mark.parametrize(("argv", "named"), [
    (["jobs", "cancel", ""], "job_id"),
    (["jobs", "rm", "abc", "  "], "job_id"),
    (["jobs", "unshare", "abc", ""], "share_id"),
    (["webhooks", "deliveries", ""], "webhook_id"),
    (["webhooks", "redeliver", "wh_1", " "], "delivery_id"),
])
def test_an_empty_id_is_a_usage_error_before_anything_is_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str],
        named: str) -> None:
    """`phonos jobs cancel "$ID"` with the variable unset sent POST /v1/jobs//cancel ("no route")."""
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_URL", f"http://127.0.0.1:{free_port()}")  # nobody: nothing may be sent
    monkeypatch.setenv("PHONOS_API_KEY", "pk_x")
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    assert exited.value.code == 2
    verb = " ".join(argv[:2])  # one line, naming the verb whose help to read
    assert capsys.readouterr().err == f"phonos {verb}: {named}: an id cannot be empty; see phonos {verb} --help\n"


@pytest.mark.parametrize("job_id", ["", "   "])
def test_the_sdk_refuses_an_empty_id_instead_of_calling_another_route(job_id: str) -> None:
    """GET /v1/jobs/ would be the jobs list, not a job; neither transport is reached."""
    from phonos_client import Client

    client = Client(f"http://127.0.0.1:{free_port()}", "pk_x", max_retries=0)
    with pytest.raises(ValueError, match="job_id must not be empty"):
        client.get_job(job_id)
    with pytest.raises(ValueError, match="webhook_id must not be empty"):
        client.webhook_deliveries(job_id)


def test_a_protein_file_that_is_not_a_pdb_is_said_before_anything_is_sent(tmp_path: Path) -> None:
    """A FASTA given as --protein went to the server, whose refusal spoke of "params.protein_pdb" and "file paths
    and URLs are not accepted" (the command had sent the file's text)."""
    fasta = tmp_path / "p.fasta"
    fasta.write_text(">p1\nMKTAYIAKQRQ\n")
    args = cli.build_parser().parse_args(["dock", "--protein", str(fasta), "--ligand", "CCO"])
    with pytest.raises(cli.UsageError, match=r"--protein .*p\.fasta: no ATOM records, so not a PDB file"):
        cli.prepare_dock(args)
    pdb = tmp_path / "r.pdb"
    pdb.write_text("ATOM      1  CA  ALA A   1      11.104   6.134  -6.504  1.00  0.00           C\nEND\n")
    work = cli.prepare_dock(cli.build_parser().parse_args(["dock", "--protein", str(pdb), "--ligand", "CCO"]))
    assert work.flags["protein_pdb"] == "--protein"  # the server's refusal of it is said with the flag
