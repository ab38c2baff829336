"""Files and values as Windows tools, Excel and a copy and paste make them, read by `phonos fold`/`dock` and the SDK
(an SDK/CLI tester's finds): a byte-order mark, UTF-16, Latin-1, a Ctrl-Z, invisible characters in a key. Each was
a wrong reading (the BOM glued to the first header, SMILES or column name) or a traceback with exit 1."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from phonos_client import cli, config, errors
from phonos_client.calls import predict
from phonos_client.client import bare_key
from phonos_client.display import Display
from phonos_client.inputs import InputError, decoded_text, ligands_from, sequences_from

pytestmark = pytest.mark.unit

BOM = b"\xef\xbb\xbf"
FASTA = ">prot1 first protein\r\nMKTVRQERLK\r\n>prot2 second\r\nMGSSHHHHHH\r\n"


@pytest.mark.parametrize("data", [
    BOM + FASTA.encode(),                        # Notepad, PowerShell 7's Out-File -Encoding utf8BOM
    b"\xff\xfe" + FASTA.encode("utf-16-le"),     # PowerShell 5's `>`, Excel's "Unicode Text"
    b"\xfe\xff" + FASTA.encode("utf-16-be"),
    FASTA.encode() + b"\x1a",                    # an old DOS tool's end-of-file mark
], ids=["utf8-bom", "utf16-le", "utf16-be", "ctrl-z"])
def test_a_fasta_file_as_windows_writes_it_is_its_records(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "proteins.fasta"
    path.write_bytes(data)
    assert [(r.id, r.name, r.text) for r in sequences_from(str(path))] == [
        ("prot1", "prot1", "MKTVRQERLK"), ("prot2", "prot2", "MGSSHHHHHH")]


@pytest.mark.parametrize(("data", "says"), [
    (b">caf\xe9\nMKTV\n", "not UTF-8 text (Latin-1 or another encoding?); save it as UTF-8"),
    (">p1\nMKTVRQ\n".encode("utf-16-le"), "UTF-16 text without a byte-order mark; save it as UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "not a text file"),
])
def test_text_in_another_encoding_is_said_as_such(tmp_path: Path, data: bytes, says: str) -> None:
    path = tmp_path / "input.fasta"
    path.write_bytes(data)
    with pytest.raises(InputError) as refused:
        sequences_from(str(path))
    assert str(refused.value) == f"{path}: {says}"


def test_an_excel_csv_with_a_bom_keeps_its_first_column(tmp_path: Path) -> None:
    receptor = tmp_path / "r.pdb"
    receptor.write_text("ATOM      1  CA  ALA A   1       0.000   0.000   0.000  1.00  0.00           C\nEND\n")
    path = tmp_path / "ligands.csv"
    path.write_bytes(BOM + b"complex_name,protein_path,ligand_description\r\n"
                     + f'"aspirin lig",{receptor},CC(=O)Oc1ccccc1C(=O)O\r\n'.encode())
    [record] = ligands_from(path)
    assert (record.name, record.protein_path, record.text) == ("aspirin lig", str(receptor), "CC(=O)Oc1ccccc1C(=O)O")
    smi = tmp_path / "ligands.smi"
    smi.write_bytes(BOM + b"CCO ethanol\r\n")
    assert [(r.name, r.text) for r in ligands_from(smi)] == [("ethanol", "CCO")]


def test_standard_input_is_read_as_files_are(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(BOM + FASTA.encode())))
    assert cli.stdin_text() == FASTA
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b">caf\xe9\nMKTV\n")))
    with pytest.raises(InputError, match="standard input: not UTF-8 text"):
        cli.stdin_text()
    assert decoded_text(b"", "x") == ""


def test_a_bare_sequence_file_is_named_after_all_of_its_name(tmp_path: Path) -> None:
    path = tmp_path / "kinase domain v2.txt"
    path.write_text("MKTVRQ\n")
    [record] = sequences_from(str(path))
    assert (record.name, record.id) == ("kinase domain v2", "kinase_domain_v2")  # was "kinase"


def test_a_key_with_a_character_no_key_has_is_said(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert bare_key("\ufeffpk_abc\r\n") == ("pk_abc", False)  # a BOM from a file, a zero-width space: dropped
    assert bare_key("Bearer \u200bpk_abc") == ("pk_abc", True)
    for key, named in (("pk_ab\u200bc", "U+200B (zero width space)"), ("pk_é", "U+00E9"), ("pk a", "U+0020")):
        with pytest.raises(ValueError, match=re.escape("the API key holds " + named)):
            bare_key(key)
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("PHONOS_API_KEY", "pk_é")
    with pytest.raises(config.ConfigError, match="^PHONOS_API_KEY: the API key holds U\\+00E9"):
        config.load()  # `phonos jobs ls` says it in one line, exit 2; was a UnicodeEncodeError traceback, exit 1


def test_an_idempotency_key_a_header_cannot_carry_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="idempotency_key must be printable ASCII .* U\\+00E9"):
        predict("esmfold", "MKTV", None, None, "clé")
    assert predict("esmfold", "MKTV", None, None, "run-7").idempotency_key == "run-7"


def test_the_first_failure_stops_the_other_jobs_streams_quietly() -> None:
    """A rate limit that outlasted its wait ended `phonos fold` (exit 6) while the other jobs' streams ran on under
    a closed client, each saying "lost the connection ... retrying" (17 lines for 20 jobs)."""
    ended: list[str] = []

    class Client:
        async def watch(self, job_id: str):  # type: ignore[no-untyped-def]
            if job_id == "a":
                raise errors.RateLimitError("rate limited", status=429)
            try:
                await asyncio.sleep(3600)
            finally:
                ended.append(job_id)
            yield  # pragma: no cover

    outcomes = [cli.Outcome(name=n, job_id=n, status="pending") for n in ("a", "b", "c")]

    ended_when_raised: list[str] = []

    async def run() -> None:
        try:
            await asyncio.wait_for(cli.follow(Client(), outcomes, Display(io.StringIO(), tty=False), None,  # type: ignore[arg-type]
                                              ["pdb"]), timeout=30)
        finally:  # what had stopped when the error reached the caller (who closes the client next)
            ended_when_raised.extend(ended)

    with pytest.raises(errors.RateLimitError):
        asyncio.run(run())
    assert sorted(ended_when_raised) == ["b", "c"]  # stopped before the error went on, not left running


def test_a_param_that_is_no_json_number_is_a_usage_error_and_keys_are_trimmed() -> None:
    with pytest.raises(cli.UsageError, match="--param chunk_size: NaN is no number JSON can carry"):
        cli.parse_params(["chunk_size=NaN"])  # was "Out of range float values are not JSON compliant", exit 1
    with pytest.raises(cli.UsageError, match="Infinity"):
        cli.parse_params(["num_recycles=Infinity"])
    assert cli.parse_params(["num_recycles = 4", "name=x"]) == {"num_recycles": 4, "name": "x"}
