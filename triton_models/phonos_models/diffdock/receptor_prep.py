"""Reading a real-world receptor file, and a record of every change made to it on the way in.

PDB files as people send them carry NMR ensembles, alternative locations, waters, hydrogens, bound
ligands, selenomethionine and other modified residues, force-field residue names from a prepared
receptor (Amber's HIE/HID/HIP/CYX/..., CHARMM's HSD/HSE/HSP, GROMACS's four-character HISD/...), MD
packages' water names (SOL, TIP3), deuterium, and chains without an id. The
reference (ProDy) keeps the first model and altloc A and drops what is not protein; we do the same,
and `Preparation` says what was dropped, chosen or renamed, so a job's result shows it (JSON
`receptor.preparation`, metadata `receptor` and `warnings`).

Only gemmi, no torch: `pipe_validate` (imported by the job service) uses this module too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gemmi

from phonos_config.json_text import json_value_text
from phonos_models.common.errors import BadInput


class ReceptorError(BadInput):
    """The PDB cannot be used as a receptor; the message says why (shown to the user as a 400)."""


# Reference residue vocabulary (DiffDock `possible_amino_acids`); index 37 = misc.
AMINO_ACIDS: tuple[str, ...] = (
    "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE", "LEU", "LYS", "MET",
    "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL", "HIP", "HIE", "TPO", "HID", "LEV", "MEU",
    "PTR", "GLV", "CYT", "SEP", "HIZ", "CYM", "GLM", "ASQ", "TYS", "CYX", "GLZ",
)  # fmt: skip
STANDARD: dict[str, str] = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E", "GLY": "G",
    "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F", "PRO": "P", "SER": "S",
    "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V",
}  # fmt: skip
# Protonation/disulfide states of prepared receptors, which the PDB's chemical component table
# (and so gemmi) does not know: Amber (HIE, HID, HIP, CYX, CYM, ASH, GLH, LYN) and CHARMM (HSD, HSE,
# HSP). Without this table they were not amino acids and a prepared receptor lost every histidine.
FORCE_FIELD_NAMES: dict[str, str] = {
    "HIE": "H", "HID": "H", "HIP": "H", "HSD": "H", "HSE": "H", "HSP": "H",
    "CYX": "C", "CYM": "C", "ASH": "D", "GLH": "E", "LYN": "K",
}  # fmt: skip
# Other names of a slot's atom, tried when the slot's own name is absent: selenium for MET's SD in MSE,
# and CHARMM's names (ILE's CD, the C-terminal OT1 for O). Key "*": every residue.
SLOT_ALIASES: dict[str, dict[str, str]] = {"MSE": {"SD": "SE"}, "ILE": {"CD1": "CD"}, "*": {"O": "OT1"}}
# Further names of a C-terminal residue's O, tried after SLOT_ALIASES: GROMACS writes the carboxylate's oxygens
# OC1/OC2 (and some tools O1/O2); without them every chain's last residue lost its O slot and counted as
# "missing heavy atoms".
TERMINAL_O_NAMES: tuple[str, ...] = ("OC1", "O1")


def find_slot_atom(residue: gemmi.Residue, slot: str) -> gemmi.Atom | None:
    """The residue's atom for a heavy-atom slot, by its PDB name or a known other name (`SLOT_ALIASES`)."""
    atom = residue.find_atom(slot, "*")
    if atom is not None:
        return atom
    other = SLOT_ALIASES.get(residue.name, {}).get(slot) or SLOT_ALIASES["*"].get(slot)
    atom = residue.find_atom(other, "*") if other else None
    if atom is None and slot == "O":
        atom = next((found for name in TERMINAL_O_NAMES if (found := residue.find_atom(name, "*")) is not None), None)
    return atom


