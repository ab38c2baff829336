"""Fidelity without official weights: every released configuration builds with exactly the reference
`state_dict` (key names and shapes), and a strict `load_state_dict` of a manifest-generated state dict works.

Manifests: shared/reference/diffdock/{score,confidence}_model_state_dict_shapes.json, dumped from the
reference implementation (gcorso/DiffDock main, e3nn 0.6.0) for each yml in params/.
"""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import pytest
import torch
from phonos_models.diffdock.build import (
    UnsupportedConfig,
    build_model,
    load_checkpoint,
    load_hyperparams,
    state_dict_sha256,
)

pytestmark = pytest.mark.integration

MANIFESTS = {"score": "score_model_state_dict_shapes.json", "confidence": "confidence_model_state_dict_shapes.json"}
# e3nn constant buffers that are *not* drawn at random for the load test, but taken from our own
# freshly built model: they are deterministic functions of the irreps, not learned weights —
#   *._w3j_<l1>_<l2>_<l3>  Wigner-3j coefficients of the compiled tensor-product kernels,
#   *.output_mask          which output components any path can reach,
#   *.tp.weight  [0]       the empty placeholder e3nn registers when weights come per edge.
# A real checkpoint carries them too (same values); random numbers in them would make the network
# meaningless, which would matter to anyone reusing the loaded model in this test.
E3NN_CONSTANT = re.compile(r"(\._w3j_\d+_\d+_\d+|\.output_mask|\.tp\.weight)$")


# Configurations whose e3nn networks take several seconds to build (45 or 24 tensor products).

def _configs() -> list:  # list of pytest.param
    from dd_helpers import REFERENCE_DIR

    out = []
    for kind, fname in MANIFESTS.items():
        # A missing manifest fails collection: the reference data is a required test input, not optional.
        for name in json.loads((REFERENCE_DIR / fname).read_text())["configs"]:
            out.append(pytest.param(kind, name, id=f"{kind}-{name}"))
    return out


def _entry(reference_dir: Path, kind: str, name: str) -> dict:
    return json.loads((reference_dir / MANIFESTS[kind]).read_text())["configs"][name]


def _build(reference_dir: Path, kind: str, entry: dict) -> torch.nn.Module:
    # Built once per configuration and shared by the tests below (the v1.0 score model has 20 M
    # parameters and takes seconds to build); tests may overwrite its weights, never its structure.
    # Keyed by the resolved hyperparameters: ymls that describe the same network share one build.
    yml = reference_dir / "params" / entry["params_dir"] / "model_parameters.yml"
    hp = load_hyperparams(yml, kind=kind, old=entry["old"])  # type: ignore[arg-type]
    assert hp.model_class == entry["model_class"]
    if hp not in _BUILT:
        _BUILT[hp] = build_model(hp, seed=0)
    return _BUILT[hp]


_BUILT: dict[object, torch.nn.Module] = {}


