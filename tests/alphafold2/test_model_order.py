"""Per-model maps in a job's metadata (`msa_stacks`, `recycles`, `timings.models`, a relax's `errors`) are in the
models' own order, model_1 first; only `ranking` is in the ranking's (before: `recycles` came in the ranking's
order, which reads as random)."""

from __future__ import annotations

import dataclasses

import pytest
from af2_helpers import QUERY
from phonos_models.alphafold2 import serving
from phonos_models.alphafold2.architecture import in_model_order
from phonos_models.alphafold2.pipeline import Engine, Request

from phonos_config.relax import RelaxSettings


@pytest.mark.unit
def test_model_names_sort_by_their_numbers() -> None:
    names = ["model_3", "model_10", "model_1", "model_2_ptm",
             "model_2_multimer_v3_pred_10", "model_2_multimer_v3_pred_2", "model_1_multimer_v3_pred_0"]
    assert list(in_model_order({name: 0 for name in names})) == [
        "model_1", "model_1_multimer_v3_pred_0", "model_2_multimer_v3_pred_2", "model_2_multimer_v3_pred_10",
        "model_2_ptm", "model_3", "model_10"]
    assert in_model_order({"model_2": {"clusters": 1}, "model_1": {"clusters": 2}}) == {"model_1": {"clusters": 2},
                                                                                        "model_2": {"clusters": 1}}


@pytest.mark.integration
def test_per_model_metadata_is_in_model_order_and_the_ranking_in_rank_order(engine: Engine) -> None:
    prediction = engine.predict(Request(sequence=QUERY, num_recycles=0, num_models=3))
    # Ranked last model first, whatever the tiny weights' confidences say: the ranking is not the models' order.
    ranked = tuple(sorted(prediction.ranked, key=lambda out: out.model_name, reverse=True))
    prediction = dataclasses.replace(prediction, ranked=ranked,
                                     request=dataclasses.replace(prediction.request, relax="all"))
    models = ["model_1", "model_2", "model_3"]
    meta = prediction.metadata()
    assert meta["ranking"] == ["model_3", "model_2", "model_1"]
    assert list(meta["recycles"]) == list(meta["msa_stacks"]) == list(meta["timings"]["models"]) == models
    # A relax that runs out of time names every structure it did not relax, in the models' order too.
    relax = serving.result(prediction, RelaxSettings(timeout_s=0.3)).metadata["relax"]
    assert relax["status"] == "timed_out" and list(relax["errors"]) == models
