"""A job's timings say what the job spent: XLA compilation (the first request of a length bucket) is named
`compile`, setting the models up (shapes, weights) `model_setup`; both 0 for a request that found them done."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from af2_helpers import QUERY
from phonos_models.alphafold2.compile_clock import compile_seconds
from phonos_models.alphafold2.pipeline import Engine, Request


@pytest.mark.unit
def test_the_compile_clock_counts_a_new_program_and_not_a_cached_one() -> None:
    square = jax.jit(lambda x: jnp.tanh(x) @ x.T * 3.0)
    before = compile_seconds()
    square(jnp.ones((5, 7))).block_until_ready()
    compiled = compile_seconds()
    assert compiled > before
    square(jnp.ones((5, 7))).block_until_ready()  # the same shapes: no compile
    assert compile_seconds() == compiled


@pytest.mark.integration
def test_a_request_that_finds_its_program_compiled_reports_no_compile(engine: Engine) -> None:
    first = engine.predict(Request(sequence=QUERY, num_recycles=0, num_models=1)).timings
    if first["model_setup"] > 0.5:  # this process met the model here first: it compiled (or read the cache) too
        assert first["compile"] > 0
    timings = engine.predict(Request(sequence=QUERY, num_recycles=0, num_models=1)).timings
    assert timings["compile"] == 0.0 and timings["model_setup"] < 0.5
    assert set(timings) >= {"msa", "features", "model_setup", "models", "compile", "total"}
