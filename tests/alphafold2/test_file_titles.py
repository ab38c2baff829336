"""AlphaFold2's structure files name their model, rank and weights where a viewer shows them: the PDB's TITLE
(ChimeraX logs it, Biopython reads it as the header's name) and the mmCIF's `_struct.title`. DeepMind's writers
give neither, so before only the REMARKs and mmCIF comments said it (which no viewer shows). Read back with
Biopython's strict parsers and gemmi."""

from __future__ import annotations

import io
import warnings
from dataclasses import replace

import gemmi
import numpy as np
import pytest
from Bio import BiopythonWarning
from Bio.PDB import PDBParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from phonos_models.alphafold2 import outputs, serving
from phonos_models.common.chains import ChainLayout
from phonos_models.common.relax import RelaxedStructure, RelaxOutcome
from test_report_ranking import output

pytestmark = pytest.mark.unit

PROVENANCE = outputs.Provenance(weights="model_1=tiny-random-seed1 sha256:aa, model_2=tiny-random-seed2 sha256:bb",
                                real_weights=False, preset="monomer", msa_mode="single_sequence", msa_depth=1)
LAYOUT = ChainLayout.of("MKTA")


def with_backbone(name: str, plddt: float) -> outputs.ModelOutput:
    mask = np.zeros((4, 37), np.float32)
    mask[:, :3] = 1
    positions = np.arange(4 * 37 * 3, dtype=np.float32).reshape(4, 37, 3) / 10
    return replace(output(name, plddt, None, None), atom_mask=mask, positions=positions)


def strict_title(pdb: str) -> str:
    """The TITLE as Biopython's strict parser reads it, lower-cased (warnings are errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", BiopythonWarning)
        structure = PDBParser(PERMISSIVE=False, QUIET=False).get_structure("af2", io.StringIO(pdb))
    return structure.header["name"]


def cif_title(mmcif: str) -> str:
    return MMCIF2Dict(io.StringIO(mmcif))["_struct.title"][0]


def test_ranked_pdb_and_mmcif_titles_name_the_model_its_rank_and_its_own_weights() -> None:
    second = with_backbone("model_2", 60.0)
    pdb = outputs.to_pdb(LAYOUT, second, PROVENANCE, rank=2)
    want = "AlphaFold2 prediction, rank 2: model_2, weights tiny-random-seed2 (NOT A REAL PREDICTION)"
    assert max(len(line) for line in pdb.splitlines()) <= 80
    assert strict_title(pdb) == want.lower()
    assert pdb.index("TITLE") < pdb.index("REMARK 250") < pdb.index("ATOM")
    assert len(gemmi.read_pdb_string(pdb)[0]["A"]) == 4
    cif = outputs.to_mmcif(LAYOUT, second, PROVENANCE, file_id="t", rank=2)
    assert cif_title(cif) == want
    real = outputs.to_mmcif(LAYOUT, second, replace(PROVENANCE, real_weights=True), file_id="t", rank=2)
    assert cif_title(real) == "AlphaFold2 prediction, rank 2: model_2, weights tiny-random-seed2"


def test_relaxed_files_titles_say_relaxed_with_their_rank() -> None:
    ranked = [with_backbone("model_2", 70.0), with_backbone("model_1", 60.0)]
    atoms = {out.model_name: "".join(line for line in outputs.to_pdb(LAYOUT, out, PROVENANCE).splitlines(keepends=True)
                                     if line.startswith(("ATOM", "TER", "END")))
             for out in ranked}  # stands in for the relax's output, which has no header
    outcome = RelaxOutcome(status="completed", platform="CPU", openmm_version="8", relaxed={
        name: RelaxedStructure(name, text, 0, 0, 0, 0, 0.0, 0.0, 0.0, 1, 0.0) for name, text in atoms.items()})
    files = {f.format: f.content.decode() for f in serving.relaxed_files(["model_2", "model_1"], outcome, PROVENANCE)}
    assert strict_title(files["relaxed_pdb"]) == \
        "alphafold2 prediction, amber-relaxed, rank 1: model_2, weights tiny-random-seed2 (not a real prediction)"
    assert strict_title(files["rank_2_relaxed_pdb"]).startswith("alphafold2 prediction, amber-relaxed, rank 2: model_1")
    assert cif_title(files["relaxed_cif"]) == \
        "AlphaFold2 prediction, Amber-relaxed, rank 1: model_2, weights tiny-random-seed2 (NOT A REAL PREDICTION)"
    # named as the unrelaxed file is (DeepMind's writer: the id upper-cased), not gemmi's "string"
    unrelaxed = gemmi.cif.read_string(outputs.to_mmcif(LAYOUT, ranked[0], PROVENANCE, file_id=outputs.MMCIF_ID)).sole_block()
    for block in (gemmi.cif.read_string(files["relaxed_cif"]).sole_block(), unrelaxed):
        assert block.name == gemmi.cif.as_string(block.find_value("_entry.id")) == "PHONOS_ALPHAFOLD2"
