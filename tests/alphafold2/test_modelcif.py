"""AlphaFold2's mmCIF as structural biologists' tools read it, and what the files say about residues given as X.

AlphaFold (DeepMind's and ColabFold's code) builds no atoms for X but keeps it in every per-residue array:
pLDDT and PAE have one entry per residue of the input and the mean pLDDT (ranking) averages over all of them.
Ours does the same, and the mmCIF states the JSON's numbers as ModelCIF QA metrics: a local pLDDT for every
residue of `_entity_poly_seq` (X included: a ModelCIF local metric names a residue of the sequence, not atoms)
and the JSON's `mean_plddt` as the global one (DeepMind's writer averaged the atoms' B-factors, X excluded).
One monomer_ptm fold with tiny weights (the program test_pipeline also compiles)."""

from __future__ import annotations

import io
import json

import gemmi
import numpy as np
import pytest
from af2_helpers import QUERY, mmcif_category, qa_metrics
from Bio.PDB import MMCIFParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from phonos_models.alphafold2 import serving
from phonos_models.alphafold2.pipeline import Engine, Request
from phonos_models.common import result_files

pytestmark = pytest.mark.integration

SEQUENCE = QUERY[:4] + "XX" + QUERY[6:]  # residues 5 and 6 unknown


@pytest.fixture(scope="module")
def files(engine: Engine) -> dict[str, str]:
    prediction = engine.predict(Request(sequence=SEQUENCE, model_preset="monomer_ptm", num_recycles=0))
    result = result_files.decode(result_files.encode(serving.result(prediction), batched=False))
    return {f.format: f.content.decode() for f in result.files if f.format in ("pdb", "cif", "json")}


def test_x_residues_have_no_atoms_but_keep_their_entries_in_every_per_residue_array(files: dict[str, str]) -> None:
    scores = json.loads(files["json"])
    length = len(SEQUENCE)
    assert len(scores["plddt"]) == length and np.array(scores["pae"]).shape == (length, length)
    # the mean and the chain's mean average over every residue, X included (DeepMind's ranking, ColabFold's scores)
    assert scores["mean_plddt"] == pytest.approx(float(np.mean(scores["plddt"])), abs=0.01)
    assert scores["chains"][0]["mean_plddt"] == pytest.approx(scores["mean_plddt"], abs=0.01)
    for text in (files["pdb"], files["cif"]):
        structure = gemmi.read_pdb_string(text) if text is files["pdb"] else \
            gemmi.make_structure_from_block(gemmi.cif.read_string(text).sole_block())
        assert [r.seqid.num for r in structure[0][0]] == [n for n in range(1, length + 1) if n not in (5, 6)]
    bio = MMCIFParser(QUIET=True).get_structure("af2", io.StringIO(files["cif"]))
    assert len(list(bio[0]["A"])) == length - 2


def test_mmcif_states_the_jsons_plddt_and_ptm_as_modelcif_qa_metrics(files: dict[str, str]) -> None:
    scores = json.loads(files["json"])
    globals_, local = qa_metrics(files["cif"])
    # before: one global pLDDT, DeepMind's mean over the atoms' B-factors (X excluded), and no local metric or pTM
    assert globals_ == pytest.approx({"pLDDT": scores["mean_plddt"], "pTM": scores["ptm"]}, abs=0.006)
    assert [(chain, number) for chain, number, _, _ in local] == [("A", n) for n in range(1, len(SEQUENCE) + 1)]
    assert [name for _, _, name, _ in local][3:7] == [gemmi.expand_one_letter(QUERY[3], gemmi.ResidueKind.AA),
                                                       "UNK", "UNK",
                                                       gemmi.expand_one_letter(QUERY[6], gemmi.ResidueKind.AA)]
    assert [value for *_, value in local] == scores["plddt"]
    assert mmcif_category(files["cif"], "audit_conform")[0]["dict_name"] == "mmcif_ma.dic"


def test_mmcif_one_letter_codes_write_unk_as_pdbx_does(files: dict[str, str]) -> None:
    [row] = mmcif_category(files["cif"], "entity_poly")
    # before: DeepMind's writer gave neither code
    assert row["pdbx_seq_one_letter_code"] == SEQUENCE.replace("XX", "(UNK)(UNK)")
    assert row["pdbx_seq_one_letter_code_can"] == SEQUENCE


def test_a_tiny_weights_mmcif_names_its_weights_not_deepminds_copyright(files: dict[str, str]) -> None:
    """DeepMind's writer stated their copyright and CC-BY-4.0 licence over this file; its weights are not theirs."""
    cif = files["cif"]
    assert "COPYRIGHT (2021) DEEPMIND" not in cif and "CC-BY-4.0 license" not in cif
    usage = mmcif_category(cif, "pdbx_data_usage")
    gemmi.cif.read_string(cif).sole_block()
    (details,) = MMCIF2Dict(io.StringIO(cif))["_pdbx_data_usage.details"]
    assert "weights model_1_ptm=tiny-random-seed" in details and "not DeepMind's AlphaFold2 parameters" in details
    assert "NOT A REAL PREDICTION" in details and [row["type"] for row in usage] == ["disclaimer"]
