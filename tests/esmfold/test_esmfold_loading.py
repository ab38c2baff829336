"""The production loader: a local checkpoint directory, safetensors or `.bin`, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from phonos_models.common.weights import state_dict_sha256
from phonos_models.esmfold.architecture import build_tiny_model
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.loading import load_model
from phonos_models.esmfold.predict import fold

from phonos_config.env import triton_model_env
from phonos_config.esmfold import EsmFoldSettings

pytestmark = pytest.mark.integration

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQ"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    # seed 7: weights that differ from the built-in default, so loading must really read the files
    model = build_tiny_model(7)
    safetensors_dir = tmp_path_factory.mktemp("esmfold-safetensors")
    model.save_pretrained(safetensors_dir)  # model.safetensors + config.json
    assert (safetensors_dir / "model.safetensors").is_file()
    bin_dir = tmp_path_factory.mktemp("esmfold-bin")
    model.config.save_pretrained(bin_dir)
    torch.save(model.state_dict(), bin_dir / "pytorch_model.bin")  # the hub's esmfold_v1 layout
    return safetensors_dir, bin_dir


def test_safetensors_and_bin_checkpoints_give_identical_outputs(checkpoints, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    safetensors_dir, bin_dir = checkpoints
    results = []
    for directory in (safetensors_dir, bin_dir):
        settings = EsmFoldSettings.from_env({"PHONOS_ESMFOLD_WEIGHTS_DIR": str(directory)})
        loaded = load_model(settings.weights_dir)
        assert loaded.weights.real and loaded.weights.name == directory.name
        results.append((loaded.weights.sha256, fold(loaded.model, [FoldJob(SEQUENCE, 2, None)])[0]))
    (hash_a, a), (hash_b, b) = results
    assert hash_a == hash_b, "the content hash must not depend on the file format"
    # every tensor came from the files: nothing was left to random initialisation
    assert hash_a == state_dict_sha256(build_tiny_model(7).state_dict())
    np.testing.assert_array_equal(a.atom_positions, b.atom_positions)
    np.testing.assert_array_equal(a.plddt, b.plddt)
    np.testing.assert_array_equal(a.pae, b.pae)
    assert a.ptm == b.ptm
    default = load_model(None)
    assert default.weights.sha256 != hash_a
    assert not np.allclose(fold(default.model, [FoldJob(SEQUENCE, 2, None)])[0].atom_positions, a.atom_positions)


def test_directory_without_weights_fails_clearly(tmp_path: Path) -> None:
    build_tiny_model(0).config.save_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match="holds none of"):
        load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(tmp_path / "missing")


def test_settings_defaults_and_validation() -> None:
    settings = EsmFoldSettings.from_env({})
    assert settings.uses_tiny_weights and settings.max_length == 1000
    assert settings.effective_chunk_size(100, 0) is None
    assert settings.effective_chunk_size(100, 32) == 32
    assert settings.effective_chunk_size(settings.auto_chunk_length + 1, 0) == settings.auto_chunk_size
    with pytest.raises(ValueError, match="PHONOS_ESMFOLD_MAX_LENGTH"):
        EsmFoldSettings.from_env({"PHONOS_ESMFOLD_MAX_LENGTH": "0"})
    with pytest.raises(ValueError, match="must be an integer"):
        EsmFoldSettings.from_env({"PHONOS_ESMFOLD_NUM_THREADS": "two"})


def test_full_size_architecture_matches_esmfold_v1_size() -> None:
    # on the meta device: the shapes without 14 GB of memory
    from phonos_models.esmfold.architecture import build_full_size_random_model

    model = build_full_size_random_model(0, "meta")
    esm = sum(p.numel() for p in model.esm.parameters())
    total = sum(p.numel() for p in model.parameters())
    assert 2.8e9 < esm < 2.9e9  # ESM-2 3B (2.84 B, Lin et al. 2023)
    assert 3.4e9 < total < 3.6e9  # esmfold_v1 as a whole (~3.5 B)
    assert len(model.trunk.blocks) == 48


def test_triton_settings_env_wins_over_config_parameters() -> None:
    config = {"parameters": {"PHONOS_ESMFOLD_WEIGHTS_DIR": {"string_value": "/models/esmfold_v1"},
                             "PHONOS_ESMFOLD_MAX_LENGTH": {"string_value": "700"},
                             "unrelated": {"string_value": "x"}}}

    def settings(environ: dict[str, str]) -> EsmFoldSettings:
        return EsmFoldSettings.from_env(triton_model_env(config, environ, ("PHONOS_ESMFOLD_",)))

    assert settings({}).weights_dir == Path("/models/esmfold_v1")
    overridden = settings({"PHONOS_ESMFOLD_WEIGHTS_DIR": "", "HOME": "/root"})
    assert overridden.weights_dir is None and overridden.max_length == 700
    assert "unrelated" not in triton_model_env(config, {"HOME": "/root"}, ("PHONOS_ESMFOLD_",))
    with pytest.raises(ValueError, match="tiny or full"):
        EsmFoldSettings.from_env(triton_model_env({}, {"PHONOS_ESMFOLD_RANDOM_ARCHITECTURE": "huge"},
                                                  ("PHONOS_ESMFOLD_",)))


NARROW_IMPORT_CHECK = """
import json, sys, types
from pathlib import Path
import numpy as np
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.loading import load_model
from phonos_models.esmfold.predict import fold
import transformers
import transformers.models.esm.modeling_esmfold as esmfold
# transformers.models is the plain package (its __init__'s second index of every model's source skipped) ...
assert type(sys.modules["transformers.models"]) is types.ModuleType, type(sys.modules["transformers.models"])
assert transformers.EsmForProteinFolding is esmfold.EsmForProteinFolding  # ... while the top-level index still works
from transformers import AutoConfig
assert type(AutoConfig.for_model("esm")).__name__ == "EsmConfig"
out = {}
for name, directory in (("tiny", None), ("checkpoint", Path(sys.argv[1]))):
    loaded = load_model(directory)
    (result,) = fold(loaded.model, [FoldJob(sys.argv[2], 2, None)])
    out[name] = {"sha": loaded.weights.sha256, "plddt": np.asarray(result.plddt).tolist(), "ptm": float(result.ptm)}
print(json.dumps(out))
"""


def test_the_narrow_transformers_import_loads_and_folds_exactly_as_the_full_one(checkpoints) -> None:
    """A model instance imports transformers' ESM classes without `transformers.models`' own index
    (phonos_models.common.transformers_esm, ~0.4 s of every instance's start): in such a fresh process the
    built-in tiny model and a checkpoint load with the same weights and fold to the same numbers as here."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", NARROW_IMPORT_CHECK, str(checkpoints[0]), SEQUENCE], env=env,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    there = json.loads(run.stdout.splitlines()[-1])
    for name, directory in (("tiny", None), ("checkpoint", checkpoints[0])):
        loaded = load_model(directory)
        (here,) = fold(loaded.model, [FoldJob(SEQUENCE, 2, None)])
        assert there[name]["sha"] == loaded.weights.sha256
        assert there[name]["plddt"] == np.asarray(here.plddt).tolist() and there[name]["ptm"] == float(here.ptm)
