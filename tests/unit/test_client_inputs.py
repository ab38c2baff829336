"""What `phonos fold` and `phonos dock` make of their input arguments, before anything is sent: a mistake is a
usage error saying which file or value and what is wrong with it, values worded as JSON words them."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import json
import subprocess
from pathlib import Path

import pytest
from phonos_client import cli
from phonos_client.inputs import InputError, file_id, ligands_from, sequences_from
from phonos_client.models import Batch

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
    (None, "MKV-LA", '"MKV-LA" is neither a file nor an amino-acid sequence (letters only; a complex\'s chains '
                     "joined by ':')"),
    (None, "MKV::LA", '"MKV::LA" is neither a file nor an amino-acid sequence (letters only; a complex\'s chains '
                      "joined by ':')"),
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
    # a complex typed on the command line, as a FASTA record writes it (it was "neither a file nor a sequence")
    assert [(r.id, r.text) for r in sequences_from("MKTAYIAKQR:gshmas")] == [("sequence", "MKTAYIAKQR:GSHMAS")]
    # longer than a file name may be (255): a sequence, not "[Errno 36] File name too long"
    long = "MKTAYIAKQRQISFVKSHFS" * 20
    assert [(r.id, r.text) for r in sequences_from(long)] == [("sequence", long)]
    assert [(r.id, r.text) for r in sequences_from(long.lower()[:300] + " " + long[300:])] == [("sequence", long)]


def test_a_folder_named_like_a_sequence_is_refused_and_a_lower_case_word_is_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """`mkdir seqs; phonos fold seqs` submitted the sequence "SEQS" and charged it (the letters were checked before
    the folder); `phonos fold kinases` with no such file folds "KINASES" without a word about the file it meant."""
    monkeypatch.chdir(tmp_path)
    Path("seqs").mkdir()
    with pytest.raises(InputError) as refused:
        sequences_from("seqs")
    assert str(refused.value) == "seqs: a directory, not a FASTA file"
    with caplog.at_level("INFO", logger="phonos_client"):
        assert [(r.id, r.text) for r in sequences_from("kinases")] == [("sequence", "KINASES")]
    assert [r.getMessage() for r in caplog.records] == ['no file "kinases" here: folding the letters as the sequence '
                                                        "KINASES"]
    caplog.clear()
    with caplog.at_level("INFO", logger="phonos_client"):
        sequences_from("MKTAYIAKQR")  # typed as sequences are: nothing to say
    assert caplog.records == []


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
    ("  mktay iak \r\n\r\n>seq1\nMKV\n", [("seq1", "mktayiak"), ("seq1", "MKV")]),  # jobs' names repeat; files not
    (">\nMKV\n>|||\nMGS\n", [("seq1", "MKV"), ("|||", "MGS")]),
]


@pytest.mark.parametrize(("text", "records"), FORM_TEXTS)
def test_fasta_text_without_a_first_header_folds_as_the_dashboard_form_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, records: list[tuple[str, str]]) -> None:
    """Lines before the first header (or with no header at all) are a record named seq<N> by its place, on
    standard input and in a file with headers further down: the form's names (a file with no header at all is
    one sequence named after its file, as before)."""
    assert [(r.job_name, r.text) for r in sequences_from("-", text)] == records
    form = subprocess.run(["node", "--input-type=module", "-e", f"""
        import {{fastaRecords, recordNames}} from '{FASTA_JS.as_uri()}';
        const records = fastaRecords({json.dumps(text)});
        console.log(JSON.stringify(recordNames('', records).map((n, i) => [n, records[i].sequence])));"""],
        capture_output=True, text=True, check=True, timeout=30)
    assert [(n, "".join(s.split())) for n, s in json.loads(form.stdout)] == records
    monkeypatch.chdir(tmp_path)
    Path("in.fasta").write_text(text)
    from_file = [(r.job_name, r.text) for r in sequences_from("in.fasta")]
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


# --- `phonos dock --ligands FILE`: SDF as RDKit, Maestro and DiffDock write it, PubChem's SDF, DiffDock's CSV ---

PDB = "ATOM      1  CA  ALA A   1      11.104   6.134  -6.504  1.00  0.00           C\nEND\n"


def sdf_block(title: str, properties: dict[str, str]) -> str:
    """One SDF record, its mol block a lone carbon (what the properties say is what is read)."""
    said = "".join(f">  <{key}>\n{value}\n\n" for key, value in properties.items())
    return (f"{title}\n     hand          2D\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n"
            f"    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\nM  END\n{said}$$$$\n")


def test_an_sdf_record_with_a_blank_title_is_named_by_its_place_not_by_its_program_line(tmp_path: Path) -> None:
    """The title is the record's first line as written: a blank one was skipped, and the ligand named "hand" (the
    program line, line 2) -- after the first record too, where the newline ending `$$$$` was taken for a line."""
    sdf = tmp_path / "l.sdf"
    sdf.write_text(sdf_block("", {"SMILES": "CCO"}) + sdf_block("aspirin", {"SMILES": "CC(=O)Oc1ccccc1C(=O)O"})
                   + sdf_block("", {"SMILES": "CCN"}))
    assert [(r.id, r.text) for r in ligands_from(sdf)] == [
        ("ligand1", "CCO"), ("aspirin", "CC(=O)Oc1ccccc1C(=O)O"), ("ligand3", "CCN")]


@pytest.mark.parametrize(("properties", "sent"), [
    # PubChem's SDF until 2025: CAN has no stereochemistry, ISO has it (it was CAN's that was docked)
    ({"PUBCHEM_OPENEYE_CAN_SMILES": "CC(C(=O)O)N", "PUBCHEM_OPENEYE_ISO_SMILES": "C[C@@H](C(=O)O)N"},
     "C[C@@H](C(=O)O)N"),
    # PubChem's since: PUBCHEM_SMILES is the isomeric one, PUBCHEM_CONNECTIVITY_SMILES the one without
    ({"PUBCHEM_CONNECTIVITY_SMILES": "CC(C(=O)O)N", "PUBCHEM_SMILES": "C[C@@H](C(=O)O)N"}, "C[C@@H](C(=O)O)N"),
    ({"smiles": "C/C=C/C"}, "C/C=C/C"),
])
def test_an_sdf_records_isomeric_smiles_is_what_is_docked(tmp_path: Path, properties: dict[str, str],
                                                          sent: str) -> None:
    sdf = tmp_path / "pubchem.sdf"
    sdf.write_text(sdf_block("5950", properties))
    assert [(r.id, r.text) for r in ligands_from(sdf)] == [("5950", sent)]


def test_an_sdf_without_smiles_properties_is_converted_record_by_record_with_its_stereochemistry(
        tmp_path: Path) -> None:
    """RDKit's SDWriter (Maestro's and DiffDock's output are alike): records after the first were refused ("SDF
    record 2 is not a readable molecule": the mol block was read a line off). A 3D record keeps its stereocentres
    and double bonds (L-DOPA, L-alanine, E-crotonic acid), read from its coordinates."""
    chem = pytest.importorskip("rdkit.Chem")
    from rdkit.Chem import AllChem

    out = io.StringIO()
    writer = chem.SDWriter(out)
    wanted = [("levodopa", "N[C@@H](Cc1ccc(O)c(O)c1)C(=O)O"), ("", "C[C@H](N)C(=O)O"), ("crotonic", "C/C=C/C(=O)O")]
    for title, smiles in wanted:
        molecule = chem.AddHs(chem.MolFromSmiles(smiles))
        assert AllChem.EmbedMolecule(molecule, randomSeed=7) == 0
        molecule.SetProp("_Name", title)
        writer.write(molecule)
    writer.close()
    sdf = tmp_path / "poses.sdf"
    sdf.write_text(out.getvalue())
    assert "SMILES" not in out.getvalue() and "3D" in out.getvalue()
    assert [(r.id, r.text) for r in ligands_from(sdf)] == [
        ("levodopa", chem.CanonSmiles(wanted[0][1])), ("ligand2", chem.CanonSmiles(wanted[1][1])),
        ("crotonic", chem.CanonSmiles(wanted[2][1]))]


def dock(tmp_path: Path, *argv: str) -> cli.Work:
    return cli.prepare_dock(cli.build_parser().parse_args(["dock", *argv]))


def sent(work: cli.Work) -> list[dict[str, object]]:
    """The batch items `phonos dock` would POST for `work`."""
    posted: list[dict[str, object]] = []

    class Client:
        async def submit_batch(self, items: list[dict[str, object]], idempotency_key: str | None = None) -> Batch:
            posted.extend(items)
            return Batch.from_dict({"results": [{"index": n, "success": True, "model": "diffdock", "job_id": f"j{n}"}
                                                for n in range(len(items))],
                                    "summary": {"total_credits_used": 0}})

    asyncio.run(cli.submit(Client(), work.model, work.records, work.params, cli.Session(),  # type: ignore[arg-type]
                           work.extra, work.flags))
    return posted


def test_a_diffdock_csvs_protein_path_is_each_rows_receptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DiffDock's CSV gives each row its receptor: every row was docked into --protein, the column ignored. A
    relative path is read as DiffDock reads it (from the current folder), or else from the CSV's folder."""
    monkeypatch.chdir(tmp_path)
    Path("r1.pdb").write_text(PDB)
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "r2.pdb").write_text(PDB.replace("ALA", "GLY"))
    csv_file = tmp_path / "set" / "in.csv"
    csv_file.write_text("complex_name,protein_path,ligand_description,protein_sequence\n"
                        f"c1,r1.pdb,CCO,\nc2,r2.pdb,CCN,\nc3,{tmp_path / 'r1.pdb'},CCC,\n")
    work = dock(tmp_path, "--ligands", str(csv_file), "--samples", "2")
    assert [(i["name"], i["sequence"], i["params"]) for i in sent(work)] == [
        ("c1", "CCO", {"samples_per_complex": 2, "protein_pdb": PDB}),
        ("c2", "CCN", {"samples_per_complex": 2, "protein_pdb": PDB.replace("ALA", "GLY")}),
        ("c3", "CCC", {"samples_per_complex": 2, "protein_pdb": PDB})]
    # One file, read once and shared by its rows (c1 by a relative path, c3 by its absolute one): a screen of
    # thousands of rows into one receptor held a copy of its text per row.
    items = sent(work)
    assert items[0]["params"]["protein_pdb"] is items[2]["params"]["protein_pdb"]
    # without the column, --protein's receptor for every row, as before
    csv_file.write_text("complex_name,ligand_description\nc1,CCO\nc2,CCN\n")
    work = dock(tmp_path, "--ligands", str(csv_file), "--protein", "r1.pdb")
    assert [(i["name"], i["params"]) for i in sent(work)] == [("c1", {"protein_pdb": PDB}), ("c2", {"protein_pdb": PDB})]


