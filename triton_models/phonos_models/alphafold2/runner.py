"""Running one AlphaFold2 model: compiled forward pass, own recycle loop, float32 outputs.

Why not the fork's `RunModel.predict()`: it casts every output but the
coordinates to float16 and hard-codes the recycling buffers at 256/128
channels. Here the haiku module is applied directly (one jitted pass per
recycle, as DeepMind's AF 2.3 does), outputs stay float32, and `should_stop`
is checked between passes so a cancelled job stops computing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import haiku as hk
import jax
import ml_collections
import numpy as np
from alphafold.common import confidence
from alphafold.model import modules

from phonos_models.alphafold2 import features as feats
from phonos_models.alphafold2.msa import Alignment
from phonos_models.common.errors import Cancelled, ResourceExhausted
from phonos_models.common.progress import Progress, Report, ignore

ShouldStop = Callable[[], bool]


# XLA reports allocation failures as a runtime error whose text starts with the status code.
_XLA_ERROR: type[Exception] = getattr(jax.errors, "JaxRuntimeError", RuntimeError)

_cache_lock = threading.Lock()
_cache_dir: Path | None = None


def configure_compile_cache(path: Path) -> None:
    """Persist compiled XLA programs under `path`, so restarts skip the compile.

    Min compile time and entry size 0: even the tiny model's programs take
    seconds to compile on CPU and are worth keeping.
    """
    global _cache_dir
    with _cache_lock:
        if _cache_dir == path:
            return
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        _cache_dir = path


@dataclass(frozen=True)
class ModelOutput:
    """One model's prediction, cut back to the true length (no padding)."""

    model_name: str
    positions: np.ndarray  # [L, 37, 3] float32, Å, atom37 order
    atom_mask: np.ndarray  # [L, 37] float32, 1 where the atom exists for the residue type
    plddt: np.ndarray  # [L] float32, 0–100
    pae: np.ndarray | None  # [L, L] float32, Å; pTM models only
    max_pae: float | None  # Å, upper edge of the PAE bins
    ptm: float | None  # 0–1; pTM models only
    recycles: int  # recycling passes after the first
    seconds: float  # wall time of this model's passes

    @property
    def mean_plddt(self) -> float:
        return float(self.plddt.mean())


class CompiledModel:
    """One haiku network + its jitted apply; XLA keeps one program per padded shape."""

    def __init__(self, cfg: ml_collections.ConfigDict) -> None:
        self.cfg = cfg
        self.num_ensemble = int(cfg.data.eval.num_ensemble)
        model_cfg = cfg.model

        if self.num_ensemble == 1:
            def forward(batch: Mapping[str, Any]) -> Any:
                return modules.AlphaFold_noE(model_cfg)(batch, is_training=False)
        else:
            def forward(batch: Mapping[str, Any]) -> Any:
                return modules.AlphaFold(model_cfg)(batch, is_training=False, ensemble_representations=True)

        self._transformed = hk.transform(forward)
        self._apply = jax.jit(self._transformed.apply)
        self._shapes: Any = None

    def _prev(self, bucket: int) -> dict[str, np.ndarray]:
        evo = self.cfg.model.embeddings_and_evoformer
        return {
            "prev_msa_first_row": np.zeros((bucket, evo.msa_channel), np.float32),
            "prev_pair": np.zeros((bucket, bucket, evo.pair_channel), np.float32),
            "prev_pos": np.zeros((bucket, 37, 3), np.float32),
        }

    def param_shapes(self) -> Any:
        """The haiku parameter tree's shapes (traced once, never compiled)."""
        if self._shapes is None:
            query = "A" * 8
            raw = feats.raw_features(query, Alignment.single(query))
            sample = feats.recycle_slice(feats.process(raw, self.cfg, 8, 0), 0, self.num_ensemble)
            self._shapes = jax.eval_shape(self._transformed.init, jax.random.PRNGKey(0), {**sample, "prev": self._prev(8)})
        return self._shapes

    def run(self, model_name: str, params: Any, processed: Mapping[str, np.ndarray], length: int,
            num_recycles: int, random_seed: int, should_stop: ShouldStop, report: Report = ignore) -> ModelOutput:
        bucket = int(processed["aatype"].shape[-1])
        # On device from the start: later passes feed back device arrays, and jit
        # keys its cache on that too (numpy in → a second program).
        prev: Any = jax.device_put(self._prev(bucket))
        key = jax.random.PRNGKey(random_seed)
        start = time.perf_counter()
        result: Any = None
        try:
            for recycle in range(num_recycles + 1):
                if should_stop():
                    raise Cancelled(f"cancelled before pass {recycle + 1} of {model_name}")
                report(Progress("recycle", recycle + 1, num_recycles + 1,
                                f"{model_name}: pass {recycle + 1} of {num_recycles + 1} (recycle {recycle} of {num_recycles})"))
                key, sub_key = jax.random.split(key)
                batch = jax.device_put(feats.recycle_slice(processed, recycle, self.num_ensemble))
                result = self._apply(params, sub_key, {**batch, "prev": prev})
                # Wait for this pass: with JAX's asynchronous dispatch every pass would
                # otherwise be queued at once and a cancellation could not stop them.
                prev = jax.block_until_ready(result["prev"])
            fetched = jax.device_get(result)  # dispatch is asynchronous: failures surface here too
        except _XLA_ERROR as exc:
            if "RESOURCE_EXHAUSTED" not in str(exc):
                raise
            raise ResourceExhausted(
                f"out of memory running {model_name} on {length} residues (padded to {bucket}); "
                "try a shorter sequence or ask the operator for a larger accelerator") from exc
        return _to_output(model_name, fetched, length, num_recycles, time.perf_counter() - start)


def _to_output(model_name: str, result: Mapping[str, Any], length: int, recycles: int, seconds: float) -> ModelOutput:
    """Confidences recomputed on the unpadded residues, in float32, with DeepMind's formulas."""
    structure = result["structure_module"]
    plddt = confidence.compute_plddt(np.asarray(result["predicted_lddt"]["logits"][:length], np.float32))
    pae = max_pae = ptm = None
    head = result.get("pae_matrix_with_logits", result.get("predicted_aligned_error"))
    if isinstance(head, Mapping) and "logits" in head:
        logits = np.asarray(head["logits"][:length, :length], np.float32)
        breaks = np.asarray(head["breaks"], np.float32)
        errors = confidence.compute_predicted_aligned_error(logits=logits, breaks=breaks)
        pae = np.asarray(errors["predicted_aligned_error"], np.float32)
        max_pae = float(errors["max_predicted_aligned_error"])
        ptm = float(confidence.predicted_tm_score(logits=logits, breaks=breaks))
    return ModelOutput(
        model_name=model_name,
        positions=np.asarray(structure["final_atom_positions"][:length], np.float32),
        atom_mask=np.asarray(structure["final_atom_mask"][:length], np.float32),
        plddt=np.asarray(plddt, np.float32),
        pae=pae,
        max_pae=max_pae,
        ptm=ptm,
        recycles=recycles,
        seconds=seconds,
    )
