"""Running one AlphaFold2 model: compiled forward pass, own recycle loop, float32 outputs.

Why not the fork's `RunModel.predict()`: it casts every output but the final
coordinates to float16 inside the jitted apply, the recycled state (`prev`:
MSA first row, pair representation, positions) included, and hard-codes the
recycling buffers at 256/128 channels. Here the haiku module is applied
directly (one jitted pass per recycle, as DeepMind's AF 2.3 does), the
recycled state and every output stay float32, and `should_stop` is checked
between passes so a cancelled job stops computing.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import alphafold.model
import haiku as hk
import jax
import ml_collections
import numpy as np
from alphafold.model import modules, modules_multimer

from phonos_models.alphafold2 import features as feats
from phonos_models.alphafold2.compile_clock import compile_seconds
from phonos_models.alphafold2.confidence import Confidence, summarize
from phonos_models.alphafold2.msa import Alignment
from phonos_models.common.chains import ChainLayout
from phonos_models.common.errors import Cancelled, ResourceExhausted
from phonos_models.common.progress import Progress, Report, ShouldStop, ignore

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


@functools.cache
def _code_fingerprint() -> str:
    """What, besides the config, decides a network's parameter shapes: the JAX and haiku versions and the
    source of DeepMind's model code and of this module (its sample batches). Read once per process."""
    digest = hashlib.sha256(f"jax {jax.__version__} haiku {hk.__version__}".encode())
    for source in sorted(Path(alphafold.model.__file__).parent.glob("*.py")) + [Path(__file__)]:
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


def _shape_config(cfg: ml_collections.ConfigDict) -> str:
    """The config less what only counts passes or sizes the inputs (the recycles; the MSA rows each stack
    takes, which the first request's MSA sets): no parameter depends on those (Engine.weights' cache keys on
    the same), and with them a server would miss entries an earlier process wrote for another MSA depth."""
    tree = cfg.to_dict()
    tree.pop("data", None)
    model = tree.get("model", {})
    model.pop("num_recycle", None)
    for field in ("num_msa", "num_extra_msa"):
        model.get("embeddings_and_evoformer", {}).pop(field, None)
    return json.dumps(tree, sort_keys=True, default=str)


@dataclass(frozen=True)
class ModelOutput:
    """One model's prediction, cut back to the true length (no padding)."""

    model_name: str
    positions: np.ndarray  # [L, 37, 3] float32, Å, atom37 order, chains concatenated
    atom_mask: np.ndarray  # [L, 37] float32, 1 where the atom exists for the residue type
    confidence: Confidence
    recycles: int  # recycling passes run after the first (fewer than asked when the multimer stops early)
    seconds: float  # wall time of this model's passes
    compile_seconds: float = 0.0  # of `seconds`, XLA compilation (compile_clock): a new program's first pass only

    @property
    def plddt(self) -> np.ndarray:  # [L] float32, 0–100
        return self.confidence.plddt

    @property
    def pae(self) -> np.ndarray | None:  # [L, L] float32, Å; pTM and multimer models only
        return self.confidence.pae

    @property
    def max_pae(self) -> float | None:  # Å, the matrix maximum
        return self.confidence.max_pae

    @property
    def ptm(self) -> float | None:
        return self.confidence.ptm

    @property
    def iptm(self) -> float | None:
        return self.confidence.iptm

    @property
    def mean_plddt(self) -> float:
        return self.confidence.mean_plddt

    @property
    def ranking_confidence(self) -> float:
        return self.confidence.ranking_confidence


