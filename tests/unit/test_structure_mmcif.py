"""The mmCIF files every structure model writes (ESMFold's, and the relaxed ones of ESMFold and AlphaFold2)
read back, by gemmi's CIF parser, as PDBx says polymer atoms must be: each atom's `label_seq_id` is its
residue's position in `_entity_poly_seq`, and every polymer entity lists its sequence."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest
from phonos_models.common.structure import ProteinChain, pdb_to_mmcif, to_pdb, to_pdb_and_mmcif

pytestmark = pytest.mark.unit


def chain(sequence: str, chain_id: str) -> ProteinChain:
    length = len(sequence)
    rng = np.random.default_rng(len(sequence))
    mask = np.zeros((length, 37))
    mask[:, :5] = 1  # N, CA, C, CB, O
    return ProteinChain(sequence=sequence, atom_positions=rng.normal(size=(length, 37, 3)) * 5,
                        atom_mask=mask, residue_plddt=np.full(length, 70.0), chain_id=chain_id)


def atom_site_rows(mmcif: str) -> list[dict[str, str]]:
    table = gemmi.cif.read_string(mmcif).sole_block().find_mmcif_category("_atom_site.")
    tags = [tag.removeprefix("_atom_site.") for tag in table.tags]
    return [dict(zip(tags, row, strict=True)) for row in table]


def poly_seq(mmcif: str) -> dict[str, list[str]]:
    """entity id -> its residues in `_entity_poly_seq` order."""
    table = gemmi.cif.read_string(mmcif).sole_block().find_mmcif_category("_entity_poly_seq.")
    sequences: dict[str, list[str]] = {}
    for entity_id, num, mon_id in zip(table.find_column("entity_id"), table.find_column("num"),
                                      table.find_column("mon_id"), strict=True):
        sequences.setdefault(entity_id, []).append(mon_id)
        assert int(num) == len(sequences[entity_id])
    return sequences


def assert_label_seq_ids(mmcif: str, sequences: dict[str, str]) -> None:
    """Every ATOM row's label_seq_id is its residue number and points at its own residue in the entity's
    `_entity_poly_seq`; `sequences` maps auth chain id -> one-letter sequence."""
    entity_seq = poly_seq(mmcif)
    rows = atom_site_rows(mmcif)
    assert rows
    for row in rows:
        assert row["label_seq_id"] == row["auth_seq_id"], row
        residues = entity_seq[row["label_entity_id"]]
        assert residues[int(row["label_seq_id"]) - 1] == row["label_comp_id"], row
    for chain_id, sequence in sequences.items():
        entity = {row["label_entity_id"] for row in rows if row["auth_asym_id"] == chain_id}
        assert len(entity) == 1
        assert [gemmi.find_tabulated_residue(name).one_letter_code.upper() for name in entity_seq[entity.pop()]] \
            == list(sequence)


def test_predicted_mmcif_gives_every_polymer_atom_its_label_seq_id() -> None:
    chains = [chain("MKTAYIAK", "A"), chain("GSHMAS", "B")]
    _, mmcif = to_pdb_and_mmcif(chains, ["test"], {"weights": "test"}, "T", "t")
    assert_label_seq_ids(mmcif, {"A": "MKTAYIAK", "B": "GSHMAS"})


def test_mmcif_from_a_pdb_without_seqres_lists_the_sequence_and_label_seq_ids() -> None:
    # The relaxed PDB (OpenMM's writer) has no SEQRES: the mmCIF must still carry the chains' sequences.
    pdb = to_pdb([chain("MKTAYIAK", "A"), chain("GSHMAS", "B")], ["test"])
    pdb = "".join(line for line in pdb.splitlines(keepends=True) if not line.startswith("SEQRES"))
    mmcif = pdb_to_mmcif(pdb, {"relax": "test"}, name="test")
    assert_label_seq_ids(mmcif, {"A": "MKTAYIAK", "B": "GSHMAS"})
    block = gemmi.cif.read_string(mmcif).sole_block()
    assert list(block.find_values("_entity_poly.pdbx_seq_one_letter_code")) == ["MKTAYIAK", "GSHMAS"]


def chem_comp_types(mmcif: str) -> dict[str, str]:
    table = gemmi.cif.read_string(mmcif).sole_block().find_mmcif_category("_chem_comp.")
    return {gemmi.cif.as_string(name): gemmi.cif.as_string(kind)
            for name, kind in zip(table.find_column("id"), table.find_column("type"), strict=True)}


@pytest.mark.parametrize("source", ["predicted", "from_pdb"])
def test_mmcif_types_its_amino_acids_so_template_parsers_find_the_protein_chains(source: str) -> None:
    # gemmi writes `_chem_comp.type` "."; AlphaFold's mmCIF parser (ColabFold templates too) picks protein
    # chains by "peptide" in that type and answered "No protein chains found in this file."
    chains = [chain("MKTGAYX", "A"), chain("GSHMAS", "B")]
    if source == "predicted":
        _, mmcif = to_pdb_and_mmcif(chains, ["test"], {"weights": "test"}, "T", "t")
    else:
        mmcif = pdb_to_mmcif(to_pdb(chains, ["test"]), {"relax": "test"}, name="test")
    types = chem_comp_types(mmcif)
    assert types["GLY"] == "peptide linking"  # the CCD's type: glycine has no L form
    assert {name: kind for name, kind in types.items() if name != "GLY"} == {
        name: "L-peptide linking" for name in ("ALA", "HIS", "LYS", "MET", "SER", "THR", "TYR", "UNK")}
    mmcif_parsing = pytest.importorskip("alphafold.data.mmcif_parsing")
    parsed = mmcif_parsing.parse(file_id="t", mmcif_string=mmcif)
    assert not parsed.errors, parsed.errors
    assert parsed.mmcif_object.chain_to_seqres == {"A": "MKTGAYX", "B": "GSHMAS"}


def category_rows(mmcif: str, category: str) -> list[list[str]]:
    return [[gemmi.cif.as_string(value) for value in row]
            for row in gemmi.cif.read_string(mmcif).sole_block().find_mmcif_category(category)]


@pytest.mark.parametrize("source", ["predicted", "from_pdb"])
def test_identical_chains_share_one_entity_numbered_as_the_pdb_numbers_them(source: str) -> None:
    # A homodimer is one entity with two copies (viewers colour and count chains by entity); gemmi gave every
    # chain an entity of its own, named "A", "B", with label_asym_ids "Axp", "Bxp".
    chains = [chain("MKTGAY", "A"), chain("GSHM", "B"), chain("MKTGAY", "C")]
    if source == "predicted":
        _, mmcif = to_pdb_and_mmcif(chains, ["test"], {"weights": "test"}, "T", "t")
    else:
        pdb = "".join(line for line in to_pdb(chains, ["test"]).splitlines(keepends=True)
                      if not line.startswith("SEQRES"))
        mmcif = pdb_to_mmcif(pdb, {"relax": "test"}, name="test")
    assert category_rows(mmcif, "_entity.") == [["1", "polymer"], ["2", "polymer"]]
    assert [row[:3] for row in category_rows(mmcif, "_entity_poly.")] == [["1", "polypeptide(L)", "A,C"],
                                                                         ["2", "polypeptide(L)", "B"]]
    assert category_rows(mmcif, "_struct_asym.") == [["A", "1"], ["B", "2"], ["C", "1"]]
    rows = atom_site_rows(mmcif)
    assert {(row["auth_asym_id"], row["label_asym_id"], row["label_entity_id"]) for row in rows} == {
        ("A", "A", "1"), ("B", "B", "2"), ("C", "C", "1")}
    assert_label_seq_ids(mmcif, {"A": "MKTGAY", "B": "GSHM", "C": "MKTGAY"})
    structure = gemmi.read_structure_string(mmcif)
    assert [(entity.name, list(entity.subchains)) for entity in structure.entities] == [("1", ["A", "C"]), ("2", ["B"])]