# Water as molecular-dynamics packages name it: GROMACS `SOL` (and `SPC`), Amber `WAT`, CHARMM `TIP3`, and the
# TIPnP/SPC models' other names, heavy water `DOD`/`D2O`. gemmi (and so the PDB's component table) knows only
# HOH, WAT, H2O and DOD: a GROMACS receptor's waters were kept as "other groups" (and written into the complex
# PDB) instead of removed as the reference's `protein` selection removes them. A residue of one of these names
# counts as water only when it is one: a single oxygen plus hydrogens and massless virtual sites (TIP4P's MW,
# TIP5P's LP1/LP2, element X), so a real ligand that happened to carry such a name is left alone.
MD_WATER_NAMES: frozenset[str] = frozenset({
    "HOH", "WAT", "H2O", "DOD", "D2O", "HHO", "OHH", "SOL", "SPC", "SPE", "TIP", "TP3", "T3P", "TP4", "T4P",
    "TP5", "T5P", "TIP3", "TIP4", "TIP5", "SPCE", "TP3M",
})  # fmt: skip
# Four-character residue names that MD packages write in columns 18-21 (GROMACS's OPLS/GROMOS building blocks,
# CHARMM's TIP3), which the PDB format has no room for: gemmi reads columns 18-20 as the name and 21-22 as the
# chain id, so every HISD of a chain without an id became a residue of chain "D" (ESM-2 then embedded each as a
# one-residue chain) and TIP3 a residue "TIP" of chain "3". Read as the three-letter name of the same residue.
FOUR_CHARACTER_NAMES: dict[str, str] = {
    "HISD": "HID", "HISE": "HIE", "HISH": "HIP", "HISA": "HID", "HISB": "HIE", "HISP": "HIP", "LYSH": "LYS",
    "LYSN": "LYN", "ASPH": "ASH", "GLUH": "GLH", "CYS2": "CYX", "CYSH": "CYS", "TIP3": "TP3", "TIP4": "TP4",
    "TIP5": "TP5", "SPCE": "SPC",
}  # fmt: skip


def is_water(residue: gemmi.Residue) -> bool:
    """A water molecule, by gemmi's names or an MD package's (`MD_WATER_NAMES`, checked to be one oxygen)."""
    if residue.is_water():
        return True
    if residue.name not in MD_WATER_NAMES:
        return False
    oxygens = sum(1 for atom in residue if atom.element == gemmi.Element("O"))
    return oxygens == 1 and all(atom.element == gemmi.Element("O") or atom.is_hydrogen() or atom.element.atomic_number == 0
                                for atom in residue)


def shorten_four_character_names(text: str) -> tuple[str, dict[str, str]]:
    """`text` with the MD packages' four-character residue names (`FOUR_CHARACTER_NAMES`) written as their
    three-letter names, and which were found. Left alone when the file writes two-character chain ids in columns
    21-22 (a standard residue with a letter in column 21): there "HISD" is HIS of chain "D...", not HISD."""
    lines = text.splitlines()
    atoms = [line for line in lines if line.startswith(("ATOM  ", "HETATM")) and len(line) > 21]
    found = {line[17:21] for line in atoms if line[17:21] in FOUR_CHARACTER_NAMES}
    if not found or any(line[17:20] in STANDARD and line[20] != " " and line[17:21] not in FOUR_CHARACTER_NAMES
                        for line in atoms):
        return text, {}
    out = [line[:17] + FOUR_CHARACTER_NAMES[line[17:21]] + " " + line[21:]
           if line.startswith(("ATOM  ", "HETATM")) and line[17:21] in FOUR_CHARACTER_NAMES else line
           for line in lines]
    return "\n".join(out) + "\n", {name: FOUR_CHARACTER_NAMES[name] for name in sorted(found)}


def residue_letter(name: str) -> str:
    """One-letter code of a residue name: the parent amino acid of a modified or force-field residue
    (MSE → M, SEP → S, HIE → H, from the PDB's component table via gemmi), X when unknown."""
    if name in STANDARD:
        return STANDARD[name]
    if name in FORCE_FIELD_NAMES:
        return FORCE_FIELD_NAMES[name]
    info = gemmi.find_tabulated_residue(name)
    parent = info.one_letter_code.upper() if info is not None else " "
    return parent if parent in STANDARD.values() else "X"


def is_amino_acid(name: str) -> bool:
    info = gemmi.find_tabulated_residue(name)
    return (info is not None and info.is_amino_acid()) or name in FORCE_FIELD_NAMES or name in AMINO_ACIDS


def is_protein_residue(residue: gemmi.Residue) -> bool:
    """An amino acid of the receptor: not one marked as a free amino acid (`_mark_free_amino_acids`)."""
    return is_amino_acid(residue.name) and residue.entity_type != gemmi.EntityType.NonPolymer


