"""Every ranked AlphaFold2 structure file says which model made it: the provenance lists the weights of
all models that ran, so a `rank_N_pdb` downloaded on its own must name its own model and rank."""

from __future__ import annotations

from dataclasses import replace

import gemmi
import numpy as np
import pytest
from phonos_models.alphafold2 import outputs, serving
from phonos_models.common.chains import ChainLayout
from phonos_models.common.relax import RelaxedStructure, RelaxOutcome
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


def test_relaxed_files_name_their_model_and_rank() -> None:
    """relax: all gives rank_N_relaxed_pdb files: each says which ranked structure it is, like the unrelaxed ones."""
    layout = ChainLayout.of("MKTA")
    mask = np.zeros((4, 37), np.float32)
    mask[:, :3] = 1
    ranked = [replace(output(name, plddt, None, None), atom_mask=mask) for name, plddt in (("model_2", 70.0),
                                                                                          ("model_1", 60.0))]
    # The relaxed text here is the unrelaxed structure: this test is about the file's header, not the relax.
    outcome = RelaxOutcome(status="completed", platform="CPU", openmm_version="8", relaxed={
        out.model_name: RelaxedStructure(out.model_name, outputs.to_pdb(layout, out, PROVENANCE, rank), 0, 0, 0, 0,
                                         0.0, 0.0, 0.0, 1, 0.0)
        for rank, out in enumerate(ranked, start=1)})
    files = {f.format: f.content.decode() for f in serving.relaxed_files(["model_2", "model_1"], outcome, PROVENANCE)}
    assert set(files) == {"relaxed_pdb", "relaxed_cif", "rank_2_relaxed_pdb"}
    second = " ".join(line[11:] for line in files["rank_2_relaxed_pdb"].splitlines() if line.startswith("REMARK 250"))
    assert "this structure: rank 2, model_1" in second and "Amber-relaxed" in second
    first = " ".join(line[11:] for line in files["relaxed_pdb"].splitlines() if line.startswith("REMARK 250"))
    assert "this structure: rank 1, model_2" in first
    assert "# this structure: rank 1, model_2" in files["relaxed_cif"].splitlines()


def test_the_bundles_readme_describes_every_ranked_and_relaxed_file() -> None:
    """The zip's README left `rank_2_pdb` undescribed (the descriptions name the kind, `rank_N_pdb`), and
    `relaxed_cif` and the relaxed ranked files too."""
    from phonos_models.alphafold2 import report
    from phonos_models.common import bundle
    from phonos_models.common.result_files import text_file

    formats = ["pdb", "cif", "rank_2_pdb", "rank_3_pdb", "relaxed_pdb", "relaxed_cif", "rank_2_relaxed_pdb"]
    files = [(f"alphafold2.{name}", text_file(name, "chemical/x-pdb", "x", extension=name)) for name in formats]
    text = bundle.readme(bundle.Summary("AlphaFold2 prediction", None, (), report.DESCRIPTIONS), files)
    rows = {line.split("|")[2].strip(" `"): line.split("|")[3].strip() for line in text.splitlines()
            if line.startswith("| `alphafold2.")}
    assert set(rows) == set(formats)
    assert all(rows.values()), rows
    assert rows["rank_3_pdb"] == report.DESCRIPTIONS["rank_N_pdb"]
