"""The Triton models' own settings (PHONOS_ESMFOLD_*, PHONOS_RELAX_*, PHONOS_ALPHAFOLD2_*, PHONOS_DIFFDOCK_*),
checked by `phonos serve` before it creates anything.

Each model reads them in its `initialize` (triton_models/*/1/model.py): its config.pbtxt parameters, overridden
by the server's environment (phonos_config.env.triton_model_env). Left to the model, a bad value is found only
after the data directory was made and an admin key printed, ~20 s into Triton's start, as a model-load failure
with a Python stack; read here the same way, it is one line naming the variable, as every other setting.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from phonos_config.alphafold2 import AlphaFold2Settings
from phonos_config.diffdock import DiffDockSettings
from phonos_config.env import triton_model_env
from phonos_config.esmfold import EsmFoldSettings
from phonos_config.relax import RelaxSettings

Reader = tuple[Callable[[Mapping[str, str]], object], tuple[str, ...]]

# What each Triton model's initialize reads, with the prefixes it passes to adapter.model_env.
READERS: dict[str, tuple[Reader, ...]] = {
    "esmfold": ((EsmFoldSettings.from_env, ("PHONOS_ESMFOLD_",)), (RelaxSettings.from_env, ("PHONOS_RELAX_",))),
    "alphafold2": ((AlphaFold2Settings.from_env, ("PHONOS_ALPHAFOLD2_", "PHONOS_DATA_DIR", "PHONOS_RELAX_")),),
    "diffdock": ((DiffDockSettings.from_env, ("PHONOS_DIFFDOCK_",)),),
    "esm2": ((DiffDockSettings.from_env, ("PHONOS_DIFFDOCK_",)),),
}


def model_config(repository: Path, model: str) -> dict[str, Any]:
    """A model's config.pbtxt as the JSON Triton hands its `initialize` (`args["model_config"]`)."""
    config = text_format.Parse((repository / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    return json_format.MessageToDict(config, preserving_proto_field_name=True)


def check_model_settings(models: Iterable[str], repository: Path, environ: Mapping[str, str]) -> None:
    """A ValueError naming the variable when a served model's settings cannot work."""
    for model in models:
        if not (repository / model / "config.pbtxt").is_file():
            continue  # Triton says so itself, naming the model
        config = model_config(repository, model)
        for read, prefixes in READERS.get(model, ()):
            read(triton_model_env(config, environ, prefixes))
