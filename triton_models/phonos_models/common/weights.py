"""Weight provenance: every result names the weights that produced it.

The hash is taken over the loaded tensors (names, dtypes, shapes, bytes), not
over files, so the same weights saved as safetensors or as a `.bin` state dict
hash the same, and the hash proves what actually ran. torch is imported only to hash: the processes
that build result files (phonos_models.common.file_workers) read `WeightsInfo` without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

TINY_NOTE = "not a real prediction: tiny randomly initialised weights, for tests and demos only"
TINY_WARNING = "NOT A REAL PREDICTION: tiny randomly initialised weights, for tests and demos only"


@dataclass(frozen=True)
class WeightsInfo:
    name: str  # human-readable: the checkpoint directory's name, or "esmfold-tiny-random-seed0"
    sha256: str  # hex digest of the tensors, see `state_dict_sha256`
    real: bool  # False for tiny random weights: results are not real predictions

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def short(self) -> str:
        return f"{self.name} sha256:{self.sha256[:16]}"


def state_dict_sha256(state: Mapping[str, torch.Tensor]) -> str:
    """A content hash of a state dict, independent of the file format it came from."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(str(tuple(tensor.shape)).encode())
        # view as bytes: works for every dtype, including bfloat16 that numpy lacks
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
