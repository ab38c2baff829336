"""Cheap input checks shared by the job service (before credits) and the featurisers.

Only RDKit and gemmi, no torch: the job service imports this to turn an invalid SMILES or a PDB
without protein residues into a 400 before any credit is taken, and `ligand.py` / `receptor.py` use
the very same functions, so what validation accepts is what the model can run.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import gemmi
from rdkit import Chem, rdBase

from phonos_config.diffdock import MAX_SMILES_LENGTH
from phonos_config.json_text import json_value_text
from phonos_models.common.errors import BadInput

from .receptor_prep import ReceptorError, is_protein_residue, read_structure_with_report

MIN_HEAVY_ATOMS = 2  # one atom: every ligand-centre vector is zero and the score model returns NaN
MAX_HEAVY_ATOMS = 150  # larger "ligands" are peptides/macromolecules; DiffDock is not trained on them
MAX_RESIDUES = 3000  # the reference refuses larger receptors
# Fewer residues are a peptide or a fragment, not a receptor: no pocket for a ligand to dock into. Nothing in
# the featurisation fails below it (a residue is a node when it has a CA, the kNN graph links up to 24 of
# them, and 1 residue gives a graph without edges), so DiffDock "docks" into anything, and the poses and
# confidences mean nothing; PDBBind, which it was trained on, holds proteins of dozens of residues and more.
# Counted as the model's nodes are: amino acids with a CA (a CA-only trace counts, as in the reference).
MIN_RESIDUES = 10
MAX_CHAIN_LENGTH = 1022  # ESM-2's positional limit per chain (the reference truncates and then fails)


# Bond types the SDF writer and reader keep (and the featurisation has a slot for, dative as single as in the
# reference): anything else is refused by `parse_smiles`.
_WRITABLE_BONDS = frozenset({Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE,
                             Chem.BondType.AROMATIC, Chem.BondType.DATIVE})


class LigandError(BadInput):
    """The SMILES cannot be docked; the message says why (shown to the user as a 400)."""


def parse_smiles(smiles: str) -> Chem.Mol:
    """A sanitised RDKit molecule, or `LigandError` saying what is wrong with the SMILES."""
    text = smiles.strip()
    if not text:
        raise LigandError("ligand SMILES is empty")
    if any(marker in text for marker in ("V2000", "V3000", "M  END", "@<TRIPOS>")):
        raise LigandError("ligand looks like a MOL/SDF or MOL2 file; DiffDock here takes one SMILES string "
                          "(e.g. `obabel ligand.sdf -osmi` or RDKit's MolToSmiles)")
    if any(line.startswith(("HETATM", "ATOM  ", "COMPND", "CONECT")) for line in text.splitlines()):
        raise LigandError("ligand looks like a PDB file; DiffDock here takes one SMILES string (e.g. `obabel "
                          "ligand.pdb -osmi`; a PDB has no bond orders, so check the SMILES it gives)")
    # The length after the file-format checks: a pasted SDF or PDB is longer than any SMILES, and "is 6233
    # characters" did not say what was wrong with it.
    if len(text) > MAX_SMILES_LENGTH:
        raise LigandError(f"ligand SMILES is {len(text)} characters; the limit is {MAX_SMILES_LENGTH}")
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":  # copied from a CSV or code with its quotes
        raise LigandError(f"ligand SMILES is in quotes ({json_value_text(text[:40])}); send it without them")
    if text.startswith(("InChI=", "AuxInfo=")):
        raise LigandError("ligand looks like an InChI; DiffDock here takes a SMILES string (e.g. RDKit's "
                          "Chem.MolToSmiles(Chem.MolFromInchi(inchi)))")
    if ">" in text.split()[0].replace("->", "").replace("<-", ""):  # not a dative bond's arrow: reactants>agents>products
        raise LigandError("ligand looks like a reaction SMILES (it has '>'); give the SMILES of one molecule")
    if any(c.isspace() for c in text):
        first, rest = text.split(None, 1)
        what = "a CXSMILES extension" if rest.startswith("|") else "more text"
        raise LigandError(f"ligand SMILES contains whitespace: {json_value_text(first)} is followed by {what} "
                          f"({json_value_text(rest)}); give exactly one SMILES string, without a name or |...| "
                          "extension after it")
    _refuse_outside_smiles_alphabet(text)
    rdBase.DisableLog("rdApp.*")
    try:
        mol = Chem.MolFromSmiles(text)
        if mol is None:
            raise LigandError(f"ligand SMILES {json_value_text(text)} could not be parsed by RDKit: "
                              f"{_smiles_problem(text)}")
    finally:
        rdBase.EnableLog("rdApp.*")
    dummies = sum(1 for atom in mol.GetAtoms() if atom.GetAtomicNum() == 0)
    if dummies:  # before: docked with '*' as an atom of "misc" element, and written so into the SDF
        raise LigandError(
            f"ligand SMILES has {dummies} dummy atom(s) '*' (attachment points of a fragment or R-group); "
            "give the whole molecule, with those positions capped (e.g. by H or a methyl)"
        )
    heavy = mol.GetNumHeavyAtoms()
    if heavy == 0:
        raise LigandError("ligand has no heavy atoms")
    if heavy < MIN_HEAVY_ATOMS:
        raise LigandError(
            f"ligand {json_value_text(text)} is a single heavy atom; DiffDock docks molecules of at least "
            f"{MIN_HEAVY_ATOMS} heavy atoms (a lone ion or atom has no orientation: the score model's output is undefined for it)"
        )
    if heavy > MAX_HEAVY_ATOMS:
        raise LigandError(f"ligand has {heavy} heavy atoms; at most {MAX_HEAVY_ATOMS} are supported")
    _refuse_unwritable_bonds(mol)
    fragments = Chem.GetMolFrags(mol, asMols=True)
    if len(fragments) > 1:
        # The reference would dock them as one rigid body; name them and the one a user most likely means.
        names = [Chem.MolToSmiles(fragment) for fragment in fragments]
        biggest = max(range(len(fragments)), key=lambda i: fragments[i].GetNumHeavyAtoms())
        largest = names[biggest]
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        if fragments[biggest].GetNumHeavyAtoms() < MIN_HEAVY_ATOMS:
            # "[Na+].[Cl-]": the advice below sent the user to "[Na+]", which is then refused as a single atom
            raise LigandError(
                f"ligand SMILES has {len(fragments)} disconnected fragments ({listed[:200]}), each a single heavy "
                f"atom ({'a salt of ions' if _all_charged(fragments) else 'ions or atoms'}): nothing DiffDock can dock; "
                f"a ligand is one molecule of at least {MIN_HEAVY_ATOMS} heavy atoms"
            )
        raise LigandError(
            f"ligand SMILES has {len(fragments)} disconnected fragments ({listed[:200]}); dock one molecule: "
            f"for a salt or solvate send the largest fragment, {largest[:120]}"
        )
    return mol


def _refuse_outside_smiles_alphabet(text: str) -> None:
    """`LigandError` for a character no SMILES holds. RDKit's parser stops at the first byte it cannot read and
    returns what came before it: "CCÖ" (a pasted umlaut) was docked as ethane, "OCC²" as ethanol and "CCO\\0" as
    ethanol, each charged as if it were what the user typed. SMILES is printable ASCII, whitespace already refused."""
    for position, char in enumerate(text, start=1):
        if not " " < char < "\x7f":
            shown = json_value_text(char)
            raise LigandError(f"ligand SMILES contains {shown} (U+{ord(char):04X}) at position {position}; SMILES is "
                              "written in ASCII letters, digits and symbols only (a character copied from a document "
                              "or a superscript from a formula?)")


def _all_charged(fragments: tuple[Chem.Mol, ...]) -> bool:
    """Whether every fragment carries a formal charge: "[Na+].[Cl-]" is a salt of ions, "C.C" two methanes."""
    return all(any(atom.GetFormalCharge() for atom in fragment.GetAtoms()) for fragment in fragments)


def _refuse_unwritable_bonds(mol: Chem.Mol) -> None:
    """`LigandError` for a bond the poses' SDF cannot carry: a quadruple bond (SMILES '$') was written as MDL
    bond order 0, which RDKit reads back as an unspecified bond (`C~C`), and the featurisation docked it as a
    single bond. Single, double, triple, aromatic and dative bonds (RDKit writes and reads type 9) are kept."""
    for bond in mol.GetBonds():
        if bond.GetBondType() not in _WRITABLE_BONDS:
            kind = "quadruple bond ('$')" if bond.GetBondType() == Chem.BondType.QUADRUPLE else f"{bond.GetBondType()} bond"
            raise LigandError(
                f"ligand SMILES has a {kind} between atoms {bond.GetBeginAtomIdx() + 1} and {bond.GetEndAtomIdx() + 1}; "
                "DiffDock here docks ligands with single, double, triple, aromatic and dative bonds (the poses are "
                "written as SDF, which has no other bond type)"
            )


def _smiles_problem(text: str) -> str:
    """RDKit's own reason, e.g. "Explicit valence for atom # 1 C, 5, is greater than permitted"."""
    raw = Chem.MolFromSmiles(text, sanitize=False)
    if raw is None:
        return "syntax error (check brackets, ring closures and element symbols)"
    try:
        Chem.SanitizeMol(raw)
    except Exception as exc:  # RDKit's sanitisation errors (valence, kekulisation) share no public base class
        return str(exc).strip()[:200] or type(exc).__name__
    return "check brackets, ring closures, valences"


