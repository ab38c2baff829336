"""A job's timings say what the job spent: XLA compilation (the first request of a length bucket) is named
`compile`, setting the models up (shapes, weights) `model_setup`; both 0 for a request that found them done.
`compile` is part of `models`' seconds, which are part of `total`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import pytest
from af2_helpers import QUERY
from jax import monitoring
from jax._src import dispatch  # the context manager JAX times its own compile stages with
from phonos_models.alphafold2.compile_clock import compile_seconds
from phonos_models.alphafold2.pipeline import Engine, Request

REPO = Path(__file__).resolve().parents[2]


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
    assert_compile_within_models_within_total(first)
    timings = engine.predict(Request(sequence=QUERY, num_recycles=0, num_models=1)).timings
    assert timings["compile"] == 0.0 and timings["model_setup"] < 0.5
    assert set(timings) >= {"msa", "features", "model_setup", "models", "compile", "total"}
    assert_compile_within_models_within_total(timings)


def assert_compile_within_models_within_total(timings: dict[str, Any]) -> None:
    assert 0 <= timings["compile"] <= sum(timings["models"].values()) <= timings["total"], timings


def _stage(event: str, seconds: float) -> Any:
    """One compile stage as JAX times it, `seconds` long before any stage nested in it."""
    class Stage:
        def __enter__(self) -> None:
            self.timer = dispatch.log_elapsed_time("{fun_name} {elapsed_time}", fun_name="test", event=event)
            self.timer.__enter__()
            time.sleep(seconds)

        def __exit__(self, *exc: object) -> None:
            self.timer.__exit__(*exc)
    return Stage()


@pytest.mark.unit
def test_nested_compile_stages_and_the_cache_read_inside_them_count_once() -> None:
    # A jitted function traced inside another's trace, its backend compile reading the persistent cache: before,
    # every event was added up (0.5 s of "compile" here in 0.3 s).
    before, start = compile_seconds(), time.perf_counter()
    with _stage(dispatch.JAXPR_TRACE_EVENT, 0.1):
        with _stage(dispatch.JAXPR_TRACE_EVENT, 0.1):
            pass
    with _stage(dispatch.BACKEND_COMPILE_EVENT, 0.1):
        monitoring.record_event_duration_secs("/jax/compilation_cache/cache_retrieval_time_sec", 0.1)
    elapsed = time.perf_counter() - start
    assert 0.3 <= compile_seconds() - before <= elapsed


@pytest.mark.unit
def test_the_compile_clock_counts_the_calling_threads_compiles_only() -> None:
    before = compile_seconds()
    other = threading.Thread(target=lambda: jax.jit(lambda x: jnp.sin(x) * 5.0)(jnp.ones((3, 11))).block_until_ready())
    other.start()
    other.join()
    assert compile_seconds() == before


# A fresh process and an empty compile cache: a real first compile of the tiny model, then another process reading
# the programs back from the persistent cache (its read happens inside JAX's backend compile stage).
_FIRST_COMPILE = """
import json, sys
from af2_helpers import settings_env
from phonos_config.alphafold2 import AlphaFold2Settings
from phonos_models.alphafold2.pipeline import Engine, Request
engine = Engine(AlphaFold2Settings.from_env(settings_env(PHONOS_ALPHAFOLD2_COMPILE_CACHE=sys.argv[1])))
print(json.dumps(engine.predict(Request(sequence=sys.argv[2], num_recycles=1, num_models=2)).timings))
"""


@pytest.mark.integration
def test_a_first_compile_is_inside_the_models_seconds_which_are_inside_the_total(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (REPO, REPO / "triton_models",
                                                                         Path(__file__).parent))}
    runs = [json.loads(subprocess.run([sys.executable, "-c", _FIRST_COMPILE, str(tmp_path / "jax-cache"), QUERY],
                                      env=env, capture_output=True, text=True, check=True, timeout=600).stdout)
            for _ in ("compiled", "read from the persistent cache")]
    for timings in runs:  # before: compile 22.9 s in a 21.0 s request whose model_1 took 17.1 s
        assert_compile_within_models_within_total(timings)
        assert timings["compile"] > 0 and timings["models"]["model_2"] < timings["models"]["model_1"]
    compiled, cached = runs
    assert compiled["compile"] > cached["compile"]
