"""AlphaFold2's mmCIF numbers entities as the PDB and AlphaFold DB do: identical chains share one entity, ids 1, 2,
... DeepMind's writer gave each chain its own entity from 0, so a homomer's copies were different molecules to a
viewer colouring or counting by entity, and the relaxed mmCIF of the same model (gemmi's writer) numbered them
otherwise. Read back with gemmi, Biopython's MMCIF2Dict and MMCIFParser; the ModelCIF metrics still point at the
residues of `_entity_poly_seq`. No model runs: the structure is a made-up backbone."""

from __future__ import annotations

import io

import gemmi
import numpy as np
import pytest
from af2_helpers import mmcif_category
from Bio.PDB import MMCIFParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from phonos_models.alphafold2 import outputs
from phonos_models.alphafold2.confidence import Confidence
from phonos_models.alphafold2.runner import ModelOutput
from phonos_models.common.chains import ChainLayout

pytestmark = pytest.mark.unit

CHAINS = ("MKTAY", "GSHM", "MKTAY")  # a homodimer of A and C, with B
PROVENANCE = outputs.Provenance(weights="model_1_multimer_v3=tiny-random-seed1 sha256:aa", real_weights=False,
                                preset="multimer", msa_mode="single_sequence", msa_depth=1)


def made_up(chains: tuple[str, ...] = CHAINS) -> tuple[ChainLayout, ModelOutput]:
    """A layout and a model output with a backbone for every residue (no model runs)."""
    layout = ChainLayout.of(":".join(chains))
    length = sum(map(len, chains))
    mask = np.zeros((length, 37), np.float32)
    mask[:, :3] = 1
    positions = np.arange(length * 37 * 3, dtype=np.float32).reshape(length, 37, 3) / 10
    plddt = np.linspace(40, 90, length).astype(np.float32)
    confidence = Confidence(plddt=plddt, pae=None, max_pae=None, ptm=None, iptm=None, chains=(), interfaces=())
    return layout, ModelOutput(model_name="model_1_multimer_v3", positions=positions, atom_mask=mask,
                               confidence=confidence, recycles=0, seconds=0.0)


@pytest.fixture(scope="module")
def mmcif() -> str:
    return outputs.to_mmcif(*made_up(), PROVENANCE, file_id="t")


def test_identical_chains_share_one_entity_numbered_from_one(mmcif: str) -> None:
    raw = MMCIF2Dict(io.StringIO(mmcif))
    assert raw["_entity.id"] == ["1", "2"]  # before: 0, 1, 2
    assert raw["_struct_asym.id"] == ["A", "B", "C"] and raw["_struct_asym.entity_id"] == ["1", "2", "1"]
    assert raw["_entity_poly.pdbx_strand_id"] == ["A,C", "B"]
    assert raw["_entity_poly.pdbx_seq_one_letter_code_can"] == [CHAINS[0], CHAINS[1]]
    assert raw["_ma_target_entity.entity_id"] == ["1", "2"]
    assert raw["_ma_target_entity_instance.entity_id"] == ["1", "2", "1"]
    assert raw["_entity_poly_seq.entity_id"] == ["1"] * len(CHAINS[0]) + ["2"] * len(CHAINS[1])
    by_chain = dict(zip(raw["_atom_site.label_asym_id"], raw["_atom_site.label_entity_id"], strict=False))
    assert by_chain == {"A": "1", "B": "2", "C": "1"}
    structure = gemmi.make_structure_from_block(gemmi.cif.read_string(mmcif).sole_block())
    assert [(e.name, list(e.subchains)) for e in structure.entities] == [("1", ["A", "C"]), ("2", ["B"])]
    bio = MMCIFParser(QUIET=True).get_structure("af2", io.StringIO(mmcif))
    assert [(chain.id, len(chain)) for chain in bio[0]] == [("A", 5), ("B", 4), ("C", 5)]


def test_local_plddt_still_names_residues_of_the_shared_entity(mmcif: str) -> None:
    entity_of = {row["id"]: row["entity_id"] for row in mmcif_category(mmcif, "struct_asym")}
    poly = {(row["entity_id"], row["num"]): row["mon_id"] for row in mmcif_category(mmcif, "entity_poly_seq")}
    local = mmcif_category(mmcif, "ma_qa_metric_local")
    assert [row["label_asym_id"] for row in local] == ["A"] * 5 + ["B"] * 4 + ["C"] * 5
    assert all(poly[entity_of[row["label_asym_id"]], row["label_seq_id"]] == row["label_comp_id"] for row in local)
