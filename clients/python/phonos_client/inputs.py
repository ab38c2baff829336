"""What users fold and dock, read the way the field writes it: FASTA records, and ligand lists as
SMILES files (`SMILES [name]` per line), CSV (DiffDock's `ligand_description` column, or `smiles`,
with `complex_name`/`name`/`id`, and DiffDock's `protein_path`/`protein_sequence`) or SDF (records
carrying an isomeric SMILES property; RDKit, when installed, converts the others' mol blocks)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# An SDF record's SMILES properties, by what they keep: PubChem's isomeric ones (PUBCHEM_SMILES is the isomeric one
# since PubChem's 2025 renaming), then a plain SMILES property (its writer's choice), then -- after the mol block
# itself, which RDKit reads with its stereochemistry -- the ones without stereochemistry (PubChem's canonical, now
# "connectivity", SMILES): a ligand docked without its stereocentres is another molecule's pose. Matched whatever
# their case.
_ISOMERIC_PROPERTIES = ("PUBCHEM_OPENEYE_ISO_SMILES", "PUBCHEM_SMILES", "PUBCHEM_ISOMERIC_SMILES", "ISOMERIC_SMILES",
                        "ISO_SMILES", "SMILES")
_FLAT_PROPERTIES = ("PUBCHEM_OPENEYE_CAN_SMILES", "PUBCHEM_CONNECTIVITY_SMILES", "CANONICAL_SMILES")
MAX_ID = 80


class InputError(ValueError):
    """An input file the command cannot use; the message says which record and why."""


@dataclass(frozen=True)
class Record:
    id: str  # unique, safe as a file name
    text: str  # the sequence, or the SMILES
    # a DiffDock CSV row's own receptor: its protein_path as written (`protein_row` says which row), or only its
    # protein_sequence (which DiffDock folds with ESMFold; phonos leaves that to `phonos fold`)
    protein_path: str = ""
    protein_sequence: str = ""
    protein_row: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)  # what the record's job sends besides the run's params


def file_id(raw: str, fallback: str) -> str:
    """A FASTA id (or ligand name) as a file name: its first word, unsafe characters replaced."""
    first = raw.strip().split()[0] if raw.strip() else ""
    cleaned = _UNSAFE.sub("_", first).strip("._")[:MAX_ID]
    return cleaned or fallback


def unique(records: Iterable[tuple[str, str]], prefix: str) -> list[Record]:
    """Records named by their ids as file names, each name used once: a repeated id gets `_2`, `_3`..., the
    first of those not taken (ids `a`, `a`, `a_2` give `a`, `a_2`, `a_2_2`). Names that differ only in case
    count as taken too: on macOS and Windows `A.pdb` and `a.pdb` are one file, and the second job's results
    would overwrite the first's."""
    taken: set[str] = set()
    out = []
    for number, (raw_id, text) in enumerate(records, start=1):
        base = name = file_id(raw_id, f"{prefix}{number}")
        repeat = 1
        while name.casefold() in taken:
            repeat += 1
            name = f"{base}_{repeat}"
        taken.add(name.casefold())
        out.append(Record(name, text))
    return out