def _mark_free_amino_acids(model: gemmi.Model) -> None:
    """A block of HETATM records holding one amino acid, after a chain of the same id (the PDB's order: the
    chains, then their hetero groups with the chain's id), is a ligand: e.g. the glutamate bound in a
    glutamate-receptor structure. It was read as one more residue of that chain (and so embedded by ESM-2
    as part of its sequence)."""
    seen: set[str] = set()
    for chain in model:
        acids = [residue for residue in chain if is_amino_acid(residue.name)]
        if (chain.name in seen and len(acids) == 1 and all(residue.het_flag == "H" for residue in chain)):
            acids[0].entity_type = gemmi.EntityType.NonPolymer
        seen.add(chain.name)


# AutoDock's PDBQT writes each atom's partial charge in columns 71-76 ("%6.3f") and its AutoDock type in 78-79,
# over PDB's segment id (73-76) and element (77-78): read as PDB, every atom's charge digits (".066") became its
# segment, so `_split_segments` made each residue and atom a chain of its own (30 residues: 30 one-residue chains
# for ESM-2, every side chain gone, 215 "residues without a CA" warnings) and the job completed on that.
_PDBQT_CHARGE = re.compile(r" *[+-]?\d*\.\d+")


def _is_pdbqt_atom(line: str) -> bool:
    return len(line) >= 76 and _PDBQT_CHARGE.fullmatch(line[70:76]) is not None


def without_pdbqt_columns(text: str) -> tuple[str, bool]:
    """`text` with columns 67-80 of its atom records cleared when it is PDBQT (every ATOM/HETATM record carries a
    charge in 71-76; a PDB has blanks or a segment id there), and whether it was. gemmi then takes each element
    from the atom name, as for a PDB without element columns (AutoDock types such as `A`, `OA`, `HD` and two-letter
    ones written from column 78 are no elements). PDBQT's ROOT/BRANCH/TORSDOF records are not atoms: gemmi skips them."""
    lines = text.splitlines()
    atoms = [line for line in lines if line.startswith(("ATOM  ", "HETATM"))]
    if not atoms or not all(_is_pdbqt_atom(line) for line in atoms):
        return text, False
    cleared = [line[:66] if line.startswith(("ATOM  ", "HETATM")) else line for line in lines]
    return "\n".join(cleared) + "\n", True


_RENAMED = re.compile(r"^chain (\S+) #\d+$")  # a `renamed_chains` key of a repeated chain id (_label_chains)


