"""The production loader: a local checkpoint directory, safetensors or `.bin`, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from phonos_config.esmfold import EsmFoldSettings
from phonos_models.common.weights import state_dict_sha256
from phonos_models.esmfold.architecture import build_tiny_model
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.loading import load_model
from phonos_models.esmfold.predict import fold

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
