"""Public entry points: hyperparameters → networks, and checkpoint loading.

    hp = load_hyperparams("workdir/v1.1/score_model/model_parameters.yml")
    model = build_score_model(hp); load_checkpoint(model, "…/best_ema_inference_epoch_model.pt")

or `tiny_hyperparams("score")` for the default tiny random configuration.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn

from .confidence_model import AAModel, AAOldModel
from .hyperparams import (
    ConfidenceHyperparams,
    Hyperparams,
    ScoreHyperparams,
    UnsupportedConfig,
    load_hyperparams,
    tiny_hyperparams,
    with_graph_mode_of,
)
from .score_model import CGModel, CGOldModel

__all__ = [
    "ConfidenceHyperparams",
    "ScoreHyperparams",
    "UnsupportedConfig",
    "build_confidence_model",
    "build_model",
    "build_score_model",
    "load_checkpoint",
    "load_hyperparams",
    "state_dict_sha256",
    "tiny_hyperparams",
    "use_graph_mode_of",
    "with_graph_mode_of",
]

_CLASSES: dict[str, type[nn.Module]] = {"CGModel": CGModel, "CGOldModel": CGOldModel, "AAOldModel": AAOldModel, "AAModel": AAModel}


def build_model(hp: Hyperparams, seed: int | None = None) -> nn.Module:
    """Instantiate the class the hyperparameters name, in eval mode. `seed` makes the random
    initialisation reproducible (tiny weights)."""
    cls = _CLASSES.get(hp.model_class)
    if cls is None:
        raise UnsupportedConfig(f"DiffDock model class {hp.model_class} is not implemented")
    if seed is None:
        model = cls(hp)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = cls(hp)
    return model.eval()


def build_score_model(hp: ScoreHyperparams, seed: int | None = None) -> nn.Module:
    """forward(batch) → (tr_score [B,3], rot_score [B,3], tor_score [T])."""
    if hp.confidence_mode:
        raise ValueError("these hyperparameters describe a confidence model")
    return build_model(hp, seed)


def build_confidence_model(
    hp: ConfidenceHyperparams, seed: int | None = None, score_hp: ScoreHyperparams | None = None
) -> nn.Module:
    """forward(batch) → [B, n_out] confidence logits; column 0 ranks.

    Pass `score_hp` to build the receptor graphs with the score yml's kNN flag, as the reference's
    inference does (notes pitfall 7). A network reads its graph settings from the hyperparameters
    it was built with (`module.hp`), so replacing the hp object held elsewhere has no effect;
    `use_graph_mode_of(module, score_hp)` changes an already built (or loaded) network.
    """
    if not hp.confidence_mode:
        raise ValueError("these hyperparameters describe a score model")
    return build_model(with_graph_mode_of(hp, score_hp) if score_hp is not None else hp, seed)


def use_graph_mode_of(module: nn.Module, score_hp: ScoreHyperparams) -> nn.Module:
    """Make a built confidence network use the score model's receptor-graph mode (kNN vs radius).

    Graph settings have no parameters, so this is safe before or after loading a checkpoint."""
    current = module.hp
    if not isinstance(current, Hyperparams):
        raise TypeError("not a DiffDock network built by phonos_models.diffdock.build")
    setattr(module, "hp", with_graph_mode_of(current, score_hp))  # noqa: B010 (plain attribute, not a submodule)
    return module


def load_checkpoint(model: nn.Module, path: str | Path, map_location: str | torch.device = "cpu") -> str:
    """Strictly load an official DiffDock state dict (a plain dict of tensors, no `module.` prefix).

    Returns the file's sha256 (provenance for result metadata). `weights_only=True`: the
    checkpoints are plain tensors, and nothing else should be unpickled from a weights directory.
    """
    data = Path(path).read_bytes()
    state = torch.load(Path(path), map_location=map_location, weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # training checkpoints wrap the weights
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return hashlib.sha256(data).hexdigest()


def state_dict_sha256(model: nn.Module) -> str:
    """Content hash of a model's weights (names, shapes, dtypes and bytes), e.g. for tiny random weights."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(str(t.dtype).encode())
        h.update(t.numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()
