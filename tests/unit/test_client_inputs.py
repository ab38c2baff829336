"""What `phonos fold` and `phonos dock` make of their input arguments, before anything is sent: a mistake is a
usage error saying which file or value and what is wrong with it, values worded as JSON words them."""

from __future__ import annotations

from pathlib import Path

import pytest
from phonos_client import cli
from phonos_client.inputs import InputError, sequences_from

from launcher.ports import free_port

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("write", "argument", "says"), [
    ("MKTAYIAKQR\n>second\nMKV\n", "headless.fasta",
     "headless.fasta: line 2 is a FASTA header, but the lines before it have none; start the file with a '>' line"),
    (">empty\n\n>ok\nMKV\n", "records.fasta", 'FASTA record "empty" has no sequence'),
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


@pytest.mark.parametrize(("protein", "says"), [("nope.pdb", "phonos: --protein nope.pdb: no such file"),
                                               ("nope", 'phonos: --protein "nope" is neither a PDB file nor a job id')])
def test_a_dock_protein_it_cannot_find_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], protein: str, says: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_URL", f"http://127.0.0.1:{free_port()}")  # nobody: nothing may be sent
    monkeypatch.setenv("PHONOS_API_KEY", "pk_x")
    assert cli.main(["dock", "--protein", protein, "--ligand", "CCO"]) == 2
    assert capsys.readouterr().err.strip() == says
