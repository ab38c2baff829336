"""Model parameters: DeepMind's npz layout, tiny random weights, content hashes.

DeepMind ships one `params/params_model_N[_ptm].npz` per model, a flat mapping
`"<haiku module path>//<parameter name>"` → float32 array, with the triangle
multiplications' left/right projections stored separately. The ColabFold fork
runs them fused; `alphafold.model.utils.flat_params_to_haiku` converts between
the two. Tiny random weights are generated *in DeepMind's layout* and go through
the same conversion, so the production loading path runs in every test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from alphafold.model import utils as af_utils

FlatParams = dict[str, np.ndarray]  # "scope//name" -> float32 array, DeepMind's layout
HaikuParams = dict[str, dict[str, np.ndarray]]  # scope -> name -> array, the fork's fused layout


class WeightsError(RuntimeError):
    """Parameters missing, unreadable or not matching the architecture."""


@dataclass(frozen=True)
class ModelWeights:
    """The parameters of one model and where they came from."""

    model_name: str  # DeepMind's name, e.g. "model_1_ptm"
    source: str  # "tiny-random-seed0" or the npz path
    sha256: str  # of the npz file (real) or of the canonical array bytes (tiny)
    real: bool
    params: HaikuParams


def flatten(tree: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {f"{scope}//{name}": value for scope, names in tree.items() for name, value in names.items()}


def to_deepmind_layout(fused: Mapping[str, Mapping[str, Any]]) -> FlatParams:
    """The fork's fused haiku tree → DeepMind's flat, unfused layout (numpy)."""
    flat = {key: np.asarray(value) for key, value in flatten(fused).items()}
    return {key: np.asarray(value) for key, value in flatten(af_utils.flat_params_to_haiku(flat, fuse=False, to_jnp=False)).items()}


def from_deepmind_layout(flat: Mapping[str, np.ndarray]) -> HaikuParams:
    """DeepMind's flat layout → the fork's fused haiku tree (numpy, stays on host)."""
    return af_utils.flat_params_to_haiku(dict(flat), fuse=True, to_jnp=False)


def random_deepmind_params(shapes: Mapping[str, Mapping[str, Any]], seed: int, *,
                           fused_layout: bool = False) -> FlatParams:
    """Random float32 parameters for the given haiku shape tree, in DeepMind's layout.

    Weights ~ N(0, 1/fan_in) (LeCun normal, as haiku's default Linear init),
    biases and LayerNorm offsets 0, LayerNorm scales 1. Drawn with numpy from a
    fixed seed in sorted key order, so the content hash does not depend on the
    JAX version. `fused_layout`: the multimer v3 files store the triangle
    multiplications fused (`projection`, `gate`, `center_norm`, `left_norm_input`),
    exactly as the network uses them; the monomer files store them split.
    """
    rng = np.random.default_rng(seed)
    fused: HaikuParams = {}
    for scope in sorted(shapes):
        fused[scope] = {}
        for name in sorted(shapes[scope]):
            shape = tuple(shapes[scope][name].shape)
            if name == "scale":
                array = np.ones(shape, np.float32)
            elif name in ("bias", "offset") or name.endswith("_b"):
                array = np.zeros(shape, np.float32)
            else:
                array = (rng.standard_normal(shape) / np.sqrt(_fan_in(name, shape))).astype(np.float32)
            fused[scope][name] = array
    if fused_layout:
        return {key: np.asarray(value) for key, value in flatten(fused).items()}
    return to_deepmind_layout(fused)


def _fan_in(name: str, shape: tuple[int, ...]) -> int:
    """Input width of a weight; a leading stacked-block axis (evoformer layers) never counts.

    Linear weights are [..., in, out]; attention projections [..., in, heads, dim];
    attention output [..., heads, dim, out].
    """
    if len(shape) < 2:
        return 1
    if name == "output_w" and len(shape) >= 3:
        return max(shape[-3] * shape[-2], 1)
    if name.endswith("_w") and len(shape) >= 3:
        return max(shape[-3], 1)
    return max(shape[-2], 1)


def content_hash(flat: Mapping[str, np.ndarray]) -> str:
    """sha256 over sorted names, dtypes, shapes and bytes: equal iff the parameters are equal."""
    digest = hashlib.sha256()
    for key in sorted(flat):
        array = np.ascontiguousarray(flat[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}\n".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def npz_path(params_dir: Path, model_name: str) -> Path:
    """DeepMind's layout: `<params_dir>/params/params_<model>.npz` (a bare `params` dir also works)."""
    nested = params_dir / "params" / f"params_{model_name}.npz"
    return nested if nested.exists() or not (params_dir / f"params_{model_name}.npz").exists() else params_dir / f"params_{model_name}.npz"


def write_npz(path: Path, flat: Mapping[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        np.savez(handle, **{key: np.asarray(value, np.float32) for key, value in flat.items()})


def load_npz(path: Path) -> FlatParams:
    if not path.exists():
        raise WeightsError(f"AlphaFold2 parameters not found: {path} (expected DeepMind's params/params_<model>.npz layout)")
    with np.load(path, allow_pickle=False) as data:
        return {key: np.asarray(data[key]) for key in data.files}


def select_expected(params: HaikuParams, shapes: Mapping[str, Mapping[str, Any]], where: str) -> HaikuParams:
    """Keep the parameters the architecture uses; fail loudly on missing or misshapen ones.

    Extra parameters are expected: models 1–2 ship template weights that a run
    without templates does not use.
    """
    missing: list[str] = []
    wrong: list[str] = []
    chosen: HaikuParams = {}
    for scope, names in shapes.items():
        chosen[scope] = {}
        for name, spec in names.items():
            array = params.get(scope, {}).get(name)
            if array is None:
                missing.append(f"{scope}//{name}")
            elif tuple(array.shape) != tuple(spec.shape):
                wrong.append(f"{scope}//{name} {tuple(array.shape)} != {tuple(spec.shape)}")
            else:
                chosen[scope][name] = np.asarray(array, np.float32)
    if missing or wrong:
        raise WeightsError(
            f"{where} does not match the AlphaFold2 architecture: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(wrong)} misshapen (e.g. {wrong[:3]})"
        )
    return chosen