class _Network:
    """One haiku network + its jitted apply, and the recycle loop; XLA keeps one program per padded shape."""

    def __init__(self, cfg: ml_collections.ConfigDict, forward: Callable[[Mapping[str, Any]], Any]) -> None:
        self.cfg = cfg
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

    def _sample_batch(self) -> Mapping[str, np.ndarray]:
        """Inputs of one pass for an 8-residue query (parameter shapes do not depend on the input)."""
        raise NotImplementedError

    def _pass_batch(self, features: Mapping[str, np.ndarray], recycle: int) -> Mapping[str, np.ndarray]:
        raise NotImplementedError

    def _converged(self, result: Mapping[str, Any], recycle: int) -> bool:
        return False

    def _input_order(self, features: Mapping[str, np.ndarray], length: int) -> np.ndarray | None:
        """Where each residue of the sequence (chains in input order) sits in the model's input; None: in place."""
        return None

    def param_shapes(self) -> Any:
        """The haiku parameter tree's shapes (traced once, never compiled).

        Tracing the whole network takes seconds on CPU (as long for the tiny model as for the full one) and
        every process paid it again for each model it loads (weights are checked or drawn against these
        shapes), so the tree is kept beside the persistent XLA cache when one is configured: a restarted
        server reads it back. Keyed by the config and the code that builds the network (_code_fingerprint)."""
        if self._shapes is None:
            cached = self._shapes_file()
            if cached is not None and cached.exists():
                try:
                    self._shapes = {scope: {name: jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype))
                                            for name, (shape, dtype) in names.items()}
                                    for scope, names in json.loads(cached.read_text()).items()}
                except (OSError, ValueError, TypeError):
                    self._shapes = None  # unreadable (a partial copy, an old format): trace again
            if self._shapes is None:
                self._shapes = jax.eval_shape(self._transformed.init, jax.random.PRNGKey(0),
                                              {**self._sample_batch(), "prev": self._prev(8)})
                if cached is not None:
                    self._save_shapes(cached, self._shapes)
        return self._shapes

    def _shapes_file(self) -> Path | None:
        """Where this network's parameter shapes are kept, or None without a persistent cache."""
        if _cache_dir is None:
            return None
        key = hashlib.sha256(f"{type(self).__name__}\n{_shape_config(self.cfg)}\n{_code_fingerprint()}"
                             .encode()).hexdigest()
        return _cache_dir / "param-shapes" / f"{key}.json"

    @staticmethod
    def _save_shapes(path: Path, shapes: Any) -> None:
        tree = {scope: {name: [list(spec.shape), np.dtype(spec.dtype).name] for name, spec in names.items()}
                for scope, names in shapes.items()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written whole, then renamed: another process reading the cache never sees half a file.
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(tree))
            os.replace(partial, path)
        except OSError:
            pass  # a read-only or full cache: the next process traces again, nothing else changes

    def run(self, model_name: str, params: Any, features: Mapping[str, np.ndarray], layout: ChainLayout,
            num_recycles: int, random_seed: int, should_stop: ShouldStop, report: Report = ignore,
            position: tuple[int, int] = (1, 1)) -> ModelOutput:
        """One model's passes. `position`: this model's number and how many the request runs, so the progress
        counts the passes of every model (`step` of `total` never goes back when the next model starts)."""
        start, compiled_before = time.perf_counter(), compile_seconds()
        length = len(layout.residues)
        bucket = int(features["aatype"].shape[-1])
        # On device from the start: later passes feed back device arrays, and jit
        # keys its cache on that too (numpy in → a second program).
        prev: Any = jax.device_put(self._prev(bucket))
        key = jax.random.PRNGKey(random_seed)
        result: Any = None
        recycle = 0
        try:
            for recycle in range(num_recycles + 1):
                if should_stop():
                    raise Cancelled(f"cancelled before pass {recycle + 1} of {model_name}")
                report(recycle_progress(model_name, position, recycle, num_recycles))
                key, sub_key = jax.random.split(key)
                batch = jax.device_put(self._pass_batch(features, recycle))
                result = self._apply(params, sub_key, {**batch, "prev": prev})
                # Wait for this pass: with JAX's asynchronous dispatch every pass would
                # otherwise be queued at once and a cancellation could not stop them.
                prev = jax.block_until_ready(result["prev"])
                if self._converged(result, recycle):
                    break
            fetched = jax.device_get(result)  # dispatch is asynchronous: failures surface here too
        except _XLA_ERROR as exc:
            if "RESOURCE_EXHAUSTED" not in str(exc):
                raise
            raise ResourceExhausted(
                f"out of memory running {model_name} on {length} residues (padded to {bucket}); "
                "try a shorter sequence or ask the operator for a larger accelerator") from exc
        fetched = _in_order(fetched, length, self._input_order(features, length))
        structure = fetched["structure_module"]
        return ModelOutput(
            model_name=model_name,
            positions=np.asarray(structure["final_atom_positions"], np.float32),
            atom_mask=np.asarray(structure["final_atom_mask"], np.float32),
            confidence=summarize(fetched, length, layout.chain_index, layout.ids),
            recycles=recycle,
            seconds=time.perf_counter() - start,
            compile_seconds=compile_seconds() - compiled_before,
        )