def _manifest_state_dict(entry: dict, ours: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    dtypes = entry.get("state_dict_dtypes", {})
    state = {}
    for key, shape in entry["state_dict"].items():
        if E3NN_CONSTANT.search(key):
            state[key] = ours[key].clone()
        elif dtypes.get(key) == "int64":
            state[key] = torch.randint(0, 1000, shape, generator=g)
        else:
            state[key] = torch.randn(shape, generator=g)
    return state


@pytest.mark.parametrize(("kind", "name"), _configs())
def test_state_dict_keys_and_shapes_equal_reference(reference_dir: Path, kind: str, name: str) -> None:
    entry = _entry(reference_dir, kind, name)
    model = _build(reference_dir, kind, entry)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    want = entry["state_dict"]
    assert sorted(set(want) - set(ours)) == [], "keys missing from our model"
    assert sorted(set(ours) - set(want)) == [], "keys the reference does not have"
    assert {k: v for k, v in ours.items() if v != want[k]} == {}, "shape mismatches"
    assert sum(p.numel() for p in model.parameters()) == entry["num_parameters"]


@pytest.mark.parametrize(("kind", "name"), _configs())
def test_strict_load_of_manifest_generated_checkpoint(reference_dir: Path, kind: str, name: str, tmp_path: Path) -> None:
    entry = _entry(reference_dir, kind, name)
    model = _build(reference_dir, kind, entry)
    state = _manifest_state_dict(entry, model.state_dict(), seed=zlib.crc32(name.encode()))  # differs per config
    path = tmp_path / "best_model.pt"
    torch.save(state, path)
    before = state_dict_sha256(model)
    digest = load_checkpoint(model, path)  # strict=True inside
    assert len(digest) == 64 and state_dict_sha256(model) != before
    loaded = model.state_dict()
    for key in list(state)[:: max(1, len(state) // 25)]:
        assert torch.equal(loaded[key], state[key]), key


def test_missing_key_fails_strict_load(reference_dir: Path, tmp_path: Path) -> None:
    entry = _entry(reference_dir, "score", "cb_diffdock_s_score__new_CGModel")
    model = _build(reference_dir, "score", entry)
    state = _manifest_state_dict(entry, model.state_dict(), seed=2)
    state.pop("tor_final_layer.3.weight")
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(RuntimeError, match="Missing key"):
        load_checkpoint(model, tmp_path / "bad.pt")


def test_yml_alone_selects_the_reference_class_and_graph_mode(reference_dir: Path) -> None:
    params = reference_dir / "params"
    v10 = load_hyperparams(params / "v1.0_paper_score" / "model_parameters.yml")
    small = load_hyperparams(params / "cb_diffdock_s_score" / "model_parameters.yml")
    conf = load_hyperparams(params / "v1.0_paper_confidence" / "model_parameters.yml")
    assert (v10.model_class, v10.confidence_mode, v10.knn_only_graph, v10.sh_lmax) == ("CGOldModel", False, False, 2)
    assert (small.model_class, small.knn_only_graph, small.sh_lmax, small.fixed_center_conv) == ("CGModel", True, 1, True)
    assert small.embedding_scale == 1000 and v10.embedding_scale == 10000
    # v1.0 confidence: list-valued rmsd cut-off → 2 outputs; no fixed-centre key → the reference bug path
    assert (conf.model_class, conf.confidence_mode, conf.num_confidence_outputs) == ("AAOldModel", True, 2)
    assert conf.lm_embedding_dim == 1280 and not v10.fixed_center_conv


def test_unsupported_options_are_refused_with_their_names() -> None:
    from phonos_models.diffdock.hyperparams import hyperparams_from_dict

    args = dict(ns=8, nv=2, num_conv_layers=2, sigma_embed_dim=8, distance_embed_dim=8, cross_distance_embed_dim=8,
                max_radius=5.0, cross_max_distance=80, separate_noise_schedule=True, smooth_edges=True)
    with pytest.raises(UnsupportedConfig, match="separate_noise_schedule.*smooth_edges"):
        hyperparams_from_dict(args, "score")


def test_confidence_network_can_take_the_score_models_graph_mode() -> None:
    from dataclasses import replace

    from phonos_models.diffdock.build import build_confidence_model, tiny_hyperparams, use_graph_mode_of

    score_hp = tiny_hyperparams("score")
    conf_hp = replace(tiny_hyperparams("confidence"), num_conv_layers=1)  # 9 tensor products: quick to build
    assert score_hp.knn_only_graph and not conf_hp.knn_only_graph
    assert build_confidence_model(conf_hp, score_hp=score_hp).hp.knn_only_graph  # type: ignore[union-attr]
    module = build_model(conf_hp, seed=0)
    assert use_graph_mode_of(module, score_hp).hp.knn_only_graph  # type: ignore[union-attr]


def test_v1_receptor_encoder_reads_columns_by_position_like_the_reference() -> None:
    """v1.0 residue features are [aa, ESM, σ-emb] and the encoder slices them by position, so its
    "scalar" Linear sees ESM dims 0…σdim−1 and its LM layer the other ESM dims plus σ-emb. The
    released v1.0 checkpoints were trained on that layout; feeding σ-emb as the scalars would be wrong."""
    from phonos_models.diffdock.layers import OldAtomEncoder

    torch.manual_seed(0)
    enc = OldAtomEncoder(6, (38,), scalar_dim=4, lm_dim=10).eval()
    aa = torch.randint(0, 38, (5, 1))
    esm, sigma = torch.randn(5, 10), torch.randn(5, 4)
    x = torch.cat([aa.float(), esm, sigma], 1)  # the reference's node_attr
    want = enc.lm_embedding_layer(torch.cat([enc.atom_embedding_list[0](aa[:, 0]) + enc.linear(x[:, 1:5]), x[:, -10:]], 1))
    with torch.no_grad():
        assert torch.allclose(enc.forward_reference_layout(aa, esm, sigma), want, atol=1e-6)
        assert not torch.allclose(enc(aa, sigma, esm), want, atol=1e-3)


# Outputs of the tiny networks (scale_by_sigma off, so the SO(3)/torus tables do not enter) for a
# fixed state dict and the synthetic complexes 0 and 1. Recorded at the commit where every class
# matched a line-by-line transcription of the reference forward passes (kept outside the project)
# to ≤ 5e-7 relative error; a change here means the networks no longer compute what they did.
GOLDEN = {
    "score": [-0.69861, -0.04541, -0.56607, -0.41266, -0.75405, 0.32032, -0.04423, -0.10951, 0.01161, -0.11933,
              0.02816, 0.01372, 0.35807, 0.13913, 0.38264, 0.10807, 0.20755, 0.1478],
    "score_old": [0.08185, -0.07435, -0.02866, 0.00912, -0.08937, 0.06331, -0.13287, -0.04416, -0.01618, 0.10074,
                  0.09585, 0.07285, 0.09896, 0.08902, 0.08475, -0.00726, -0.09819, 0.02924],
    "confidence": [-0.84425, -1.29824, -0.86668, -1.34163],
    "confidence_new": [0.12903, 0.12902],
}  # fmt: skip


@pytest.mark.parametrize("kind", list(GOLDEN))
def test_tiny_network_outputs_are_unchanged(kind: str) -> None:
    from dataclasses import replace

    from dd_helpers import synthetic_complex
    from phonos_models.diffdock.build import tiny_hyperparams
    from phonos_models.diffdock.data import collate

    hp = replace(tiny_hyperparams(kind, lm_embedding_dim=16), scale_by_sigma=False)  # type: ignore[arg-type]
    model = build_model(hp, seed=0)
    g = torch.Generator().manual_seed(3)
    for key, value in model.state_dict().items():
        if value.is_floating_point() and value.numel() and not E3NN_CONSTANT.search(key) and "offset" not in key:
            value.copy_(torch.randn(value.shape, generator=g) * 0.3)
            if "running_var" in key:
                value.abs_().add_(0.5)
    t = 0.0 if kind.startswith("confidence") else 0.55
    batch = collate([replace(synthetic_complex(s, lm_dim=16), t_tr=t, t_rot=t, t_tor=t) for s in (0, 1)])
    with torch.no_grad():
        out = model(batch)
    flat = torch.cat([o.flatten() for o in out]) if isinstance(out, tuple) else out.flatten()
    assert torch.allclose(flat, torch.tensor(GOLDEN[kind]), atol=1e-4), flat.tolist()


def test_yml_with_python_tags_still_loads(reference_dir: Path, tmp_path: Path) -> None:
    text = (reference_dir / "params" / "cb_diffdock_s_score" / "model_parameters.yml").read_text()
    text = text.replace("log_dir: workdir", "log_dir: !!python/object/apply:pathlib.PosixPath\n- workdir")
    (tmp_path / "model_parameters.yml").write_text(text)
    hp = load_hyperparams(tmp_path / "model_parameters.yml")
    assert hp.model_class == "CGModel" and hp.ns == 32