@pytest.mark.parametrize(("rows", "protein", "says"), [
    ("c1,r1.pdb,CCO,\nc2,nope.pdb,CCN,\n", None, 'in.csv row 2 ("c2"): protein_path nope.pdb: no such file'),
    ("c1,seq.fasta,CCO,\n", None, 'in.csv row 1 ("c1"): protein_path seq.fasta: no ATOM records, so not a PDB file'),
    (",r1.pdb,CCO,\n,r1.pdb,,\nc3,,CCN,\n", None,
     '--protein missing: in.csv row 3 ("c3") has no protein_path (give --protein for the whole file, or a '
     "protein_path on every row)"),
    ("c1,,CCO,MKTAYIAKQR\n", None, 'in.csv row 1 ("c1") has a protein_sequence but no protein_path: fold it '
                                   "first: phonos fold FASTA --model esmfold, then --protein JOB_ID"),
    ("c1,,CCO,\nc2,r1.pdb,CCN,\n", "r1.pdb", '--protein and in.csv row 2 ("c2")\'s protein_path (r1.pdb) both name a '
                                             "receptor: drop --protein to dock each row into its own protein_path, "
                                             "or empty that column to dock every ligand into --protein"),
])
def test_a_diffdock_csvs_receptor_that_cannot_be_used_is_said_before_anything_is_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: str, protein: str | None, says: str) -> None:
    monkeypatch.chdir(tmp_path)
    Path("r1.pdb").write_text(PDB)
    Path("seq.fasta").write_text(">p\nMKTAYIAKQR\n")
    Path("in.csv").write_text("complex_name,protein_path,ligand_description,protein_sequence\n" + rows)
    with pytest.raises(cli.UsageError) as refused:
        dock(tmp_path, "--ligands", "in.csv", *(["--protein", protein] if protein else []))
    assert str(refused.value).startswith(says), str(refused.value)


