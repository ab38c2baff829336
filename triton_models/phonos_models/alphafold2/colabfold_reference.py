"""ColabFold's recycling precision, for comparisons only (never served).

The fork's `RunModel.predict()` rounds everything a pass returns but the final coordinates to
float16, the recycled state (`prev`) included. `run_with_float16_state` is phonos' recycle loop with
exactly that rounding between passes: on the same weights and features it reproduces ColabFold's
coordinates bit for bit (tests/alphafold2/test_fidelity.py), which is how phonos' float32 runner is
shown to be the same computation; bench/alphafold2_recycle_precision.py measures the difference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from phonos_models.alphafold2 import features as feats
from phonos_models.alphafold2.runner import CompiledModel


def run_with_float16_state(model: CompiledModel, params: Any, processed: Mapping[str, np.ndarray],
                           num_recycles: int, seed: int) -> dict[str, Any]:
    """The outputs of the last pass (padded), the recycled state rounded to float16 between passes."""
    bucket = int(processed["aatype"].shape[-1])
    prev = jax.tree_util.tree_map(lambda x: jnp.asarray(x, jnp.float16), model._prev(bucket))
    key = jax.random.PRNGKey(seed)
    result: Any = None
    for recycle in range(num_recycles + 1):
        key, sub_key = jax.random.split(key)
        batch = jax.device_put(feats.recycle_slice(processed, recycle, model.num_ensemble))
        result = model._apply(params, sub_key, {**batch, "prev": prev})
        prev = jax.tree_util.tree_map(lambda x: x.astype(jnp.float16), result["prev"])
    return jax.device_get(result)
