"""Loading ESMFold weights, with provenance.

Two sources: a local checkpoint directory (`config.json` plus
`model.safetensors` or `pytorch_model.bin`, e.g. a copy of the hub's
`facebook/esmfold_v1`) loaded offline with `from_pretrained`, or the built-in
tiny random model. Either way the result carries a `WeightsInfo` whose hash is
taken over the loaded tensors.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from phonos_models.common import software
from phonos_models.common.instance import ModelInstance
from phonos_models.common.transformers_esm import EsmForProteinFolding
from phonos_models.common.weights import WeightsInfo, state_dict_sha256
from phonos_models.esmfold.architecture import build_full_size_random_model, build_tiny_model

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class LoadedModel:
    model: EsmForProteinFolding
    weights: WeightsInfo
    device: torch.device
    load_s: float  # seconds spent building/loading and hashing
    software: dict[str, str] = field(default_factory=dict)  # package -> version, read at the load

    @property
    def instance(self) -> ModelInstance:
        """What every job this load serves reports of it (never in a job's timings)."""
        return ModelInstance(load_s=self.load_s, software=self.software)


RANDOM_ARCHITECTURES = ("tiny", "full")


def load_model(
    weights_dir: Path | None, tiny_seed: int = 0, device: str = "cpu", random_architecture: str = "tiny"
) -> LoadedModel:
    """Weights from `weights_dir`, or random weights of the tiny or the full-size architecture."""
    started = time.perf_counter()
    if weights_dir is None and random_architecture == "full":
        model = build_full_size_random_model(tiny_seed, device)
        name, real = f"esmfold-full-size-random-seed{tiny_seed}", False
    elif weights_dir is None:
        model = build_tiny_model(tiny_seed)
        name, real = f"esmfold-tiny-random-seed{tiny_seed}", False
    else:
        model = _from_checkpoint(weights_dir)
        name, real = weights_dir.resolve().name, True
    # nn.Module.to moves in place; transformers wraps `to` in a way type checkers misread
    torch.nn.Module.to(model, torch.device(device))
    model.eval()
    model.requires_grad_(False)
    weights = WeightsInfo(name=name, sha256=state_dict_sha256(model.state_dict()), real=real)
    return LoadedModel(model=model, weights=weights, device=torch.device(device), load_s=time.perf_counter() - started,
                       software=software.versions(software.ESMFOLD))


def _from_checkpoint(directory: Path) -> EsmForProteinFolding:
    if not (directory / "config.json").is_file():
        raise FileNotFoundError(f"ESMFold weights directory {directory} has no config.json")
    if not any((directory / name).is_file() for name in WEIGHT_FILES):
        raise FileNotFoundError(f"ESMFold weights directory {directory} holds none of {', '.join(WEIGHT_FILES)}")
    # Never reach for the network: a missing file must fail here, not download 8 GB.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return EsmForProteinFolding.from_pretrained(str(directory), local_files_only=True)