def canonical_smiles(smiles: str) -> str:
    return Chem.MolToSmiles(parse_smiles(smiles))


def read_structure(pdb_text: str) -> gemmi.Structure:
    """First model of the PDB text, one conformer per atom, without hydrogens and waters
    (`receptor_prep.read_structure_with_report` also says what it changed)."""
    return read_structure_with_report(pdb_text)[0]


def protein_residues(structure: gemmi.Structure) -> Iterator[tuple[str, gemmi.Residue]]:
    """(chain label, residue) for every amino acid with a CA, in file order (ions named CA excluded).

    Amino acids are the PDB's (standard and modified, e.g. MSE) plus force-field names of prepared
    receptors (HIE, CYX, ...; `receptor_prep.FORCE_FIELD_NAMES`)."""
    for chain in structure[0]:
        for residue in chain:
            if not is_protein_residue(residue):
                continue  # not an amino acid, or a free one (a ligand: receptor_prep._mark_free_amino_acids)
            if residue.find_atom("CA", "*") is None:
                continue
            yield residue.segment.strip() + chain.name, residue


@dataclass(frozen=True)
class ReceptorSummary:
    residues: int
    chains: dict[str, int]  # chain label → residues


def check_receptor(pdb_text: str) -> ReceptorSummary:
    """Residue and chain counts; `ReceptorError` when the PDB cannot be a DiffDock receptor."""
    chains: dict[str, int] = {}
    for label, _ in protein_residues(read_structure(pdb_text)):
        chains[label] = chains.get(label, 0) + 1
    total = sum(chains.values())
    if total == 0:
        raise ReceptorError(
            "protein PDB contains no amino-acid residues with a CA atom; DiffDock needs a protein receptor"
        )
    if total < MIN_RESIDUES:
        found = ", ".join(f"chain {json_value_text(label)}: {count}" for label, count in chains.items())
        raise ReceptorError(
            f"protein has {total} amino-acid residue{'s' if total != 1 else ''} with a CA atom ({found}); DiffDock "
            f"needs a protein receptor of at least {MIN_RESIDUES} (a peptide or a fragment has no pocket to dock into)"
        )
    if total > MAX_RESIDUES:
        raise ReceptorError(f"protein has {total} residues; at most {MAX_RESIDUES} are supported")
    for label, length in chains.items():
        if length > MAX_CHAIN_LENGTH:
            raise ReceptorError(
                f"receptor chain {json_value_text(label)} has {length} residues; ESM-2 embeds at most {MAX_CHAIN_LENGTH} per chain"
            )
    return ReceptorSummary(residues=total, chains=chains)