def test_a_protein_sequence_row_docks_into_protein_when_it_is_given(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("r1.pdb").write_text(PDB)
    Path("in.csv").write_text("complex_name,protein_path,ligand_description,protein_sequence\nc1,,CCO,MKTAYIAKQR\n")
    assert [(i["name"], i["params"]) for i in sent(dock(tmp_path, "--ligands", "in.csv", "--protein", "r1.pdb"))] == [
        ("c1", {"protein_pdb": PDB})]
    Path("l.smi").write_text("CCO ethanol\n")  # no column to take a receptor from: --protein is needed
    with pytest.raises(cli.UsageError, match="^--protein missing: give the receptor's PDB file or a completed fold"):
        dock(tmp_path, "--ligands", "l.smi")


MOL_CO = ("\n     RDKit          2D\n\n  2  1  0  0  0  0  0  0  0  0999 V2000\n"
          "    0.0000    0.0000    0.0000 C   0  0  0  0  0  0  0  0  0  0  0  0\n"
          "    1.5000    0.0000    0.0000 O   0  0  0  0  0  0  0  0  0  0  0  0\n  1  2  1  0\nM  END\n")
MOL_UNKNOWN_ELEMENT = ("\n     RDKit          2D\n\n  1  0  0  0  0  0  0  0  0  0999 V2000\n"
                       "    0.0000    0.0000    0.0000 Xx  0  0  0  0  0  0  0  0  0  0  0  0\nM  END\n")


def _mol(atoms: list[str], bonds: list[tuple[int, int, int]]) -> str:
    """A 2D mol block (after its title line) of `atoms` on a line and `bonds` (first, second, order; 4: aromatic)."""
    lines = ["", "     RDKit          2D", "", f"{len(atoms):3d}{len(bonds):3d}  0  0  0  0  0  0  0  0999 V2000"]
    lines += [f"{1.5 * i:10.4f}    0.0000    0.0000 {element:<3} 0  0  0  0  0  0  0  0  0  0  0  0"
              for i, element in enumerate(atoms)]
    lines += [f"{a:3d}{b:3d}{order:3d}  0" for a, b, order in bonds]
    return "\n".join([*lines, "M  END", ""])


MOL_FIVE_BONDED_CARBON = _mol(["C"] * 6, [(1, n, 1) for n in range(2, 7)])
MOL_UNKEKULIZABLE_RING = _mol(["C"] * 5, [(1, 2, 4), (2, 3, 4), (3, 4, 4), (4, 5, 4), (5, 1, 4)])


def test_a_ligands_whole_name_is_its_jobs_name(tmp_path: Path) -> None:
    """A .smi line's name is the rest of the line, a CSV's and an SDF title's all their words: "aspirin lysine salt"
    was the job "aspirin", and "aspirin sodium" beside it "aspirin_2". The files are named by the words joined."""
    (tmp_path / "l.smi").write_text("CC(=O)Oc1ccccc1C(=O)O aspirin lysine salt\nCC(=O)Oc1ccccc1C(=O)[O-] aspirin  sodium\n")
    (tmp_path / "l.csv").write_text("complex_name,ligand_description\naspirin lysine salt,CCO\naspirin sodium,CCN\n")
    (tmp_path / "l.sdf").write_text(f"aspirin lysine salt{MOL_CO}$$$$\naspirin sodium{MOL_CO}$$$$\n")
    for name in ("l.smi", "l.csv", "l.sdf"):
        work = dock(tmp_path, "--ligands", str(tmp_path / name), "--protein", "0f3a1c2e-1111-4222-8333-444455556666")
        assert [r.id for r in work.records] == ["aspirin_lysine_salt", "aspirin_sodium"], name
        assert [item["name"] for item in sent(work)] == ["aspirin lysine salt", "aspirin sodium"], name


def fold(*argv: str) -> cli.Work:
    return cli.prepare_fold(cli.build_parser().parse_args(["fold", *argv]))


SAME_IDS = ">sp|P01308|INS_HUMAN Insulin\nMALWMRLLPL\n>../../etc/evil\nMKV\n>dup\nMGS\n>dup one more\nMHH\n"


def test_each_fold_job_is_named_after_its_fasta_id_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """docs/clients.md: "each job named after its FASTA id". Jobs were named after the ids made file names
    (`sp_P01308_INS_HUMAN`, `etc_evil`, `dup_2`), so `jobs ls --name "sp|P01308"` found nothing. The files keep
    those names; the jobs (and the outcome's NAME, --json's `name`) get the header's first word as written."""
    monkeypatch.chdir(tmp_path)
    Path("in.fasta").write_text(SAME_IDS)
    work = fold("in.fasta")
    assert [r.id for r in work.records] == ["sp_P01308_INS_HUMAN", "etc_evil", "dup", "dup_2"]  # the files'
    assert [i["name"] for i in sent(work)] == ["sp|P01308|INS_HUMAN", "../../etc/evil", "dup", "dup"]
    outcomes = submitted(work)
    assert [(o.name, o.job_id, o.stem) for o in outcomes] == [
        ("sp|P01308|INS_HUMAN", "j0", "sp_P01308_INS_HUMAN"), ("../../etc/evil", "j1", "etc_evil"),
        ("dup", "j2", "dup"), ("dup", "j3", "dup_2")]
    # Two jobs of one name are two rows, told apart by their job ids (and files, once downloaded).
    assert cli.report(outcomes, as_json=True) == 0
    assert [(j["name"], j["job_id"]) for j in json.loads(capsys.readouterr().out)["jobs"]][2:] == [
        ("dup", "j2"), ("dup", "j3")]
    assert cli.report(outcomes, as_json=False) == 0
    assert capsys.readouterr().out.splitlines()[2:] == ["dup\tj2\tpending\t", "dup\tj3\tpending\t"]
    # and their progress lines (`dup: running`, twice, piped) by their files' names until the files exist
    assert cli.progress_labels(outcomes) == {"j0": "sp|P01308|INS_HUMAN", "j1": "../../etc/evil", "j2": "dup",
                                             "j3": "dup_2"}
    # --name too: the job's name as typed, its files' made safe
    named = fold("MKV", "--name", " p 1 ")
    assert ([r.id for r in named.records], [i["name"] for i in sent(named)]) == (["p_1"], ["p 1"])


@pytest.mark.parametrize(("header", "why"), [
    ("a\x1bb", "it holds U+001B, which is not printable text"),  # an ANSI escape: refused by the API (labels.py)
    ("rtl\u202eevil", "it holds U+202E, which is not printable text"),
    ("x" * 201, "longer than 200 characters"),
])
def test_a_fasta_id_the_api_would_refuse_as_a_name_names_its_job_by_its_file_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], header: str,
        why: str) -> None:
    """The job still runs (a 400 for its name would reject the record), named as its files are, and stderr says so."""
    monkeypatch.chdir(tmp_path)
    Path("in.fasta").write_text(f">{header} words\nMKV\n>fine\nMGS\n")
    work = fold("in.fasta")
    stem = work.records[0].id
    assert stem == file_id(header, "seq1")
    assert [i["name"] for i in sent(work)] == [stem, "fine"]
    assert capsys.readouterr().err.splitlines()[0].endswith(f"cannot be a job's name ({why}): its job is named {stem}")
    assert [o.name for o in submitted(work)] == [stem, "fine"]