@dataclass(frozen=True)
class Preparation:
    """What reading the file changed; counts of atoms/residues (model 1 unless said otherwise)."""

    models: int = 1  # MODELs in the file; only the first is used (an NMR ensemble is not one structure)
    altloc_residues: int = 0  # residues with alternative locations; the first listed (usually A) is kept
    hydrogens_removed: int = 0  # of the receptor (a water's go with it), deuterium included
    waters_removed: int = 0
    deuterium_removed: int = 0  # of hydrogens_removed: element D (neutron structures, H/D exchange), dropped as H is
    water_names: dict[str, int] = field(default_factory=dict)  # residue name → waters removed (HOH, SOL, WAT, TP3, ...)
    altlocs_kept: dict[str, int] = field(default_factory=dict)  # altloc letter kept → residues (occupancy set to 1.00)
    four_character_names: dict[str, str] = field(default_factory=dict)  # MD name in columns 18-21 → name read (HISD → HID)
    other_groups: dict[str, int] = field(default_factory=dict)  # non-protein residue name → count, ignored
    mapped_residues: dict[str, str] = field(default_factory=dict)  # non-standard name → parent letter used
    unknown_residues: dict[str, int] = field(default_factory=dict)  # amino acids of unknown parent → count
    residues_without_ca: tuple[str, ...] = ()  # "A:45" amino acids skipped: the model needs the CA
    # "unnamed chain 2" (blank id) or "chain A #2" (a second protein chain with id A, after TER) → id given
    renamed_chains: dict[str, str] = field(default_factory=dict)
    residues_missing_atoms: int = 0  # residues lacking heavy atoms of their type (set by the featuriser)
    pdbqt: bool = False  # an AutoDock PDBQT file: its charge and atom-type columns were ignored

    def as_json(self) -> dict[str, Any]:
        return {
            "models_in_file": self.models,
            "model_used": 1,
            "altloc_residues": self.altloc_residues,
            # the letters actually kept (the first listed per atom), e.g. "A"; "" when the file has none
            "altloc_kept": ", ".join(sorted(self.altlocs_kept)),
            "altlocs_kept": dict(self.altlocs_kept),
            "hydrogens_removed": self.hydrogens_removed,
            "deuterium_removed": self.deuterium_removed,
            "waters_removed": self.waters_removed,
            "water_names": dict(self.water_names),
            "four_character_residue_names": dict(self.four_character_names),
            "other_groups_ignored": dict(self.other_groups),
            "mapped_residues": dict(self.mapped_residues),
            "unknown_residues": dict(self.unknown_residues),
            "residues_without_ca": list(self.residues_without_ca),
            "renamed_chains": dict(self.renamed_chains),
            "residues_missing_atoms": self.residues_missing_atoms,
            "pdbqt_columns_ignored": self.pdbqt,
        }

    def warnings(self) -> list[str]:
        """One sentence per change a user should know about (metadata `warnings`)."""
        out: list[str] = []
        if self.pdbqt:
            out.append("receptor file is PDBQT (AutoDock): read as PDB, its partial charges and atom types "
                       "(columns 67-80) ignored, elements taken from the atom names")
        if self.models > 1:
            out.append(f"receptor file has {self.models} models (an ensemble); only model 1 was docked into")
        if self.altloc_residues:
            kept = ", ".join(f"{letter} ({n} residue{'s' if n != 1 else ''})" for letter, n in sorted(self.altlocs_kept.items()))
            out.append(f"{self.altloc_residues} receptor residue(s) have alternative locations; the first listed was kept"
                       f"{': altloc ' + kept if kept else ''}, written with occupancy 1.00")
        if self.four_character_names:
            pairs = ", ".join(f"{name}->{short}" for name, short in self.four_character_names.items())
            out.append(f"receptor residue names of four characters (an MD package's, columns 18-21) read as: {pairs}")
        if self.deuterium_removed:
            out.append(f"{self.deuterium_removed} deuterium atom(s) of the receptor were removed, as hydrogens are "
                       "(DiffDock's receptor graph has heavy atoms only)")
        if self.mapped_residues:
            pairs = ", ".join(f"{name}->{letter}" for name, letter in sorted(self.mapped_residues.items()))
            out.append(f"non-standard receptor residues read as their parent amino acid: {pairs}")
        if self.unknown_residues:
            names = ", ".join(f"{name} x{n}" for name, n in sorted(self.unknown_residues.items()))
            out.append(f"receptor residues of unknown type ({names}) were kept as unknown amino acids (backbone only, "
                       "G for ESM-2)")
        if self.residues_without_ca:
            shown = ", ".join(self.residues_without_ca[:10]) + (" ..." if len(self.residues_without_ca) > 10 else "")
            out.append(f"{len(self.residues_without_ca)} receptor residue(s) without a CA atom were left out: {shown}")
        if self.renamed_chains:
            pairs = ", ".join(f"{what} -> {new}" for what, new in self.renamed_chains.items())
            out.append(f"receptor chains without an id of their own were given one: {pairs}")
        if self.residues_missing_atoms:
            out.append(f"{self.residues_missing_atoms} receptor residue(s) lack heavy atoms of their type; the atoms "
                       "present were used")
        return out


def refuse_mmcif(text: str) -> None:
    """`ReceptorError` naming mmCIF when `text` is one (a `data_` block or an `_atom_site` loop). The job
    service calls it before its own PDB-or-path guess: mmCIF atom lines (`ATOM 1 N ...`) are no PDB records."""
    if text.lstrip().startswith("data_") or "\n_atom_site." in text:
        raise ReceptorError("protein PDB looks like mmCIF; send the receptor in PDB format "
                            "(e.g. `gemmi convert receptor.cif receptor.pdb`)")


