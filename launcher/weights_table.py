"""Where the official weights live, what they must hash to, and the layout the loaders read.

The one table `phonos weights fetch` works from. Every URL is the publisher's own location; every
checksum says where it came from. Where no publisher checksum could be found, `sha256` is None and
the fetcher trusts the first download (its size and SHA-256 are recorded in the target directory and
every later fetch into that directory must match them): trust on first use, said plainly in
`checksum_source`.

Sources (looked up 2026-11-29):
* ESMFold: Hugging Face hub `facebook/esmfold_v1`, pinned to commit 75a3841ee059df2bf4d56688166c8fb459ddd97a
  (main); the SHA-256 of `pytorch_model.bin` is its Git LFS object id, shown on the hub's file page.
* ESM-2 650M (DiffDock's embeddings): `facebook/esm2_t33_650M_UR50D`, `model.safetensors` LFS id from
  the hub's file page (main, commit 08e4846 "Adding safetensors variant").
* AlphaFold2: DeepMind's `alphafold_params_2022-12-06.tar` (alphafold README, scripts/
  download_alphafold_params.sh). DeepMind publishes neither a checksum nor an exact size.
* DiffDock-L: the gcorso/DiffDock v1.1 release asset `diffdock_models.zip` (the URL inference.py falls
  back to). The authors publish no checksum; size and SHA-256 come from a third-party manifest
  (Biosimulant/models-diffdock, `diffdock-checkpoints.json`), not from the authors.
"""

from __future__ import annotations

from dataclasses import dataclass

ESMFOLD_REVISION = "75a3841ee059df2bf4d56688166c8fb459ddd97a"
TOFU = "none published: size and SHA-256 recorded on first download (trust on first use)"


@dataclass(frozen=True)
class RemoteFile:
    url: str  # the publisher's location
    path: str  # where it goes, relative to the set's directory (archives: the download's name)
    sha256: str | None  # None: trust on first use
    size: int | None  # bytes; None when unpublished (checked against the server's Content-Length)
    approx_size: str  # for people: "8.44 GB"
    checksum_source: str
    unpack: str | None = None  # "tar" or "zip": extract into the set's directory, then delete the archive


@dataclass(frozen=True)
class WeightSet:
    name: str  # what `phonos weights fetch NAME` takes
    title: str
    directory: str  # created under --dir
    files: tuple[RemoteFile, ...]
    settings: tuple[str, ...]  # PHONOS_* variables to set to the set's directory
    expect: tuple[str, ...]  # paths that must exist after unpacking (relative to the set's directory)
    licence: str
    hint: str = ""


def _hub(repo: str, revision: str, name: str, sha256: str | None, approx: str, source: str) -> RemoteFile:
    return RemoteFile(f"https://huggingface.co/{repo}/resolve/{revision}/{name}", name, sha256, None, approx, source)


def _hub_checkpoint(repo: str, revision: str, weights: str, sha256: str, approx: str, source: str,
                    small: tuple[tuple[str, str], ...]) -> tuple[RemoteFile, ...]:
    """A transformers checkpoint on the hub: config.json first, the weights file, then the tokenizer files
    (`small`: name and size as the hub shows them; none has a published checksum)."""
    return (_hub(repo, revision, "config.json", None, small[0][1], TOFU),
            _hub(repo, revision, weights, sha256, approx, source),
            *(_hub(repo, revision, name, None, size, TOFU) for name, size in small[1:]))


_ESMFOLD_LFS = "Git LFS object id on huggingface.co/facebook/esmfold_v1 (commit 75a3841)"
_ESM2_LFS = "Git LFS object id on huggingface.co/facebook/esm2_t33_650M_UR50D (main, commit 08e4846)"

WEIGHT_SETS: dict[str, WeightSet] = {
    "esmfold": WeightSet(
        name="esmfold",
        title="ESMFold (facebook/esmfold_v1)",
        directory="esmfold_v1",
        files=_hub_checkpoint(
            "facebook/esmfold_v1", ESMFOLD_REVISION, "pytorch_model.bin",
            "2ee07356b125d1e3e57503c204111fd7323347fc4735d41d3caac57c2a78e116", "8.44 GB", _ESMFOLD_LFS,
            (("config.json", "2.1 kB"), ("vocab.txt", "72 B"), ("special_tokens_map.json", "121 B"),
             ("tokenizer_config.json", "40 B"))),
        settings=("PHONOS_ESMFOLD_WEIGHTS_DIR",),
        expect=("config.json", "pytorch_model.bin"),
        licence="MIT",
    ),
    "esm2": WeightSet(
        name="esm2",
        title="ESM-2 650M (facebook/esm2_t33_650M_UR50D), DiffDock's protein embeddings",
        directory="esm2_t33_650M_UR50D",
        files=_hub_checkpoint(
            "facebook/esm2_t33_650M_UR50D", "main", "model.safetensors",
            "a08adabb949fa67ad3c14b509d04fd60368b35007b0095e3358f81200c4f4db0", "2.61 GB", _ESM2_LFS,
            (("config.json", "724 B"), ("vocab.txt", "93 B"), ("special_tokens_map.json", "125 B"),
             ("tokenizer_config.json", "95 B"))),
        settings=("PHONOS_DIFFDOCK_ESM_DIR",),
        expect=("config.json", "model.safetensors"),
        licence="MIT",
    ),
    "alphafold2": WeightSet(
        name="alphafold2",
        title="AlphaFold2 parameters (DeepMind, 2022-12-06 release)",
        directory="alphafold2",
        files=(
            RemoteFile("https://storage.googleapis.com/alphafold/alphafold_params_2022-12-06.tar",
                       "params/alphafold_params_2022-12-06.tar", None, None, "5.3 GB", TOFU, unpack="tar"),
        ),
        settings=("PHONOS_ALPHAFOLD2_PARAMS_DIR",),
        expect=("params/params_model_1.npz", "params/params_model_1_ptm.npz"),
        licence="CC BY 4.0 (parameters), see params/LICENSE",
    ),
    "diffdock": WeightSet(
        name="diffdock",
        title="DiffDock-L score and confidence models (gcorso/DiffDock release v1.1)",
        directory="diffdock",
        files=(
            RemoteFile("https://github.com/gcorso/DiffDock/releases/download/v1.1/diffdock_models.zip",
                       "diffdock_models.zip", "5a95b6a1555be47ab1d6f0a8ffd25152f7fe32f5956005bb821e13e7a37d4a3d",
                       129_825_226, "130 MB",
                       "third-party manifest (Biosimulant/models-diffdock diffdock-checkpoints.json); "
                       "the authors publish none", unpack="zip"),
        ),
        settings=("PHONOS_DIFFDOCK_WEIGHTS_DIR",),
        expect=("score_model/model_parameters.yml", "confidence_model/model_parameters.yml"),
        licence="MIT",
        hint="DiffDock also needs ESM-2: run `phonos weights fetch esm2` and set PHONOS_DIFFDOCK_ESM_DIR.",
    ),
}
