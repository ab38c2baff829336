"""A relaxed structure with violations left is reported as such, not as a clean relax with 0 clashes.

Measured: AlphaFold2 `MKTAYIAKQRQISFVKS` on the tiny weights, relax "all": rank 1 relaxed to 0 clashing pairs
with 13 of 17 residues still violating (a 2.37 Å peptide C–N, energy +3442 kcal/mol), and the job said nothing.
The report is built from an outcome here (no OpenMM), the way relax_step.report receives it from the worker.
"""

from __future__ import annotations

import pytest
from phonos_models.common import relax_step
from phonos_models.common.relax import COMPLETED, RelaxedStructure, RelaxOutcome

from tests.relax.structures import ideal_helix_pdb

pytestmark = pytest.mark.unit

PDB = ideal_helix_pdb("MKTAYIAKQRQISFVKS")  # 17 residues


def _relaxed(name: str, violations_after: int, energy_after: float) -> RelaxedStructure:
    return RelaxedStructure(name=name, pdb=PDB, clashes_before=40, clashes_after=0, violations_before=17,
                            violations_after=violations_after, rmsd=1.2, energy_before=9.9e5,
                            energy_after=energy_after, attempts=1, seconds=3.0)


def test_violations_left_after_relax_are_a_warning_naming_each_structure_and_a_metric() -> None:
    outcome = RelaxOutcome(COMPLETED, {"model_1_ptm": _relaxed("model_1_ptm", 13, 3442.1),
                                       "model_2_ptm": _relaxed("model_2_ptm", 0, -310.0)}, openmm_version="8.1")
    built = relax_step.report("all", outcome, best="model_1_ptm")
    assert built.metrics["clashes_relaxed"] == 0
    assert built.metrics["violations_relaxed"] == 13 and built.metrics["violations_unrelaxed"] == 17
    (warning,) = built.warnings
    assert "model_1_ptm: 13 of 17 residues (Amber energy +3442.1 kcal/mol)" in warning
    assert "model_2_ptm" not in warning  # no violations left: not named
    metadata: dict = {"warnings": ["an earlier note"], "software": {"phonos": "0.1.0"}}
    metrics: dict = {}
    built.add_to({}, metrics, metadata, {})
    assert metadata["warnings"] == ["an earlier note", warning] and metrics["violations_relaxed"] == 13
    assert metadata["software"] == {"phonos": "0.1.0", "openmm": "8.1"}  # the relax ran OpenMM: named with the rest


def test_a_clean_relax_warns_of_nothing_and_a_failed_one_keeps_its_message() -> None:
    clean = relax_step.report("best", RelaxOutcome(COMPLETED, {"esmfold": _relaxed("esmfold", 0, -400.0)}), "esmfold")
    assert clean.warnings == () and clean.metrics["violations_relaxed"] == 0
    outcome = RelaxOutcome("failed", {"model_2": _relaxed("model_2", 2, 15.0)}, errors={"model_1": "boom"},
                           message="Amber relax failed for model_1 (boom)")
    failed = relax_step.report("all", outcome, best="model_1")
    assert failed.metrics == {}  # rank 1 was not relaxed: no metrics, as before
    metadata: dict = {}
    relax_step.report("best", RelaxOutcome("failed", errors={"model_1": "boom"}, message="m"), "model_1").add_to(
        {}, {}, metadata, {})
    assert "software" not in metadata  # nothing relaxed: OpenMM produced nothing here
    assert failed.warnings[0] == "Amber relax failed for model_1 (boom)" and "model_2: 2 of 17" in failed.warnings[1]