def test_a_smiles_files_header_line_is_not_a_ligand(tmp_path: Path) -> None:
    (tmp_path / "l.smi").write_text("SMILES\tName\nCCO\tethanol\n")
    assert [(r.id, r.text) for r in ligands_from(tmp_path / "l.smi")] == [("ethanol", "CCO")]
    (tmp_path / "l.smi").write_text("smiles name\nCCO ethanol\n")
    assert [(r.id, r.text) for r in ligands_from(tmp_path / "l.smi")] == [("ethanol", "CCO")]


def test_an_sdf_record_rdkit_cannot_read_is_rejected_and_the_others_run(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """One unreadable record stopped the whole file, its message without its title or why, and RDKit's log (a C++
    stack trace for an unknown element) was printed to the terminal. Now it is rejected alone, exit status 8, as a
    SMILES the server refuses is; the others are sent."""
    pytest.importorskip("rdkit")
    (tmp_path / "l.sdf").write_text(f"ethanolish{MOL_CO}$$$$\nbroken one{MOL_UNKNOWN_ELEMENT}$$$$\nmethanolish{MOL_CO}$$$$\n")
    work = dock(tmp_path, "--ligands", str(tmp_path / "l.sdf"), "--protein", "0f3a1c2e-1111-4222-8333-444455556666")
    assert capfd.readouterr().err == ""  # nothing from RDKit
    assert work.records[1].error == "SDF record 2 (\"broken one\") is not a readable molecule: Element 'Xx' not found"
    assert [item["name"] for item in sent(work)] == ["ethanolish", "methanolish"]
    outcomes = submitted(work)
    assert [(o.name, o.status) for o in outcomes] == [
        ("ethanolish", "pending"), ("broken one", "rejected"), ("methanolish", "pending")]  # the job's name
    assert cli.report(outcomes, as_json=True) == 8
    capfd.readouterr()
    assert cli.report(outcomes, as_json=False) == 8
    assert capfd.readouterr().err.startswith(
        "phonos: 1 of 3 records were rejected (not submitted, not charged):\n  broken one: Invalid request: SDF record 2")


def test_an_sdf_records_smiles_property_that_is_not_its_drawing_is_said(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chem = pytest.importorskip("rdkit.Chem")
    flat = chem.MolFromSmiles("CC(N)C(=O)O")  # alanine drawn in 2D without wedges: no stereocentre in the drawing
    alanine = chem.MolToMolBlock(flat).split("\n", 1)[1]
    (tmp_path / "l.sdf").write_text(f"agrees{MOL_CO}>  <SMILES>\nOC\n\n$$$$\nlabel{MOL_CO}>  <SMILES>\nCCN\n\n$$$$\n"
                                    # stereochemistry the drawing lacks is no disagreement, and the property keeps it
                                    f"L-alanine\n{alanine}>  <SMILES>\nC[C@H](N)C(=O)O\n\n$$$$\n")
    work = dock(tmp_path, "--ligands", str(tmp_path / "l.sdf"), "--protein", "0f3a1c2e-1111-4222-8333-444455556666")
    assert [r.text for r in work.records] == ["OC", "CCN", "C[C@H](N)C(=O)O"]  # the property, as before
    assert capsys.readouterr().err == ('phonos: SDF record 2 ("label"): its SMILES property "CCN" is not the molecule '
                                       "drawn in it (CO); docking the property's\n")


def test_a_diffdock_csvs_ligand_file_is_read_or_refused_by_its_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    """DiffDock's ligand_description may name a file: it was sent as the SMILES "ligands/a.sdf"."""
    pytest.importorskip("rdkit")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "set" / "ligands").mkdir(parents=True)
    (tmp_path / "set" / "ligands" / "a.sdf").write_text(f"a{MOL_CO}$$$$\n")
    (tmp_path / "set" / "ligands" / "b.mol2").write_text("@<TRIPOS>MOLECULE\nb\n")
    (tmp_path / "set" / "in.csv").write_text("complex_name,ligand_description\nc1,ligands/a.sdf\nc2,ligands/b.mol2\n"
                                             "c3,ligands/none.sdf\nc4,CCO\n")
    records = ligands_from(tmp_path / "set" / "in.csv")
    assert [(r.id, r.text, r.error) for r in records] == [
        ("c1", "CO", ""),
        ("c2", "ligands/b.mol2", "row 2: ligand_description ligands/b.mol2: a .mol2 file; convert it to SMILES "
                                 "(e.g. `obabel b.mol2 -osmi`) or to .sdf"),
        ("c3", "ligands/none.sdf", "row 3: ligand_description ligands/none.sdf: no such file"),
        ("c4", "CCO", "")]


def submitted(work: cli.Work) -> list[cli.Outcome]:
    class Client:
        async def submit_batch(self, items: list[dict[str, object]], idempotency_key: str | None = None) -> Batch:
            return Batch.from_dict({"results": [{"index": n, "success": True, "model": "diffdock", "job_id": f"j{n}"}
                                                for n in range(len(items))],
                                    "summary": {"total_credits_used": 0}})

    return asyncio.run(cli.submit(Client(), work.model, work.records, work.params, cli.Session(),  # type: ignore[arg-type]
                                  work.extra, work.flags))


def test_a_record_rdkit_parses_but_cannot_sanitise_is_rejected_with_rdkits_reason(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A carbon with five bonds (the commonest fault of a vendor's SDF, with aromatic rings RDKit cannot kekulize) was
    rejected as "RDKit cannot read its mol block": RDKit says why at its error level, which the client's quiet log
    left out (found by a tester). Parse errors kept their reason; sanitisation's is said now too."""
    pytest.importorskip("rdkit")
    (tmp_path / "l.sdf").write_text(f"good{MOL_CO}$$$$\nbadvalence{MOL_FIVE_BONDED_CARBON}$$$$\n"
                                    f"flat ring{MOL_UNKEKULIZABLE_RING}$$$$\nalso good{MOL_CO}$$$$\n")
    work = dock(tmp_path, "--ligands", str(tmp_path / "l.sdf"), "--protein", "0f3a1c2e-1111-4222-8333-444455556666")
    assert capfd.readouterr().err == ""  # still nothing from RDKit on the terminal
    assert work.records[1].error == ('SDF record 2 ("badvalence") is not a readable molecule: '
                                     "Explicit valence for atom # 0 C, 5, is greater than permitted")
    assert work.records[2].error is not None and work.records[2].error.startswith(
        'SDF record 3 ("flat ring") is not a readable molecule: Can\'t kekulize mol'), work.records[2].error
    assert [item["name"] for item in sent(work)] == ["good", "also good"]


@pytest.mark.parametrize(("ligands", "says"), [("nosuch.smi", "phonos: nosuch.smi: no such file"),
                                               ("dir.sdf", "phonos: dir.sdf: a directory, not a file")])
def test_a_ligand_file_it_cannot_read_says_why_as_fold_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str], ligands: str,
                                                            says: str) -> None:
    # It printed Python's "phonos: [Errno 2] No such file or directory: 'nosuch.smi'" (a newcomer's finding).
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dir.sdf").mkdir()
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_URL", f"http://127.0.0.1:{free_port()}")  # nobody: nothing may be sent
    monkeypatch.setenv("PHONOS_API_KEY", "pk_x")
    assert cli.main(["dock", "--protein", "550e8400-e29b-41d4-a716-446655440000", "--ligands", ligands]) == 2
    assert capsys.readouterr().err.strip() == says


@pytest.mark.parametrize(("name", "text"), [
    ("excel_de.csv", "\ufeffname;smiles\nethanol;CCO\nphenol;c1ccccc1O\n"),  # Excel's "CSV" where a comma is the decimal mark
    ("export.tsv", "complex_name\tligand_description\nethanol\tCCO\nphenol\tc1ccccc1O\n"),
    ("export.csv", "name\tsmiles\r\nethanol\tCCO\r\nphenol\tc1ccccc1O\r\n"),  # "Text (Tab delimited)" named .csv
    ("plain.csv", "name,smiles\nethanol,CCO\nphenol,c1ccccc1O\n"),
])
def test_a_ligand_spreadsheet_is_read_whichever_separator_it_was_saved_with(tmp_path: Path, name: str,
                                                                            text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert [(r.id, r.text) for r in ligands_from(path)] == [("ethanol", "CCO"), ("phenol", "c1ccccc1O")]


def test_a_ligand_csv_without_a_smiles_column_names_the_columns_it_read(tmp_path: Path) -> None:
    path = tmp_path / "ligands.csv"
    path.write_text("compound;structure\nethanol;CCO\n")
    with pytest.raises(InputError, match='^the CSV needs a ligand_description \\(DiffDock\\) or smiles column; its '
                                         'header row has 1 column: "compound;structure"$'):
        ligands_from(path)
    path.write_text("id,canonical smiles,mw,logp,hbd,hba,tpsa\nx,CCO,46,-0.1,1,1,20\n")
    with pytest.raises(InputError, match='has 7 columns: "id", "canonical smiles", "mw", "logp", "hbd", "hba", ...$'):
        ligands_from(path)


@pytest.mark.parametrize(("line", "mark"), [("CCO;ethanol", "semicolon"), ("CCO,ethanol", "comma")])
def test_a_smiles_file_with_a_spreadsheets_separator_says_so(tmp_path: Path, line: str, mark: str) -> None:
    path = tmp_path / "ligands.smi"
    path.write_text(f"SMILES;name\n{line}\n" if mark == "semicolon" else f"{line}\n")
    with pytest.raises(InputError, match=f'^line [12]: "{line}" holds a {mark}, which no SMILES has: a SMILES file is '
                                         "one `SMILES name` a line"):
        ligands_from(path)