def _parse(text: str) -> gemmi.Structure:
    refuse_mmcif(text)
    try:
        # TER ends a chain: two chains without ids (or with the same id) are not one chain
        # gemmi reads a last line that ends without a newline one character short, so an ATOM record cut
        # after the coordinates (54 columns, as some tools write them) would be "too short"
        return gemmi.read_pdb_string(text if text.endswith("\n") else text + "\n", split_chain_on_ter=True)
    except (RuntimeError, ValueError) as exc:
        raise ReceptorError(f"protein PDB could not be parsed: {exc}") from None


def _label(chain: gemmi.Chain) -> str:
    """The chain's label as the featuriser keys it (pipe_validate.protein_residues): segment + chain id."""
    return (chain[0].segment.strip() if len(chain) else "") + chain.name.strip()


def _split_segments(model: gemmi.Model) -> None:
    """One chain per segment (CHARMM/NAMD files name their chains by segment, PROA, PROB, with blank or equal
    chain ids): else two segments numbered alike share residue numbers in one chain, and gemmi reads the
    second's residues as alternative conformations of the first's and drops them (8 of 30 residues of the
    test receptor went so, without a word). Each piece keeps its chain id; the segment tells them apart."""
    if all(len({residue.segment for residue in chain}) <= 1 for chain in model):
        return
    model.split_chains_by_segments(gemmi.HowToNameCopiedChain.Dup)  # names a piece chain id + segment
    for chain in model:
        segment = chain[0].segment if len(chain) else ""
        if segment and chain.name.endswith(segment):
            chain.name = chain.name[: len(chain.name) - len(segment)]


def _label_chains(model: gemmi.Model) -> dict[str, str]:
    """Give each protein chain a label of its own (else ESM-2 would embed two chains as one sequence):
    several chains without an id get unused letters (one blank protein chain keeps its blank id), and a
    chain whose id an earlier protein chain already has (two blocks with one id separated by TER, as
    some tools write them) gets an unused letter too. Returns what was renamed: "unnamed chain 2" or
    "chain A #2" (the second protein chain with id A in the file) → the label used."""
    protein = [chain for chain in model
               if any(is_protein_residue(r) and r.find_atom("CA", "*") is not None for r in chain)]
    blank = [chain for chain in protein if not _label(chain)]
    seen: Counter[str] = Counter()
    repeated: list[tuple[gemmi.Chain, str]] = []
    for chain in protein:
        if _label(chain):
            seen[_label(chain)] += 1
            if seen[_label(chain)] > 1:
                repeated.append((chain, f"chain {_label(chain)} #{seen[_label(chain)]}"))  # read by _RENAMED
    todo = ([(chain, f"unnamed chain {n}") for n, chain in enumerate(blank, start=1)] if len(blank) > 1 else [])
    todo += repeated
    if not todo:
        return {}
    used = {chain.name for chain in model}
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789" if c not in used]
    if len(free) < len(todo):
        raise ReceptorError(f"protein PDB has {len(todo)} chains without a chain id of their own (blank or "
                            "repeated after TER); give each chain its own chain id")
    renamed: dict[str, str] = {}
    for (chain, what), new in zip(todo, free, strict=False):
        chain.name = new
        renamed[what] = new
    return renamed


def original_chain_ids(renamed: Mapping[str, str]) -> dict[str, str]:
    """`Preparation.renamed_chains` read back: label given → the chain id the file had ("" for none)."""
    out: dict[str, str] = {}
    for what, new in renamed.items():
        match = _RENAMED.match(what)
        out[new] = match.group(1) if match else ""
    return out


def _check_no_merged_atoms(model: gemmi.Model) -> None:
    """Two atoms of one name in one residue, or two residues of one number without alternative locations:
    records of different chains (same or blank id, no TER) were read as one chain. Docking into that would be
    a silently wrong structure (gemmi would keep one of two such residues as an "alternative conformation")."""
    advice = "give each chain its own chain id (or separate them with TER)"
    for chain in model:
        where = f"chain {json_value_text(chain.name)}" if chain.name.strip() else "chain without an id"
        for residue in chain:
            if not is_amino_acid(residue.name):
                continue  # a ligand's atoms are often all named alike ("C", "C", ...); it is ignored anyway
            names = Counter((atom.name, atom.altloc) for atom in residue if not atom.is_hydrogen())
            twice = sorted(name for (name, _), n in names.items() if n > 1)
            if twice:
                raise ReceptorError(f"protein PDB {where}: residue {residue.name} {residue.seqid} has atom {twice[0]} "
                                    f"twice: atoms of different chains share a chain id and residue number; {advice}")
        plain = Counter(str(residue.seqid).strip() for residue in chain
                        if is_amino_acid(residue.name) and not any(atom.has_altloc() for atom in residue))
        numbers = [number for number, n in plain.items() if n > 1]
        if numbers:
            raise ReceptorError(f"protein PDB {where} has two residues numbered {numbers[0]}: residues of different "
                                f"chains share a chain id and residue numbers; {advice}")


