"""A running request's progress goes forward only: with several models, `step` of `total` counts the passes of
every model (before, each model's passes started again from 0: "model_1: pass 9 of 9", then "model_2: pass 2 of
9"), and the message names the model and how many there are."""

from __future__ import annotations

import pytest
from af2_helpers import QUERY
from phonos_models.alphafold2.pipeline import Engine, Request
from phonos_models.alphafold2.runner import recycle_progress
from phonos_models.common.progress import Progress


@pytest.mark.integration
def test_two_models_report_one_count_of_passes_that_never_goes_back(engine: Engine) -> None:
    heard: list[Progress] = []
    engine.predict(Request(sequence=QUERY, num_recycles=1, num_models=2), report=heard.append)
    assert [(p.stage, p.step, p.total, p.message) for p in heard] == [
        ("model", 0, 4, "model_1 (1 of 2)"),
        ("recycle", 0, 4, "model_1 (1 of 2): pass 1 of 2 (recycle 0 of 1)"),
        ("recycle", 1, 4, "model_1 (1 of 2): pass 2 of 2 (recycle 1 of 1)"),
        ("model", 2, 4, "model_2 (2 of 2)"),
        ("recycle", 2, 4, "model_2 (2 of 2): pass 1 of 2 (recycle 0 of 1)"),
        ("recycle", 3, 4, "model_2 (2 of 2): pass 2 of 2 (recycle 1 of 1)"),
    ]


@pytest.mark.unit
@pytest.mark.parametrize("models", [1, 2, 5])
def test_every_pass_of_every_model_is_one_step_further(models: int) -> None:
    steps = [recycle_progress(f"model_{k}", (k, models), recycle, 8)
             for k in range(1, models + 1) for recycle in range(9)]
    assert [p.step for p in steps] == list(range(9 * models)) and {p.total for p in steps} == {9 * models}
    assert steps[-1].message == f"model_{models} ({models} of {models}): pass 9 of 9 (recycle 8 of 8)"


@pytest.mark.unit
def test_a_multimer_that_stops_recycling_early_moves_on_to_the_next_models_share() -> None:
    # model_1 converged after pass 3 of 21: model_2's first pass is step 21 of 42, never fewer than before.
    stopped = recycle_progress("model_1_multimer_v3", (1, 2), 2, 20)
    after = recycle_progress("model_2_multimer_v3", (2, 2), 0, 20)
    assert (stopped.step, after.step, after.total) == (2, 21, 42)
    assert after.message == "model_2_multimer_v3 (2 of 2): pass 1 of 21 (recycle 0 of 20)"
