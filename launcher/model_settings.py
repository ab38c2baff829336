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
    """A ValueError naming the variable when a served model's settings cannot work, or name files this machine
    (where `phonos serve` runs the models) does not have."""
    for model in models:
        if not (repository / model / "config.pbtxt").is_file():
            continue  # Triton says so itself, naming the model
        config = model_config(repository, model)
        for read, prefixes in READERS.get(model, ()):
            _check_paths(read(triton_model_env(config, environ, prefixes)))


def _check_paths(settings: object) -> None:
    """The weights and databases a model would open at load or at its first job. Checked here, not in the
    settings classes: a job service elsewhere reads the same variables without the model's files."""
    paths: list[tuple[str, Path | None, str]] = []
    if isinstance(settings, EsmFoldSettings) and settings.weights_dir is not None:
        if not settings.weights_dir.exists():  # said as the other paths are, not as a directory missing a file
            raise ValueError(f"PHONOS_ESMFOLD_WEIGHTS_DIR={settings.weights_dir} does not exist: it should be an "
                             "esmfold_v1 directory (`phonos weights fetch esmfold`)")
        if not (settings.weights_dir / "config.json").is_file():
            raise ValueError(f"PHONOS_ESMFOLD_WEIGHTS_DIR={settings.weights_dir} has no config.json: it should be an "
                             "esmfold_v1 directory (`phonos weights fetch esmfold`)")
    if isinstance(settings, AlphaFold2Settings):
        paths += [("PHONOS_ALPHAFOLD2_PARAMS_DIR", settings.params_dir,
                   "DeepMind's parameters (params/params_model_N.npz: `phonos weights fetch alphafold2`)"),
                  ("PHONOS_ALPHAFOLD2_PDB_SEQRES", settings.pdb_seqres, "the template search's pdb_seqres.txt"),
                  ("PHONOS_ALPHAFOLD2_TEMPLATE_MMCIF_DIR", settings.template_mmcif_dir, "the templates' mmCIF files")]
        paths += [(f"PHONOS_ALPHAFOLD2_{db.name.upper()}", db.path, f"the {db.name} FASTA file (`phonos db build`)")
                  for db in settings.databases]
    for variable, path, what in paths:
        if path is not None and not path.exists():
            raise ValueError(f"{variable}={path} does not exist: it should be {what}")