def _check_finite_coordinates(model: gemmi.Model) -> None:
    """`nan`/`inf` in a coordinate column (written by some tools for atoms they failed to place) reads as a float
    in gemmi. Docked, a NaN CA made the receptor centre NaN: every pose NaN, and the job's metadata, which no JSON
    can carry, broke every read of the job and of the account's job list. Hydrogens and waters are gone by now."""
    for chain in model:
        for residue in chain:
            for atom in residue:
                if not all(math.isfinite(v) for v in (atom.pos.x, atom.pos.y, atom.pos.z)):
                    where = f"{residue.name} {chain.name.strip() or '(no chain id)'} {residue.seqid.num}{residue.seqid.icode.strip()}"
                    raise ReceptorError(
                        f"protein PDB atom {atom.name} of {where} has coordinates that are not numbers "
                        f"({atom.pos.x:g}, {atom.pos.y:g}, {atom.pos.z:g}); fix or remove that record"
                    )


def _check_no_coinciding_ca(model: gemmi.Model) -> None:
    """Two residues' CA atoms at one place (to 0.01 Å; in a protein they are 3.8 Å apart or more): a file of
    placeholder coordinates (every atom at 0, 0, 0) was docked and charged as if it were a structure."""
    seen: dict[tuple[float, float, float], str] = {}
    for chain in model:
        for residue in chain:
            ca = residue.find_atom("CA", "*")
            if ca is None or not is_protein_residue(residue):
                continue
            where = f"{residue.name} {chain.name.strip() or '(no chain id)'} {residue.seqid.num}{residue.seqid.icode.strip()}"
            at = (round(ca.pos.x, 2), round(ca.pos.y, 2), round(ca.pos.z, 2))
            if at in seen:
                raise ReceptorError(f"protein PDB residues {seen[at]} and {where} have their CA atoms at the same place "
                                    f"({at[0]:g}, {at[1]:g}, {at[2]:g}): these coordinates are not a structure")
            seen[at] = where


_AtomKey = tuple[int, str, str, str]  # chain index in the model, residue number, residue name, atom name


def _first_altlocs(model: gemmi.Model) -> dict[_AtomKey, str]:
    """The first-listed altloc letter of every atom that has alternative locations (the one gemmi keeps)."""
    first: dict[_AtomKey, str] = {}
    for index, chain in enumerate(model):
        for residue in chain:
            for atom in residue:
                if atom.has_altloc():
                    first.setdefault((index, str(residue.seqid), residue.name, atom.name), atom.altloc)
    return first


def _single_occupancy(model: gemmi.Model, first: dict[_AtomKey, str]) -> dict[str, int]:
    """Occupancy 1.00 for every atom left of an alternative-location set (only one location remains: a 0.50
    written into the complex PDB said half the atom was elsewhere); returns altloc letter kept → residues."""
    kept: dict[str, set[tuple[int, str]]] = {}
    for index, chain in enumerate(model):
        for residue in chain:
            for atom in residue:
                letter = first.get((index, str(residue.seqid), residue.name, atom.name))
                if letter is not None:
                    atom.occ = 1.0
                    kept.setdefault(letter, set()).add((index, str(residue.seqid)))
    return {letter: len(residues) for letter, residues in sorted(kept.items())}


# CHARMM's ion residue (and atom) names whose first two letters are another element (POT read as polonium) or none
# (SOD): CHARMM-GUI systems name their salt so.
CHARMM_IONS: dict[str, str] = {"SOD": "Na", "POT": "K", "CES": "Cs", "LIT": "Li", "RUB": "Rb", "CAL": "Ca", "CLA": "Cl"}


