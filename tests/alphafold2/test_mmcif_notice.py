"""The licence and disclaimer of AlphaFold2's mmCIF (`_pdbx_data_usage`). DeepMind's writer states "ALPHAFOLD DATA,
COPYRIGHT (2021) DEEPMIND ..." and a CC-BY-4.0 licence: kept for DeepMind's parameters, replaced for any other
weights by a notice naming them (the tiny random weights' files claimed DeepMind's copyright over a prediction that
is none). No model runs here; test_modelcif.py checks a tiny-weights fold's file."""

from __future__ import annotations

import io
from dataclasses import replace

import gemmi
import pytest
from alphafold.common import mmcif_metadata
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from phonos_models.alphafold2 import outputs
from test_mmcif_entities import PROVENANCE, made_up

pytestmark = pytest.mark.unit

# What the service states for DeepMind's parameters (a stand-in: no real params are read).
OFFICIAL = replace(PROVENANCE, real_weights=True,
                   weights="model_1_multimer_v3=/params/params_model_1_multimer_v3.npz sha256:0123456789abcdef")


def category(provenance: outputs.Provenance, name: str = "_pdbx_data_usage.") -> dict[str, list[str]]:
    cif = outputs.to_mmcif(*made_up(("MKTAY", "MKTAY")), provenance, file_id="t")
    gemmi.cif.read_string(cif).sole_block()  # valid CIF, one data block
    raw = MMCIF2Dict(io.StringIO(cif))
    return {key.removeprefix(name): value for key, value in raw.items() if key.startswith(name)}


def data_usage(provenance: outputs.Provenance) -> dict[str, list[str]]:
    return category(provenance)


def test_deepminds_parameters_keep_deepminds_licence_and_disclaimer_as_their_writer_gives_them() -> None:
    assert data_usage(OFFICIAL) == {
        "id": ["1", "2"], "type": ["license", "disclaimer"],
        "details": ["Data in this file is available under a CC-BY-4.0 license.", mmcif_metadata._DISCLAIMER],
        "url": ["https://creativecommons.org/licenses/by/4.0/", "?"], "name": ["CC-BY-4.0", "?"]}


def test_other_weights_replace_deepminds_notice_with_one_naming_them() -> None:
    usage = data_usage(PROVENANCE)
    assert usage["type"] == ["disclaimer"] and usage["url"] == ["?"] and usage["name"] == ["?"]
    (details,) = usage["details"]
    assert "DEEPMIND" not in details and "CC-BY-4.0 license." not in details
    assert f"weights {PROVENANCE.weights}, which are not DeepMind's AlphaFold2 parameters" in details
    assert outputs.NOT_REAL in details


def test_only_deepminds_parameters_name_deepminds_people_as_the_files_authors() -> None:
    assert "Jumper, John" in category(OFFICIAL, "_audit_author.")["name"]  # as their writer gives it
    assert category(PROVENANCE, "_audit_author.") == {}  # another's weights: the file is not theirs
    cited = category(PROVENANCE, "_citation_author.")["name"]  # the method's paper is still cited
    assert "Jumper, John" in cited
