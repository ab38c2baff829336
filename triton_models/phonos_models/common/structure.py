"""Protein structure files (PDB, mmCIF) from atom37 coordinates, written with gemmi.

Layered as in AlphaFold's `common/protein.py`: arrays in (one `ProteinChain`
per chain, labelled A, B, …), text out. Confidence goes to the B-factor column
on the 0–100 pLDDT scale (AlphaFold and fair-esm convention; transformers'
ESMFold writes 0–1): per atom when the model predicts it per atom (fair-esm's
ESMFold), else the residue's value on every atom (AlphaFold).
Provenance goes in PDB REMARKs and in an mmCIF `_phonos_provenance` category,
so a file that leaves the service still says which weights made it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import gemmi
import numpy as np

from phonos_models.common.qa_metrics import Confidence, add_confidence, set_one_letter_codes

# AlphaFold2's atom37 order (alphafold/common/residue_constants.py `atom_types`);
# transformers' vendored openfold uses the same list (checked by a test).
ATOM37_NAMES: tuple[str, ...] = (
    "N", "CA", "C", "CB", "O", "CG", "CG1", "CG2", "OG", "OG1", "SG", "CD", "CD1", "CD2", "ND1", "ND2",
    "OD1", "OD2", "SD", "CE", "CE1", "CE2", "CE3", "NE", "NE1", "NE2", "OE1", "OE2", "CH2", "NH1", "NH2",
    "OH", "CZ", "CZ2", "CZ3", "NZ", "OXT",
)  # fmt: skip
CA_INDEX = 1
_ELEMENTS = tuple(gemmi.Element(name[0]) for name in ATOM37_NAMES)  # atom37 names start with their element (C, N, O, S)

ONE_TO_THREE: dict[str, str] = {
    "A": "ALA", "R": "ARG", "N": "ASN", "D": "ASP", "C": "CYS", "Q": "GLN", "E": "GLU", "G": "GLY",
    "H": "HIS", "I": "ILE", "L": "LEU", "K": "LYS", "M": "MET", "F": "PHE", "P": "PRO", "S": "SER",
    "T": "THR", "W": "TRP", "Y": "TYR", "V": "VAL", "X": "UNK",
}  # fmt: skip


@dataclass(frozen=True)
class ProteinChain:
    """One predicted chain. Residues are numbered 1..L."""

    sequence: str  # one-letter codes, length L (X = unknown)
    atom_positions: np.ndarray  # [L, 37, 3] float, Å, atom37 order
    atom_mask: np.ndarray  # [L, 37] {0, 1}: 1 where the atom is present
    residue_plddt: np.ndarray  # [L] float, 0–100, written to every atom's B-factor unless atom_plddt is given
    chain_id: str = "A"
    atom_plddt: np.ndarray | None = None  # [L, 37] float, 0–100, per-atom B-factors (fair-esm's ESMFold)

    def __post_init__(self) -> None:
        length = len(self.sequence)
        if self.atom_positions.shape != (length, 37, 3):
            raise ValueError(f"atom_positions must be [{length}, 37, 3], got {self.atom_positions.shape}")
        if self.atom_mask.shape != (length, 37):
            raise ValueError(f"atom_mask must be [{length}, 37], got {self.atom_mask.shape}")
        if self.residue_plddt.shape != (length,):
            raise ValueError(f"residue_plddt must be [{length}], got {self.residue_plddt.shape}")
        if length and (self.residue_plddt.min() < 0 or self.residue_plddt.max() > 100):
            raise ValueError("residue_plddt must be on the 0-100 scale")
        if self.atom_plddt is not None:
            if self.atom_plddt.shape != (length, 37):
                raise ValueError(f"atom_plddt must be [{length}, 37], got {self.atom_plddt.shape}")
            if length and (self.atom_plddt.min() < 0 or self.atom_plddt.max() > 100):
                raise ValueError("atom_plddt must be on the 0-100 scale")

    def b_factors(self) -> np.ndarray:
        """[L, 37] the B-factor of every atom slot: its own pLDDT, else its residue's."""
        if self.atom_plddt is not None:
            return self.atom_plddt
        return np.repeat(self.residue_plddt[:, None], 37, axis=1)


Chains = ProteinChain | Sequence[ProteinChain]


def _as_list(chains: Chains) -> list[ProteinChain]:
    listed = [chains] if isinstance(chains, ProteinChain) else list(chains)
    ids = [chain.chain_id for chain in listed]
    if not listed or len(set(ids)) != len(ids):
        raise ValueError(f"need at least one chain, with distinct ids; got {ids}")
    return listed