def read_text(path: Path) -> str:
    """An input file's text: one that is empty or not text (a binary, an image) is an InputError naming it,
    before anything is sent."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file") from None
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    return text


def job_file_id(name: str | None, job_id: str) -> str:
    """A job's name (any text a client gave it) as a file name: its words joined by `_`, unsafe characters
    replaced, never a path; the job id when nothing is left."""
    return file_id("_".join((name or "").split()), job_id)


def read_fasta(text: str, source: str = "the input") -> list[Record]:
    """FASTA records as the dashboard's form reads them (gateway/static/js/fasta.js, fastaRecords): lines of
    sequence before the first header (or with no header at all) are a record of their own, named `seq<N>` by
    its place, as a header with no usable id is. What both refuse: no sequence at all, and a header with no
    sequence under it (said here, before anything is sent; the form leaves it to the API's 400)."""
    records: list[tuple[str, str]] = []
    header: str | None = None
    chunks: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            if header is not None:
                records.append((header, "".join(chunks)))
            header, chunks = line[1:], []
        else:
            if header is None:
                header = ""  # sequence with no header line above it: a record without an id
            chunks.append("".join(line.split()))
    if header is not None:
        records.append((header, "".join(chunks)))
    empty = [h for h, s in records if not s]
    if empty:
        raise InputError(f"FASTA record {quoted(empty[0])} has no sequence")
    if not records:
        raise InputError(f"{source}: no sequence in it")
    return unique(records, "seq")


def sequences_from(argument: str, stdin_text: str | None = None) -> list[Record]:
    """A FASTA file, `-` (FASTA on standard input), or one sequence given on the command line. A file with no
    header at all is one sequence named after the file; on standard input, one named `seq1`."""
    if argument == "-":
        return read_fasta(stdin_text or "", "standard input")
    if not argument.strip():  # `phonos fold "$SEQ"` with SEQ unset: Path("") is ".", said as "a directory"
        raise InputError("the input is empty: give a FASTA file, - for FASTA on standard input, or a sequence")
    path = Path(argument)
    if is_file(path):
        text = read_text(path)
        if any(line.lstrip().startswith(">") for line in text.splitlines()):
            # FASTA, the lines before its first header (if any) a record of their own, as the form reads them
            return read_fasta(text, str(path))
        return unique([(path.stem, "".join(text.split()))], "seq")  # one bare sequence: named after its file
    if re.fullmatch(r"[A-Za-z\s]+", argument):
        return [Record("sequence", "".join(argument.split()).upper())]
    if _is_dir(path):
        raise InputError(f"{path}: a directory, not a FASTA file")
    if "/" in argument or "." in argument:  # a sequence has neither: a file name that is not there
        raise InputError(f"{path}: no such file")
    raise InputError(f"{quoted(argument)} is neither a file nor an amino-acid sequence (letters only)")


def is_file(path: Path) -> bool:
    """Whether a command-line argument names a file. Path.is_file raises on a name the system cannot look up
    (ENAMETOOLONG: any sequence past 255 residues given on the command line); such a name is no file."""
    try:
        return path.is_file()
    except OSError:
        return False


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # as in is_file
        return False


def quoted(value: str) -> str:
    """A user's value as a message repeats it: in JSON's words ("x"), as the API's messages do."""
    return json.dumps(value, ensure_ascii=False)


def ligands_from(path: Path) -> list[Record]:
    suffix = path.suffix.lower()
    if suffix not in (".smi", ".smiles", ".txt", ".csv", ".sdf", ".sd", ".mol"):
        raise InputError(f"{path.name}: ligand files are .smi, .csv or .sdf")
    text = read_text(path)
    if suffix in (".smi", ".smiles", ".txt"):
        pairs = []
        for number, line in enumerate(text.splitlines(), start=1):
            parts = line.split()
            if parts and not line.startswith("#"):
                pairs.append((parts[1] if len(parts) > 1 else f"ligand{number}", parts[0]))
        records = unique(pairs, "ligand")
    elif suffix == ".csv":
        records = _csv(text)
    else:
        records = _sdf(text)
    if not records:
        raise InputError(f"{path.name}: no ligands found")
    return records


def _csv(text: str) -> list[Record]:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return []
    columns = {c.lower(): c for c in rows[0] if c is not None}
    smiles = next((columns[c] for c in ("ligand_description", "smiles", "ligand") if c in columns), None)
    if smiles is None:
        raise InputError("the CSV needs a ligand_description (DiffDock) or smiles column")
    name = next((columns[c] for c in ("complex_name", "name", "id") if c in columns), None)
    path, sequence = columns.get("protein_path"), columns.get("protein_sequence")

    def cell(row: dict[str, str | None], column: str | None) -> str:
        return (row.get(column) or "").strip() if column else ""

    kept = [(number, row) for number, row in enumerate(rows, start=1) if cell(row, smiles)]
    records = unique([(cell(row, name), cell(row, smiles)) for _, row in kept], "ligand")
    # DiffDock's columns: a row's receptor (protein_path), or the sequence DiffDock would fold for it
    return [replace(record, protein_path=cell(row, path), protein_sequence=cell(row, sequence), protein_row=number)
            for record, (number, row) in zip(records, kept, strict=True)]


def _sdf(text: str) -> list[Record]:
    """Records end at a `$$$$` line; a record is its lines as written, so its first is its title (blank: the
    ligand is named `ligand<N>`), the mol block's header lines where RDKit expects them."""
    pairs = []
    for number, lines in enumerate(_sdf_records(text), start=1):
        block = "\n".join(lines) + "\n"
        properties = {key.strip().upper(): value.strip()
                      for key, value in re.findall(r"^>[^<\n]*<([^>\n]+)>[^\n]*\n([^\n]*)", block, re.M)}
        smiles = next((properties[p] for p in _ISOMERIC_PROPERTIES if properties.get(p)), None)
        if smiles is None:
            flat = next((properties[p] for p in _FLAT_PROPERTIES if properties.get(p)), None)
            smiles = _rdkit_smiles(block, number, flat)
        pairs.append((lines[0].strip() or f"ligand{number}", smiles))
    return unique(pairs, "ligand")


def _sdf_records(text: str) -> list[list[str]]:
    """An SDF's records, each its lines; what follows the last `$$$$` counts only if it holds something."""
    records: list[list[str]] = []
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip() == "$$$$":
            records.append(lines)
            lines = []
        else:
            lines.append(line)
    records.append(lines)
    return [record for record in records if any(line.strip() for line in record)]


def _rdkit_smiles(block: str, number: int, flat: str | None = None) -> str:
    """The record's mol block as an isomeric SMILES: RDKit reads a 3D block's stereocentres and double bonds from
    its coordinates (a 2D one's from its wedges). Without RDKit, or where it cannot read the block, a SMILES
    property without stereochemistry (`flat`) if the record has one."""
    try:
        from rdkit import Chem  # optional: the light client does not need it
    except ImportError:
        if flat is not None:
            return flat
        raise InputError(f"SDF record {number} has no SMILES property; add one, or install rdkit to convert it") from None
    molecule = Chem.MolFromMolBlock(block)
    if molecule is None:
        if flat is not None:
            return flat
        raise InputError(f"SDF record {number} is not a readable molecule")
    if molecule.GetNumConformers() and molecule.GetConformer().Is3D():
        Chem.AssignStereochemistryFrom3D(molecule)  # what the parser does already; said, not assumed
    return str(Chem.MolToSmiles(molecule))
