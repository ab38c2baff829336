"""The relaxed PDB keeps to the PDB's 80 columns and its mmCIF names a space group. DeepMind's relax writes its
PDB with Biopython's PDBIO (`relax.utils.overwrite_b_factors`), whose TER records run to 81 columns; every relaxed
file (ESMFold's and AlphaFold2's) had them. The relaxed mmCIF, from that PDB (no CRYST1), said
`_symmetry.space_group_name_H-M ''`, where the unrelaxed one says P 1. No OpenMM: the relax's own writing steps
run on a small structure."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from alphafold.common import protein
from alphafold.common import residue_constants as rc
from alphafold.relax import utils
from Bio import BiopythonWarning
from Bio.PDB import PDBParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from phonos_models.common.relax_worker import keep_atom_b_factors
from phonos_models.common.structure import pdb_to_mmcif

pytestmark = pytest.mark.unit

SEQUENCE = "MKTAYG"


def unrelaxed_pdb() -> str:
    """A two-chain backbone (N, CA, C, O) with pLDDT B-factors, as AlphaFold's writer gives it."""
    count = len(SEQUENCE)
    positions = np.zeros((count, rc.atom_type_num, 3))
    mask = np.zeros((count, rc.atom_type_num))
    for i in range(count):
        for name in ("N", "CA", "C", "O"):
            positions[i, rc.atom_order[name]] = [3.8 * i + rc.atom_order[name] * 0.3, 0.0, 0.0]
            mask[i, rc.atom_order[name]] = 1
    return protein.to_pdb(protein.Protein(
        atom_positions=positions, aatype=np.array([rc.restype_order[c] for c in SEQUENCE]), atom_mask=mask,
        residue_index=np.array([1, 2, 3, 1, 2, 3]), chain_index=np.array([0, 0, 0, 1, 1, 1]),
        b_factors=np.repeat(np.linspace(50, 90, count)[:, None], rc.atom_type_num, axis=1)))


@pytest.fixture(scope="module")
def relaxed() -> str:
    unrelaxed = unrelaxed_pdb()
    # the relax's own writer (PDBIO), then ours, as relax_worker.relax_one runs them
    written = utils.overwrite_b_factors(unrelaxed, protein.from_pdb_string(unrelaxed).b_factors)
    return keep_atom_b_factors(written, unrelaxed)


def test_every_record_fits_80_columns_and_parses_strictly(relaxed: str) -> None:
    assert max(len(line) for line in relaxed.splitlines()) <= 80  # before: TER records of 81
    assert sum(line.startswith("TER") for line in relaxed.splitlines()) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", BiopythonWarning)
        structure = PDBParser(PERMISSIVE=False, QUIET=False).get_structure("relaxed", io.StringIO(relaxed))
    assert [(chain.id, len(chain)) for chain in structure[0]] == [("A", 3), ("B", 3)]


def test_relaxed_mmcif_space_group_is_p1(relaxed: str) -> None:
    raw = MMCIF2Dict(io.StringIO(pdb_to_mmcif(relaxed, {"relax": "test"}, name="test")))
    assert raw["_symmetry.space_group_name_H-M"] == ["P 1"]  # before: ''
