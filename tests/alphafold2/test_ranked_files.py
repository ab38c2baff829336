"""Every ranked AlphaFold2 structure file says which model made it: the provenance lists the weights of
all models that ran, so a `rank_N_pdb` downloaded on its own must name its own model and rank."""

from __future__ import annotations

from dataclasses import replace

import gemmi
import numpy as np
import pytest
from phonos_models.alphafold2 import outputs
from phonos_models.common.chains import ChainLayout
from test_report_ranking import output

pytestmark = pytest.mark.unit

PROVENANCE = outputs.Provenance(weights="model_1=tiny sha256:aa, model_2=tiny sha256:bb", real_weights=False,
                                preset="monomer", msa_mode="single_sequence", msa_depth=1)


def test_ranked_pdb_and_mmcif_name_their_model_and_rank() -> None:
    layout = ChainLayout.of("MKTA")
    second = output("model_2", 60.0, None, None)
    mask = np.zeros((4, 37), np.float32)
    mask[:, :3] = 1
    second = replace(second, atom_mask=mask)
    pdb = outputs.to_pdb(layout, second, PROVENANCE, rank=2)
    remarks = " ".join(line[11:] for line in pdb.splitlines() if line.startswith("REMARK 250"))
    assert "this structure: rank 2, model_2" in remarks
    assert len(gemmi.read_pdb_string(pdb)[0]["A"]) == 4
    cif = outputs.to_mmcif(layout, second, PROVENANCE, file_id="t", rank=2)
    assert "# this structure: rank 2, model_2" in cif.splitlines()[1:12]
    gemmi.cif.read_string(cif)  # the comments stay legal CIF
