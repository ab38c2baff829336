"""The result files say how their structure was made: the PDB REMARKs, the mmCIF comments and the zip's README
name the PDB templates the models read (or why none) and the sequence databases the MSA came from, as the job's
metadata does. A downloaded file travels without the metadata: a template-based model must say so itself."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from af2_helpers import QUERY, mutate, settings_env, write_template_database
from phonos_models.alphafold2 import build_db, serving
from phonos_models.alphafold2.pipeline import Engine, Request

from phonos_config.alphafold2 import AlphaFold2Settings

pytestmark = pytest.mark.integration


def files(prediction) -> dict[str, str]:
    """The text of the rank-1 PDB, the mmCIF and the zip's README, as the model sends them."""
    result = serving.result(prediction)
    by_format = {f.format: f.content for f in result.files}
    readme = zipfile.ZipFile(io.BytesIO(by_format["zip"])).read("README.md").decode()
    return {"pdb": by_format["pdb"].decode(), "cif": by_format["cif"].decode(), "readme": readme}


def test_files_name_the_templates_and_databases_that_made_the_structure(tmp_path: Path) -> None:
    seqres, mmcif_dir = write_template_database(tmp_path / "pdb", "1tmp", mutate(QUERY, every=6))
    homologs = tmp_path / "homologs.fasta"
    homologs.write_text("".join(f">hom{k}\n{mutate(QUERY, every=k)}\n" for k in (3, 4, 5)))
    uniref90 = build_db.build(homologs, tmp_path / "db", "uniref90").fasta
    engine = Engine(AlphaFold2Settings.from_env(settings_env(
        PHONOS_ALPHAFOLD2_PDB_SEQRES=str(seqres), PHONOS_ALPHAFOLD2_TEMPLATE_MMCIF_DIR=str(mmcif_dir),
        PHONOS_ALPHAFOLD2_UNIREF90=str(uniref90))))
    prediction = engine.predict(Request(sequence=QUERY, msa_mode="search", use_templates=True, num_recycles=0))
    meta = prediction.metadata()
    assert meta["templates"]["hits"] == ["1tmp_A"]
    template_version = meta["templates"]["database"]["version"][:len("sha256:") + 16]
    database_version = meta["databases"][0]["version"][:len("sha256:") + 16]

    out = files(prediction)
    templates = f"templates 1tmp_A from pdb_seqres {template_version}, read by model_1"
    databases = f"MSA databases uniref90 {database_version}"
    # REMARK 250 wraps its free text at 69 columns
    remarks = " ".join(line.removeprefix("REMARK 250 ").rstrip() for line in out["pdb"].splitlines()
                       if line.startswith("REMARK 250"))
    assert templates in remarks and databases in remarks
    comments = [line.removeprefix("# ") for line in out["cif"].splitlines() if line.startswith("# ")]
    assert templates in comments and databases in comments
    assert f"| templates | 1tmp_A from pdb_seqres {template_version}, read by model_1 |" in out["readme"]
    assert f"| MSA databases | uniref90 {database_version} |" in out["readme"]


def test_files_without_templates_say_why(engine: Engine) -> None:
    out = files(engine.predict(Request(sequence=QUERY, num_recycles=0, templates_note="no template database here")))
    assert "REMARK 250 templates none (no template database here)" in [line.rstrip() for line in out["pdb"].splitlines()]
    assert "# templates none (no template database here)" in out["cif"].splitlines()
    assert "| templates | none (no template database here) |" in out["readme"]
    assert "MSA databases" not in out["pdb"] + out["readme"]  # single sequence: nothing was searched