def _ion_elements(model: gemmi.Model) -> None:
    """An ion's element from its residue name when the file has no element columns: GROMACS writes a sodium ion as
    atom " NA " of residue NA, which gemmi (as the PDB format's alignment says) reads as nitrogen, a chloride " CL "
    as carbon, a calcium " CA " as carbon: the complex PDB then showed a nitrogen or carbon atom where the ion sits.
    Only single-atom residues whose atom has the residue's name, which no ion-free chemistry writes."""
    for chain in model:
        for residue in chain:
            if len(residue) != 1 or residue[0].name != residue.name:
                continue
            if residue.name in CHARMM_IONS:
                residue[0].element = gemmi.Element(CHARMM_IONS[residue.name])
                continue
            element = gemmi.Element(residue.name)  # reads the first two letters: "LIG" is Li, so compare names back
            if element.atomic_number > 1 and element.name.upper() == residue.name and residue[0].element != element:
                residue[0].element = element


def _remove_waters(model: gemmi.Model) -> dict[str, int]:
    """Remove every water (`is_water`: gemmi's names and the MD packages'); returns residue name → count."""
    names: Counter[str] = Counter()
    for chain in model:
        for position in range(len(chain) - 1, -1, -1):
            if is_water(chain[position]):
                names[chain[position].name] += 1
                del chain[position]
    return dict(sorted(names.items()))


def read_structure_with_report(pdb_text: str) -> tuple[gemmi.Structure, Preparation]:
    """First model of the PDB text, first conformer per atom, no hydrogens or waters, and the record."""
    if not pdb_text.strip():
        raise ReceptorError("protein PDB is empty")
    pdb_text, pdbqt = without_pdbqt_columns(pdb_text)
    pdb_text, four_character = shorten_four_character_names(pdb_text)
    structure = _parse(pdb_text)
    if len(structure) == 0:
        raise ReceptorError("protein PDB has no ATOM/HETATM records")
    models = len(structure)
    for index in range(models - 1, 0, -1):
        del structure[index]
    model = structure[0]
    _ion_elements(model)
    _split_segments(model)
    _check_no_merged_atoms(model)  # before altlocs are removed: gemmi keeps one atom per name then
    # distinct positions: a microheterogeneous site (SER in altloc A, THR in B) is two residues in gemmi
    altloc = len({(chain.name, str(residue.seqid)) for chain in model for residue in chain
                  if any(atom.has_altloc() for atom in residue)})
    first_altloc = _first_altlocs(model)
    structure.remove_alternative_conformations()
    altlocs_kept = _single_occupancy(model, first_altloc)
    # waters first: their hydrogens (2 per water of a solvated MD box) are no receptor hydrogens
    water_names = _remove_waters(model)
    hydrogens = sum(1 for chain in model for residue in chain for atom in residue if atom.is_hydrogen())
    deuterium = sum(1 for chain in model for residue in chain for atom in residue if atom.element == gemmi.Element("D"))
    structure.remove_hydrogens()  # gemmi's is_hydrogen() counts D as H: deuterium goes exactly as hydrogen does
    structure.remove_empty_chains()
    _check_finite_coordinates(model)
    _mark_free_amino_acids(model)
    _check_no_coinciding_ca(model)
    renamed = _label_chains(model)
    others: Counter[str] = Counter()
    mapped: dict[str, str] = {}
    unknown: Counter[str] = Counter()
    no_ca: list[str] = []
    for chain in model:
        for residue in chain:
            if not is_protein_residue(residue):
                others[residue.name] += 1
                continue
            if residue.find_atom("CA", "*") is None:
                no_ca.append(f"{chain.name}:{residue.seqid.num}{residue.seqid.icode.strip()}")
                continue
            letter = residue_letter(residue.name)
            if letter == "X":
                unknown[residue.name] += 1
            elif residue.name not in STANDARD:
                mapped[residue.name] = letter
    report = Preparation(
        models=models, altloc_residues=altloc, hydrogens_removed=hydrogens, waters_removed=sum(water_names.values()),
        deuterium_removed=deuterium, water_names=water_names, altlocs_kept=altlocs_kept,
        four_character_names=four_character, other_groups=dict(others), mapped_residues=mapped, unknown_residues=dict(unknown),
        residues_without_ca=tuple(no_ca), renamed_chains=renamed, pdbqt=pdbqt,
    )  # fmt: skip
    return structure, report