def recycle_progress(model_name: str, position: tuple[int, int], recycle: int, num_recycles: int) -> Progress:
    """Pass `recycle` + 1 of model `position[0]` of `position[1]` starting. `step`: the request's passes done, every
    model's counted as num_recycles + 1 (a multimer that stops early skips the rest of its share)."""
    number, models = position
    passes = num_recycles + 1
    return Progress("recycle", (number - 1) * passes + recycle, models * passes,
                    f"{model_name} ({number} of {models}): pass {recycle + 1} of {passes} "
                    f"(recycle {recycle} of {num_recycles})")


def _in_order(result: Mapping[str, Any], length: int, order: np.ndarray | None) -> dict[str, Any]:
    """The per-residue outputs cut to `length` (no padding) and put in sequence order."""
    pick = np.arange(length) if order is None else order

    def rows(array: Any) -> np.ndarray:
        return np.asarray(array)[pick]

    out: dict[str, Any] = dict(result)
    structure = result["structure_module"]
    out["structure_module"] = {"final_atom_positions": rows(structure["final_atom_positions"]),
                               "final_atom_mask": rows(structure["final_atom_mask"])}
    out["predicted_lddt"] = {"logits": rows(result["predicted_lddt"]["logits"])}
    for name in ("pae_matrix_with_logits", "predicted_aligned_error"):
        head = result.get(name)
        if isinstance(head, Mapping) and "logits" in head:
            out[name] = {**head, "logits": np.asarray(head["logits"])[np.ix_(pick, pick)]}
    return out


class CompiledModel(_Network):
    """A monomer model (presets monomer, monomer_ptm, monomer_casp14). Its features come from
    DeepMind's TF-free input pipeline with one MSA sample per pass."""

    def __init__(self, cfg: ml_collections.ConfigDict) -> None:
        self.num_ensemble = int(cfg.data.eval.num_ensemble)
        model_cfg = cfg.model
        if self.num_ensemble == 1:
            def forward(batch: Mapping[str, Any]) -> Any:
                return modules.AlphaFold_noE(model_cfg)(batch, is_training=False)
        else:
            def forward(batch: Mapping[str, Any]) -> Any:
                return modules.AlphaFold(model_cfg)(batch, is_training=False, ensemble_representations=True)
        super().__init__(cfg, forward)

    def _sample_batch(self) -> Mapping[str, np.ndarray]:
        query = "A" * 8
        raw = feats.raw_features(query, Alignment.single(query))
        return feats.recycle_slice(feats.process(raw, self.cfg, 8, 0), 0, self.num_ensemble)

    def _pass_batch(self, features: Mapping[str, np.ndarray], recycle: int) -> Mapping[str, np.ndarray]:
        return feats.recycle_slice(features, recycle, self.num_ensemble)


class MultimerModel(_Network):
    """An AlphaFold-Multimer v3 model. It samples its own MSA from the raw features on every pass and
    stops recycling early once the CA distance matrix moves less than `recycle_early_stop_tolerance`
    (0.5 Å) between passes, as DeepMind's AlphaFold 2.3 does."""

    def __init__(self, cfg: ml_collections.ConfigDict) -> None:
        model_cfg = cfg.model
        self.early_stop = float(model_cfg.recycle_early_stop_tolerance)

        def forward(batch: Mapping[str, Any]) -> Any:
            return modules_multimer.AlphaFold(model_cfg)(batch, is_training=False)
        super().__init__(cfg, forward)

    def _sample_batch(self) -> Mapping[str, np.ndarray]:
        from phonos_models.alphafold2 import multimer_features

        query = "A" * 8
        merged = multimer_features.assemble([multimer_features.chain_features(query, Alignment.single(query), None,
                                                                                heteromer=False)])
        evo = self.cfg.model.embeddings_and_evoformer
        return multimer_features.pad(merged, 8, int(evo.num_msa) + int(evo.num_extra_msa))

    def _pass_batch(self, features: Mapping[str, np.ndarray], recycle: int) -> Mapping[str, np.ndarray]:
        return features

    def _input_order(self, features: Mapping[str, np.ndarray], length: int) -> np.ndarray | None:
        # DeepMind's merge groups a homomer's copies together ("A:B:A" runs as A, A, B); asym_id
        # numbers the chains in input order, so a stable sort on it restores that order.
        return np.argsort(np.asarray(features["asym_id"])[:length], kind="stable")

    def _converged(self, result: Mapping[str, Any], recycle: int) -> bool:
        # DeepMind: keep going while i == 0 or the change exceeds the tolerance (modules_multimer.py).
        return recycle > 0 and self.early_stop > 0 and float(result["tol"]) <= self.early_stop
