"""Templates: hmmsearch against a PDB-seqres file, DeepMind's featurizer reading mmCIF, models 1-2 using them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from af2_helpers import QUERY, mutate, settings_env, write_template_database
from phonos_models.alphafold2.pipeline import Engine, Request

from jobservice.modelspecs.alphafold2 import build_spec
from phonos_config.alphafold2 import AlphaFold2Settings

pytestmark = pytest.mark.integration


class NoOutputs:
    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("not used")


def template_env(root: Path, **extra: str) -> dict[str, str]:
    seqres, mmcif_dir = write_template_database(root, "1tmp", mutate(QUERY, every=6))
    return settings_env(PHONOS_ALPHAFOLD2_PDB_SEQRES=str(seqres), PHONOS_ALPHAFOLD2_TEMPLATE_MMCIF_DIR=str(mmcif_dir), **extra)


def test_templates_default_on_when_configured_and_reach_models_1_and_2(engine: Engine, tmp_path: Path) -> None:
    env = template_env(tmp_path)
    job = asyncio.run(build_spec(env).validate(QUERY, {}, NoOutputs()))
    assert job.params["use_templates"] is True and "templates_note" not in job.params

    with_templates = Engine(AlphaFold2Settings.from_env(env))
    prediction = with_templates.predict(Request(sequence=QUERY, use_templates=True, num_recycles=0))
    meta = prediction.metadata()["templates"]
    assert meta["used"] is True and meta["hits"] == ["1tmp_A"] and meta["models_using_templates"] == ["model_1"]
    assert meta["database"]["name"] == "pdb_seqres" and meta["database"]["version"].startswith("sha256:")
    assert "templates" in prediction.timings
    plain = engine.predict(Request(sequence=QUERY, num_recycles=0))
    assert not np.allclose(plain.ranked[0].positions, prediction.ranked[0].positions)  # the template reached the model


def test_max_template_date_filters_out_newer_templates(tmp_path: Path) -> None:
    env = template_env(tmp_path, PHONOS_ALPHAFOLD2_MAX_TEMPLATE_DATE="1990-01-01")  # the template is from 1999
    prediction = Engine(AlphaFold2Settings.from_env(env)).predict(
        Request(sequence=QUERY, use_templates=True, num_recycles=0))
    meta = prediction.metadata()["templates"]
    assert meta["used"] is False and meta["hits"] == [] and "no usable template" in meta["reason"]