def _chain(chain: ProteinChain) -> gemmi.Chain:
    # Plain Python lists, read once: per-atom numpy indexing and float() were most of this loop's time.
    present = (chain.atom_mask > 0.5).tolist()
    positions = chain.atom_positions.tolist()
    b_factors = chain.b_factors().tolist()
    gchain = gemmi.Chain(chain.chain_id)
    for index, letter in enumerate(chain.sequence):
        residue = gemmi.Residue()
        residue.name = ONE_TO_THREE[letter]
        residue.seqid = gemmi.SeqId(index + 1, " ")
        residue.entity_type = gemmi.EntityType.Polymer
        for atom_index, (here, position, b_factor) in enumerate(zip(present[index], positions[index], b_factors[index],
                                                                    strict=True)):
            if not here:
                continue
            atom = gemmi.Atom()
            atom.name = ATOM37_NAMES[atom_index]
            atom.element = _ELEMENTS[atom_index]
            atom.pos = gemmi.Position(*position)
            atom.occ = 1.0
            atom.b_iso = b_factor
            residue.add_atom(atom)
        gchain.add_residue(residue)
    return gchain


def build_structure(chains: Chains, title: str) -> gemmi.Structure:
    """One model; residues numbered 1..L within each chain; identical chains share an entity (ids 1, 2, …); every
    residue's label_seq_id set (PDBx requires it on polymer atoms: gemmi writes "." without it)."""
    listed = _as_list(chains)
    model = gemmi.Model(1)
    for chain in listed:
        model.add_chain(_chain(chain))
    structure = gemmi.Structure()
    structure.name = title
    # The PDB's convention for a structure not from a crystal: a 1 Å cell in P 1, which the PDB file's CRYST1 already
    # said (gemmi's default there); the mmCIF said `_symmetry.space_group_name_H-M ''`, no space group at all.
    structure.spacegroup_hm = "P 1"
    structure.add_model(model)
    structure.setup_entities()
    sequences = {chain.chain_id: chain.sequence for chain in listed}
    for entity in structure.entities:
        # setup_entities names each entity's chains by subchain ("Axp"); the first letter is the chain id
        chain_id = entity.subchains[0][0] if entity.subchains else listed[0].chain_id
        entity.full_sequence = [ONE_TO_THREE[letter] for letter in sequences.get(chain_id, listed[0].sequence)]
    _conventional_entities(structure)
    structure.assign_label_seq_id(False)
    structure.assign_serial_numbers()
    return structure


def to_pdb(chains: Chains, remarks: Sequence[str], title: str = "PHONOS PREDICTION") -> str:
    """PDB text: `title` as the TITLE records, each remark as `REMARK 250` lines (free text, wrapped at 69
    columns)."""
    structure = build_structure(chains, title)
    structure.raw_remarks = remark_records(remarks)
    return _titled(structure.make_pdb_string(), title)


def to_pdb_and_mmcif(chains: Chains, remarks: Sequence[str], provenance: Mapping[str, str], pdb_title: str,
                     mmcif_title: str, confidence: Confidence | None = None) -> tuple[str, str]:
    """`to_pdb`'s PDB text and the mmCIF (with `provenance`, and `confidence` as ModelCIF QA metrics) of the same
    chains, from one built structure (building it is most of the cost)."""
    structure = build_structure(chains, mmcif_title)
    mmcif = _with_provenance(structure.make_mmcif_document(), provenance, confidence, pdb_title)
    structure.name = pdb_title
    structure.raw_remarks = remark_records(remarks)
    return _titled(structure.make_pdb_string(), pdb_title), mmcif


def _titled(pdb_text: str, title: str) -> str:
    """`pdb_text` (gemmi's, which begins with the REMARKs) under TITLE records: gemmi writes no TITLE from the
    structure's name, so `title` was dropped and a viewer showed no title at all."""
    return "".join(title_records(title)) + pdb_text


def remark_records(remarks: Sequence[str]) -> list[str]:
    """`REMARK 250` records (free text wrapped at 69 columns), each with its newline."""
    return [f"REMARK 250 {line}\n" for text in remarks for line in _wrap(text, 69)]


def title_records(title: str) -> list[str]:
    """PDB `TITLE` records, each with its newline: the text wrapped into columns 11-80 of the first record and
    12-80 of its continuations (numbered 2, 3, ... in columns 9-10), padded to 80 columns as gemmi writes its
    records. The title is what ChimeraX logs and Biopython's header reads as `name` when a file is opened; REMARK
    250 is free text few viewers show. Written by hand rather than through gemmi's `_struct.title`, which upper-cases
    the text and so would misspell the weights' names (`esmfold-tiny-random-seed0`)."""
    lines = _wrap(title, 69) or [""]
    return [(f"TITLE     {line}" if number == 1 else f"TITLE   {number:>2d} {line}").ljust(80) + "\n"
            for number, line in enumerate(lines, start=1)]


