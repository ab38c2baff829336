"""What users fold and dock, read the way the field writes it: FASTA records, and ligand lists as
SMILES files (`SMILES [name]` per line), CSV (DiffDock's `ligand_description` column, or `smiles`,
with `complex_name`/`name`/`id`) or SDF (records carrying a SMILES property; RDKit, when installed,
converts the others)."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SMILES_PROPERTIES = ("SMILES", "smiles", "PUBCHEM_OPENEYE_CAN_SMILES", "PUBCHEM_OPENEYE_ISO_SMILES", "Smiles")
MAX_ID = 80


class InputError(ValueError):
    """An input file the command cannot use; the message says which record and why."""


@dataclass(frozen=True)
class Record:
    id: str  # unique, safe as a file name
    text: str  # the sequence, or the SMILES


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
    columns = {c.lower(): c for c in rows[0]}
    smiles = next((columns[c] for c in ("ligand_description", "smiles", "ligand") if c in columns), None)
    if smiles is None:
        raise InputError("the CSV needs a ligand_description (DiffDock) or smiles column")
    name = next((columns[c] for c in ("complex_name", "name", "id") if c in columns), None)
    pairs = [((row.get(name, "") if name else "") or "", row[smiles].strip()) for row in rows if row[smiles].strip()]
    return unique(pairs, "ligand")


def _sdf(text: str) -> list[Record]:
    pairs = []
    for number, block in enumerate((b for b in text.split("$$$$") if b.strip()), start=1):
        lines = block.strip("\n").splitlines()
        title = lines[0].strip() if lines else ""
        properties = dict(re.findall(r">\s*<([^>]+)>[^\n]*\n([^\n]*)", block))
        smiles = next((properties[p].strip() for p in _SMILES_PROPERTIES if properties.get(p, "").strip()), None)
        if smiles is None:
            smiles = _rdkit_smiles(block, number)
        pairs.append((title or f"ligand{number}", smiles))
    return unique(pairs, "ligand")


def _rdkit_smiles(block: str, number: int) -> str:
    try:
        from rdkit import Chem  # optional: the light client does not need it
    except ImportError:
        raise InputError(f"SDF record {number} has no SMILES property; add one, or install rdkit to convert it") from None
    molecule = Chem.MolFromMolBlock(block)
    if molecule is None:
        raise InputError(f"SDF record {number} is not a readable molecule")
    return str(Chem.MolToSmiles(molecule))
