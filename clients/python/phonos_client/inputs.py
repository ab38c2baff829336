"""What users fold and dock, read the way the field writes it: FASTA records, and ligand lists as
SMILES files (`SMILES [name]` per line), CSV (DiffDock's `ligand_description` column, or `smiles`,
with `complex_name`/`name`/`id`, and DiffDock's `protein_path`/`protein_sequence`) or SDF (records
carrying an isomeric SMILES property; RDKit, when installed, converts the others' mol blocks)."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from phonos_client.columns import visible

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
# What the API refuses in a job's name (jobservice: MAX_NAME_LENGTH, and labels.py's printable-text rule), known here
# so that a record whose id it would refuse still runs, under its file name, instead of failing as a 400.
MAX_JOB_NAME = 200
_REFUSED_IN_NAMES = frozenset("\u2028\u2029"  # line and paragraph separators
                              "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"  # bidi
                              "\u200b\u2060\ufeff")  # invisible


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
    # the job's name as the input gives it: a FASTA id as written (`sp|P01308|INS_HUMAN`, repeats and all), a
    # ligand's whole name ("aspirin lysine salt"); empty (none given, or one the API would refuse): `id`
    name: str = ""
    # why the record cannot be sent (an SDF record RDKit cannot read): it is reported as rejected, the others run
    error: str = ""
    # what the user should know about how it was read (its SMILES property disagrees with its drawn structure)
    note: str = ""

    @property
    def job_name(self) -> str:
        return self.name or self.id


def file_id(raw: str, fallback: str) -> str:
    """A FASTA id (or ligand name) as a file name: its first word, unsafe characters replaced."""
    first = raw.strip().split()[0] if raw.strip() else ""
    cleaned = _UNSAFE.sub("_", first).strip("._")[:MAX_ID]
    return cleaned or fallback


def unique(records: Iterable[tuple[str, str]], prefix: str, *, whole_names: bool = False) -> list[Record]:
    """Records whose `id` is their id as a file name, each used once (their job's `name` is the id as given:
    _named): a repeated id gets `_2`, `_3`..., the first of those not taken (ids `a`, `a`, `a_2` give `a`, `a_2`,
    `a_2_2`). Names that differ only in case count as taken too: on macOS and Windows `A.pdb` and `a.pdb` are one
    file, and the second job's results would overwrite the first's. `whole_names` (ligands): a name is all its words, not a FASTA id's first one
    ("aspirin lysine salt" is the job's name, `aspirin_lysine_salt` its files'; it was "aspirin", and a second
    "aspirin sodium" became `aspirin_2`)."""
    taken: set[str] = set()
    out = []
    for number, (raw_id, text) in enumerate(records, start=1):
        words = " ".join(raw_id.split()) if whole_names else "".join(raw_id.split()[:1])
        base = name = file_id(words.replace(" ", "_"), f"{prefix}{number}")
        repeat = 1
        while name.casefold() in taken:
            repeat += 1
            name = f"{base}_{repeat}"
        taken.add(name.casefold())
        out.append(_named(Record(name, text), words))
    return out


def _named(record: Record, given: str) -> Record:
    """`record` with the job name its input gave it (a FASTA id as written: `sp|P01308|INS_HUMAN`, `dup` for each of
    two `>dup` records, so `jobs ls --name` finds what the file says), or, when the API would refuse that as a name,
    none (the job is then named after the record's file name, `record.id`) and a note saying so."""
    why = name_refusal(given)
    if why is None:
        return replace(record, name=given)
    return replace(record, note=f"{quoted(visible(given))} cannot be a job's name ({why}): its job is named {record.id}")


def name_refusal(name: str) -> str | None:
    """Why the API would refuse `name` as a job's name, in words, or None when it takes it."""
    if len(name) > MAX_JOB_NAME:
        return f"longer than {MAX_JOB_NAME} characters"
    bad = next((c for c in name if unicodedata.category(c) == "Cc" or c in _REFUSED_IN_NAMES), None)
    return None if bad is None else f"it holds U+{ord(bad):04X}, which is not printable text"


UTF8_BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
DOS_END_OF_FILE = "\x1a"  # Ctrl-Z, which old Windows tools still write after the last line


def decoded_text(data: bytes, source: str) -> str:
    """Text as Windows tools and Excel write it, too: a UTF-8 byte-order mark dropped (Excel's "CSV UTF-8", Notepad
    and PowerShell write one; it became part of the first FASTA header, SMILES or CSV column name), UTF-16 with its
    mark decoded (Excel's "Unicode Text", PowerShell 5's `>`), a trailing Ctrl-Z dropped. Anything else that is not
    UTF-8 is an InputError that says which: text in another encoding (save it as UTF-8), UTF-16 without its mark,
    or no text at all."""
    if data.startswith(UTF16_BOMS):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError(f"{source}: starts as UTF-16 text but does not decode as it; save it as UTF-8") from None
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{source}: {_not_utf8(data)}") from None
    if "\0" in text:  # UTF-16 without a mark reads as UTF-8 with a NUL after every ASCII letter
        raise InputError(f"{source}: {_not_utf8(data)}")
    return text.rstrip(DOS_END_OF_FILE)


def _not_utf8(data: bytes) -> str:
    sample = data[:4096]
    if sample and sample.count(0) * 4 >= len(sample) and (sample[1::2].count(0) * 2 >= len(sample[1::2])
                                                        or sample[0::2].count(0) * 2 >= len(sample[0::2])):
        return "UTF-16 text without a byte-order mark; save it as UTF-8"
    if 0 in sample or sum(b < 9 or 13 < b < 32 for b in sample) * 20 > len(sample):
        return "not a text file"
    return "not UTF-8 text (Latin-1 or another encoding?); save it as UTF-8"


def read_text(path: Path) -> str:
    """An input file's text (decoded_text): one that is empty or not text (a binary, an image) is an InputError
    naming it, before anything is sent."""
    try:
        text = decoded_text(path.read_bytes(), str(path))
    except FileNotFoundError:  # as `fold`'s FASTA says it, not Python's "[Errno 2] No such file or directory: '…'"
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: a directory, not a file") from None
    except OSError as exc:  # unreadable (permissions, an I/O error): the system's words, without Python's
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
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


# A command-line argument of at least this many letters, with only digits, '-', '*' and ':' besides, is a sequence
# pasted from an alignment or a translation: sent, for the server's refusal to say what to remove. Fewer, and it is
# as likely a mistyped file name (`seq-1`), which the command says itself.
PASTED_MIN_LETTERS = 10


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
        # One bare sequence: named after its file, all of its name ("kinase domain v2.txt" is the job "kinase domain
        # v2", its files kinase_domain_v2.pdb; it was "kinase", a FASTA id's first word).
        return unique([(path.stem, "".join(text.split()))], "seq", whole_names=True)
    if _is_dir(path):  # before the letters: `mkdir seqs; phonos fold seqs` folded "SEQS", and charged it
        raise InputError(f"{path}: a directory, not a FASTA file")
    if re.fullmatch(r"[A-Za-z\s]+(?::[A-Za-z\s]+)*", argument):  # a complex's chains joined by ':', as in FASTA
        text = "".join(argument.split()).upper()
        if argument.islower() and argument.isalpha():  # `kinases`: a file name mistyped, or a sequence typed so?
            logging.getLogger("phonos_client").info(
                "no file %s here: folding the letters as the sequence %s", quoted(argument), text)
        return [Record("sequence", text)]
    if re.fullmatch(r"[A-Za-z0-9\s:*-]+", argument) and len(re.findall(r"[A-Za-z]", argument)) >= PASTED_MIN_LETTERS:
        # A sequence pasted with a stop codon, gaps or position numbers (`MKTVRQ-ERL*`): the server's refusal names
        # each and what to do (not charged), where this said only "letters only".
        return [Record("sequence", "".join(argument.split()).upper())]
    if "/" in argument or "." in argument:  # a sequence has neither: a file name that is not there
        raise InputError(f"{path}: no such file")
    raise InputError(f"{quoted(argument)} is neither a file nor an amino-acid sequence (letters only; a complex's "
                     "chains joined by ':')")


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
    if suffix not in (".smi", ".smiles", ".txt", ".csv", ".tsv", ".sdf", ".sd", ".mol"):
        raise InputError(f"{path.name}: ligand files are .smi, .csv (or .tsv) or .sdf")
    text = read_text(path)
    if suffix in (".smi", ".smiles", ".txt"):
        records = _smi(text)
    elif suffix in (".csv", ".tsv"):
        records = _csv(text, path.parent)
    else:
        records = _sdf(text)
    if not records:
        raise InputError(f"{path.name}: no ligands found")
    return records


def _smi(text: str) -> list[Record]:
    """`SMILES name` lines: the name is the rest of the line, all its words (Daylight's SMILES file). A first line
    whose first field is `SMILES` is a spreadsheet's column header, not a ligand (it was sent, and refused)."""
    pairs: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split(None, 1)
        if not parts or line.startswith("#"):
            continue
        if not pairs and parts[0].split(";")[0].split(",")[0].casefold() == "smiles":
            continue
        if ";" in parts[0] or "," in parts[0]:
            # Neither is in SMILES: a spreadsheet's row saved as .smi/.txt (`CCO;ethanol`) was sent whole and
            # refused as a SMILES with no word about why.
            mark = "semicolon" if ";" in parts[0] else "comma"
            raise InputError(f"line {number}: {quoted(parts[0][:60])} holds a {mark}, which no SMILES has: a "
                             "SMILES file is one `SMILES name` a line, separated by a space or tab; save a "
                             "spreadsheet as .csv with a smiles column instead")
        pairs.append((parts[1] if len(parts) > 1 else f"ligand{number}", parts[0]))
    return unique(pairs, "ligand", whole_names=True)


_RDKIT_STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\]\s*")
_LIGAND_FILE = re.compile(r"\.(sdf|sd|mol|mol2|pdb|pdbqt)$", re.I)


