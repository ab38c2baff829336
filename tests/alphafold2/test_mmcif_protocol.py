"""AlphaFold2's mmCIF lists only the ModelCIF protocol steps that ran. DeepMind's writer always wrote "coevolution
MSA", "template search" and "modeling", so a single-sequence prediction without templates claimed an MSA and a
template search it never made. Read back with Biopython's MMCIF2Dict; no model runs."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from phonos_models.alphafold2 import outputs
from test_mmcif_entities import PROVENANCE, made_up

pytestmark = pytest.mark.unit


def steps(provenance: outputs.Provenance) -> list[tuple[str, str, str]]:
    raw = MMCIF2Dict(io.StringIO(outputs.to_mmcif(*made_up(("MKTAY",)), provenance, file_id="t")))
    return list(zip(raw["_ma_protocol_step.ordinal_id"], raw["_ma_protocol_step.step_id"],
                    raw["_ma_protocol_step.method_type"], strict=True))


@pytest.mark.parametrize(("msa_mode", "templates", "expected"), [
    ("single_sequence", "none (use_templates was false)", ["modeling"]),
    ("search", "none (no template database here)", ["coevolution MSA", "modeling"]),
    ("a3m", "1abc_A from pdb_seqres sha256:00, read by model_1", ["coevolution MSA", "template search", "modeling"]),
    ("single_sequence", "chain A: 1abc_A; chain B: none from pdb_seqres", ["template search", "modeling"]),
    ("search", None, ["coevolution MSA", "template search", "modeling"]),  # not stated: left as written
])
def test_protocol_steps_are_the_ones_that_ran(msa_mode: str, templates: str | None, expected: list[str]) -> None:
    listed = steps(replace(PROVENANCE, msa_mode=msa_mode, templates=templates))
    assert [method for *_, method in listed] == expected
    numbers = [str(n) for n in range(1, len(expected) + 1)]
    assert [ordinal for ordinal, _, _ in listed] == numbers and [step for _, step, _ in listed] == numbers