def pdb_to_mmcif(pdb_text: str, provenance: Mapping[str, str], confidence: Confidence | None = None,
                 title: str | None = None, *, name: str) -> str:
    """mmCIF from a PDB written by `to_pdb`; B-factors (pLDDT) and sequence carry over, `confidence` becomes
    ModelCIF QA metrics, `title` `_struct.title`, `name` the data block's name and `_entry.id` (as the unrelaxed
    file's: gemmi names a structure read from text "string", which viewers showed as the entry)."""
    structure = gemmi.read_pdb_string(pdb_text)
    structure.name = name
    if not structure.spacegroup_hm:  # the relax's PDB has no CRYST1: P 1 as build_structure writes it
        structure.spacegroup_hm = "P 1"
    structure.setup_entities()
    model = structure[0]
    for entity in structure.entities:
        if entity.entity_type == gemmi.EntityType.Polymer and not entity.full_sequence and entity.subchains:
            # No SEQRES (OpenMM writes none in the relaxed PDB): a predicted chain has no gaps, so its
            # residues are its whole sequence, which _entity_poly_seq and label_seq_id need.
            entity.full_sequence = [residue.name for residue in model.get_subchain(entity.subchains[0])]
    _conventional_entities(structure)
    structure.assign_label_seq_id(False)
    return _with_provenance(structure.make_mmcif_document(), provenance, confidence, title)


def _conventional_entities(structure: gemmi.Structure) -> None:
    """Entities as the PDB and AlphaFold DB write them: chains with the same sequence share one entity (a
    homodimer is one entity, 2 copies: viewers colour and count by entity), entity ids 1, 2, … in chain order,
    and each polymer chain's label_asym_id its chain id (gemmi's own names are "A" and "Axp")."""
    structure.deduplicate_entities()  # needs full_sequence set: it compares sequences
    model = structure[0]
    for chain in model:
        for residue in chain:
            if residue.entity_type == gemmi.EntityType.Polymer:
                residue.subchain = chain.name
    for number, entity in enumerate(structure.entities, start=1):
        entity.name = str(number)
        if entity.entity_type == gemmi.EntityType.Polymer:
            entity.subchains = [name[:-2] if name.endswith("xp") else name for name in entity.subchains]
            if entity.polymer_type == gemmi.PolymerType.Unknown:
                # gemmi infers the type from linked residues, so a one-residue chain (ESMFold folds "M", or a
                # 1-aa chain of a complex) stayed Unknown and its entity had no `_entity_poly` row at all, no
                # sequence, no strand id, though `_entity` says polymer. Every chain written here is a protein.
                entity.polymer_type = gemmi.PolymerType.PeptideL


def _with_provenance(document: gemmi.cif.Document, provenance: Mapping[str, str],
                     confidence: Confidence | None = None, title: str | None = None) -> str:
    block = document.sole_block()
    if title is not None:
        # PDBx's title of the entry (what ChimeraX and Mol* show), in the PDB file's words; set here, not through
        # gemmi's `_struct.title` info, which the PDB writer would also print, upper-cased.
        block.set_mmcif_category("_struct.", {"entry_id": [block.name], "title": [title]})
    _type_amino_acids(block)
    set_one_letter_codes(block)
    if confidence is not None:
        add_confidence(block, confidence)
    if provenance:
        block.set_mmcif_category(
            "_phonos_provenance.",
            {"key": list(provenance.keys()), "value": list(provenance.values())},
        )
    return document.as_string()


def _wrap(text: str, width: int) -> list[str]:
    # A word longer than a line (a weights file's path) is cut into line-long pieces: left whole, its record ran
    # past column 80, which fixed-column readers cut or refuse.
    words = [word[start:start + width] for word in text.split() for start in range(0, len(word), width)]
    lines: list[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def _type_amino_acids(block: gemmi.cif.Block) -> None:
    """Give each amino acid its CCD `_chem_comp.type` (gemmi writes "."): readers that pick protein chains by
    it (AlphaFold's and ColabFold's template parser, `alphafold.data.mmcif_parsing`) found "no protein
    chains" in our mmCIF without it. CCD: GLY is achiral, "peptide linking"; the others (UNK too) "L-"."""
    table = block.find_mmcif_category("_chem_comp.")
    tags = list(table.tags)
    if "_chem_comp.id" not in tags or "_chem_comp.type" not in tags:
        return
    ids = table.find_column("id")
    types = table.find_column("type")
    for row in range(len(ids)):
        name = gemmi.cif.as_string(ids[row])
        info = gemmi.find_tabulated_residue(name)
        if info is not None and info.is_amino_acid() and gemmi.cif.as_string(types[row]) in ("", "."):
            types[row] = gemmi.cif.quote("peptide linking" if name == "GLY" else "L-peptide linking")