SMILES_COLUMNS = ("ligand_description", "smiles", "ligand")
# A spreadsheet's "CSV" in a locale whose decimal mark is a comma separates its cells with semicolons (Excel in
# most of Europe); a "Text (Tab delimited)" export, with tabs.
CSV_SEPARATORS = (",", ";", "\t")


def _csv_separator(text: str) -> str:
    """The separator whose header row names a ligand column; a comma when none does (the error then says which
    columns it read, and names a separator the header holds)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    for separator in CSV_SEPARATORS:
        cells = next(csv.reader([header], delimiter=separator), [])
        if any(cell.strip().lower() in SMILES_COLUMNS for cell in cells):
            return separator
    return ","


def _csv(text: str, folder: Path = Path(".")) -> list[Record]:
    separator = _csv_separator(text)
    rows = list(csv.DictReader(io.StringIO(text), delimiter=separator))
    if not rows:
        return []
    columns = {c.strip().lower(): c for c in rows[0] if c is not None}
    smiles = next((columns[c] for c in SMILES_COLUMNS if c in columns), None)
    if smiles is None:
        header = [c.strip() for c in rows[0] if c is not None]
        read = ", ".join(quoted(c) for c in header[:6]) + (", ..." if len(header) > 6 else "")
        raise InputError(f"the CSV needs a ligand_description (DiffDock) or smiles column; its header row has "
                         f"{len(header)} column{'s' if len(header) != 1 else ''}: {read}")
    name = next((columns[c] for c in ("complex_name", "name", "id") if c in columns), None)
    path, sequence = columns.get("protein_path"), columns.get("protein_sequence")

    def cell(row: dict[str, str | None], column: str | None) -> str:
        return (row.get(column) or "").strip() if column else ""

    kept = [(number, row) for number, row in enumerate(rows, start=1) if cell(row, smiles)]
    records = unique([(cell(row, name), cell(row, smiles)) for _, row in kept], "ligand", whole_names=True)
    # DiffDock's columns: a row's receptor (protein_path), or the sequence DiffDock would fold for it
    return [_ligand_file(replace(record, protein_path=cell(row, path), protein_sequence=cell(row, sequence),
                                 protein_row=number), folder)
            for record, (number, row) in zip(records, kept, strict=True)]


def _ligand_file(record: Record, folder: Path) -> Record:
    """A DiffDock CSV row whose ligand_description is a file (DiffDock reads .sdf/.mol2/.mol/.pdb there): an SDF or
    MOL file is read as `--ligands FILE.sdf` reads one record (from the current folder, else the CSV's); another
    kind is refused with the way to convert it. It was sent as a SMILES "ligands/1a0q.sdf"."""
    if not _LIGAND_FILE.search(record.text):
        return record
    said = f"row {record.protein_row}: ligand_description {record.text}"
    path = Path(record.text).expanduser()
    found = next((p for p in (path, folder / path) if is_file(p)), None)
    if found is None:
        return replace(record, error=f"{said}: no such file")
    if found.suffix.lower() not in (".sdf", ".sd", ".mol"):
        return replace(record, error=f"{said}: a {found.suffix} file; convert it to SMILES (e.g. `obabel {found.name} "
                                     "-osmi`) or to .sdf")
    try:
        read = _sdf(read_text(found))
    except InputError as exc:
        return replace(record, error=f"{said}: {exc}")
    if not read:
        return replace(record, error=f"{said}: no molecule in it")
    first = read[0]
    error = f"{said}: {first.error}" if first.error else ""
    return replace(record, text=first.text, error=error, note=first.note or record.note)


def _sdf(text: str) -> list[Record]:
    """Records end at a `$$$$` line; a record is its lines as written, so its first is its title (blank: the
    ligand is named `ligand<N>`), the mol block's header lines where RDKit expects them. A record that cannot be
    read comes back with its `error`: it is reported as rejected and the others run (one bad record stopped the
    whole file)."""
    pairs: list[tuple[str, str]] = []
    problems: list[tuple[str, str]] = []  # (error, note) by record
    for number, lines in enumerate(_sdf_records(text), start=1):
        block = "\n".join(lines) + "\n"
        title = lines[0].strip()
        said = f"SDF record {number}" + (f" ({quoted(title)})" if title else "")
        properties = {key.strip().upper(): value.strip()
                      for key, value in re.findall(r"^>[^<\n]*<([^>\n]+)>[^\n]*\n([^\n]*)", block, re.M)}
        given = next((properties[p] for p in _ISOMERIC_PROPERTIES if properties.get(p)), None)
        flat = next((properties[p] for p in _FLAT_PROPERTIES if properties.get(p)), None)
        smiles, error, note = given or "", "", ""
        try:
            drawn = _rdkit_smiles(block, said, None if given else flat)
        except InputError as exc:
            if given is None:
                error = str(exc)
        else:
            if drawn == "" and given is None:
                error = f"{said} has no atoms and no SMILES property"
            elif drawn and given is not None and not _same_molecule(given, drawn):  # "": a block of properties only
                # Docked as before, the property (it may hold stereochemistry a 2D block drawn without wedges lacks),
                # but said: one of the two is wrong, and the user has to say which.
                note = (f"{said}: its SMILES property {quoted(given)} is not the molecule drawn in it ({drawn}); "
                        "docking the property's")
            elif given is None:
                smiles = drawn or ""
        pairs.append((title or f"ligand{number}", smiles))
        problems.append((error, note))
    return [replace(record, error=error, note=note or record.note)
            for record, (error, note) in zip(unique(pairs, "ligand", whole_names=True), problems, strict=True)]


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


def _rdkit_smiles(block: str, said: str, flat: str | None = None) -> str:
    """The record's mol block as an isomeric SMILES: RDKit reads a 3D block's stereocentres and double bonds from
    its coordinates (a 2D one's from its wedges). Without RDKit, or where it cannot read the block, a SMILES
    property without stereochemistry (`flat`) if the record has one; else an InputError saying why RDKit could not
    read it (RDKit's own words; its log no longer reaches the terminal); "" for a block without atoms."""
    try:
        from rdkit import Chem  # optional: the light client does not need it
    except ImportError:
        if flat is not None:
            return flat
        raise InputError(f"{said} has no SMILES property; add one, or install rdkit to convert it") from None
    with _rdkit_log() as heard:
        molecule = Chem.MolFromMolBlock(block)
        if molecule is None:
            reason = _sanitize_failure(block) or "; ".join(heard) or "RDKit cannot read its mol block"
    if molecule is None:
        if flat is not None:
            return flat
        raise InputError(f"{said} is not a readable molecule: {reason}")
    if molecule.GetNumConformers() and molecule.GetConformer().Is3D():
        Chem.AssignStereochemistryFrom3D(molecule)  # what the parser does already; said, not assumed
    return str(Chem.MolToSmiles(molecule))


def _sanitize_failure(block: str) -> str | None:
    """Why RDKit refuses a block it can parse (a carbon with five bonds, an aromatic ring it cannot kekulize): the
    sanitisation's own words, e.g. "Explicit valence for atom # 0 C, 5, is greater than permitted". RDKit logs them
    at its error level, beside the stack traces `_rdkit_log` leaves out, so a refused record said only "cannot read
    its mol block" (found by a tester). None where the block does not even parse (the log has that reason)."""
    from rdkit import Chem

    unsanitized = Chem.MolFromMolBlock(block, sanitize=False)
    if unsanitized is None:
        return None
    try:
        Chem.SanitizeMol(unsanitized)
    except Exception as exc:  # RDKit's MolSanitizeException family (AtomValenceException, KekulizeException, ...)
        return str(exc).strip() or type(exc).__name__
    return None


def _same_molecule(given: str, drawn: str) -> bool:
    """Whether a SMILES property names the molecule drawn in its record: the same atoms and bonds, stereochemistry
    aside (a 2D block drawn without wedges has none); a property RDKit cannot read is not compared (the server says
    what is wrong with it)."""
    from rdkit import Chem

    with _rdkit_log():
        molecules = [Chem.MolFromSmiles(text) for text in (given, drawn)]
    if any(molecule is None for molecule in molecules):
        return True
    return len({Chem.MolToSmiles(molecule, isomericSmiles=False) for molecule in molecules}) == 1


@contextmanager
def _rdkit_log() -> Iterator[list[str]]:
    """RDKit's messages while a block is read, kept (a refused record's reason) instead of printed: they went to the
    terminal between the command's own lines ("[12:00:00] Counts line too short"), with a C++ stack trace for some."""
    from rdkit import rdBase

    heard: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.ERROR:  # an invariant's stack trace, line by line: its message is a warning too
                return
            message = _RDKIT_STAMP.sub("", record.getMessage()).strip()
            if message and message not in heard:
                heard.append(message)

    # RDKit's messages go to the Python logger "rdkit" (whose own handler prints them to stderr, as RDKit does by
    # default); while the block is read, only here.
    rdBase.LogToPythonLogger()
    logger = logging.getLogger("rdkit")
    handlers, propagate = logger.handlers, logger.propagate
    logger.handlers, logger.propagate = [Keep()], False
    try:
        yield heard
    finally:
        logger.handlers, logger.propagate = handlers, propagate
