"""Templates: hmmsearch against a PDB-seqres file, DeepMind's featurizer reading mmCIF, models 1-2 using them; and the
result files saying how their structure was made (a downloaded file travels without the job's metadata: the PDB
REMARKs, the mmCIF comments and the zip's README name the templates the models read, or why none, and the databases
the MSA came from)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from af2_helpers import QUERY, mutate, settings_env, write_template_database
from phonos_models.alphafold2 import build_db, serving
from phonos_models.alphafold2.pipeline import Engine, Prediction, Request

from jobservice.modelspecs.alphafold2 import build_spec
from phonos_config.alphafold2 import AlphaFold2Settings

pytestmark = pytest.mark.integration


class NoOutputs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("not used")


def template_env(root: Path, **extra: str) -> dict[str, str]:
    seqres, mmcif_dir = write_template_database(root, "1tmp", mutate(QUERY, every=6))
    return settings_env(PHONOS_ALPHAFOLD2_PDB_SEQRES=str(seqres), PHONOS_ALPHAFOLD2_TEMPLATE_MMCIF_DIR=str(mmcif_dir), **extra)


@pytest.fixture(scope="module")
def templated(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], Prediction]:
    """A search-mode job with templates (one engine compiled for both tests that read it): its settings and result."""
    root = tmp_path_factory.mktemp("templated")
    homologs = root / "homologs.fasta"
    homologs.write_text("".join(f">hom{k}\n{mutate(QUERY, every=k)}\n" for k in (3, 4, 5)))
    uniref90 = build_db.build(homologs, root / "db", "uniref90").fasta
    env = template_env(root / "pdb", PHONOS_ALPHAFOLD2_UNIREF90=str(uniref90))
    engine = Engine(AlphaFold2Settings.from_env(env))
    return env, engine.predict(Request(sequence=QUERY, msa_mode="search", use_templates=True, num_recycles=0))


def test_templates_default_on_when_configured_and_reach_models_1_and_2(engine: Engine, templated: tuple) -> None:
    env, prediction = templated
    job = asyncio.run(build_spec(env).validate(QUERY, {}, NoOutputs()))
    assert job.params["use_templates"] is True and "templates_note" not in job.params

    meta = prediction.metadata()["templates"]
    assert meta["used"] is True and meta["hits"] == ["1tmp_A"] and meta["models_using_templates"] == ["model_1"]
    assert meta["database"]["name"] == "pdb_seqres" and meta["database"]["version"].startswith("sha256:")
    assert "templates" in prediction.timings
    plain = engine.predict(Request(sequence=QUERY, num_recycles=0))
    assert not np.allclose(plain.ranked[0].positions, prediction.ranked[0].positions)  # the template reached the model


def result_texts(prediction: Prediction) -> dict[str, str]:
    """The text of the rank-1 PDB, the mmCIF and the zip's README, as the model sends them."""
    by_format = {f.format: f.content for f in serving.result(prediction).files}
    readme = zipfile.ZipFile(io.BytesIO(by_format["zip"])).read("README.md").decode()
    return {"pdb": by_format["pdb"].decode(), "cif": by_format["cif"].decode(), "readme": readme}


def test_files_name_the_templates_and_databases_that_made_the_structure(templated: tuple) -> None:
    """The PDB REMARKs, the mmCIF comments and the zip's README name the templates and the MSA's databases."""
    _, prediction = templated
    meta = prediction.metadata()
    assert meta["templates"]["hits"] == ["1tmp_A"]
    template_version = meta["templates"]["database"]["version"][:len("sha256:") + 16]
    database_version = meta["databases"][0]["version"][:len("sha256:") + 16]

    out = result_texts(prediction)
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
    out = result_texts(engine.predict(Request(sequence=QUERY, num_recycles=0, templates_note="no template database here")))
    assert "REMARK 250 templates none (no template database here)" in [line.rstrip() for line in out["pdb"].splitlines()]
    assert "# templates none (no template database here)" in out["cif"].splitlines()
    assert "| templates | none (no template database here) |" in out["readme"]
    assert "MSA databases" not in out["pdb"] + out["readme"]  # single sequence: nothing was searched


def test_max_template_date_filters_out_newer_templates(tmp_path: Path) -> None:
    env = template_env(tmp_path, PHONOS_ALPHAFOLD2_MAX_TEMPLATE_DATE="1990-01-01")  # the template is from 1999
    prediction = Engine(AlphaFold2Settings.from_env(env)).predict(
        Request(sequence=QUERY, use_templates=True, num_recycles=0))
    meta = prediction.metadata()["templates"]
    assert meta["used"] is False and meta["hits"] == [] and "no usable template" in meta["reason"]
