"""Architecture hyperparameters read from a released `model_parameters.yml`.

The reference builds its networks from the training-time argparse namespace saved as YAML, and
the *absence* of a key changes the architecture (shared/notes/diffdock.md §2, pitfall 1). This
module turns a yml into a frozen dataclass with every such default resolved exactly as the
reference's `get_model` and `inference.py` resolve it, so the model code never looks at raw keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import yaml
from torch import Tensor

from .data import ESM_EMBEDDING_DIM

# Keys that only exist in the ymls of the new (DiffDock-S / DiffDock-L) architecture. Their presence
# is how we tell a CGModel yml from a v1.0 CGOldModel yml when the caller does not say.
_NEW_ARCHITECTURE_KEYS = frozenset(
    {"num_prot_emb_layers", "embed_also_ligand", "no_differentiate_convolutions", "reduce_pseudoscalars",
     "sh_lmax", "tp_weights_layers", "use_old_atom_encoder", "not_fixed_center_conv"}
)

# Constants the reference passes implicitly (get_model does not forward them): notes §2.
REC_MAX_RADIUS = 30.0  # Å, range of the receptor-edge Gaussian smearing
CENTER_MAX_DISTANCE = 30.0  # Å, range of the centre-edge Gaussian smearing


@dataclass(frozen=True)
class Hyperparams:
    """Everything that shapes a DiffDock network, with the reference's defaults for absent keys."""

    model_class: Literal["CGModel", "CGOldModel", "AAModel", "AAOldModel"]
    confidence_mode: bool
    ns: int  # scalar channels
    nv: int  # vector channels
    num_conv_layers: int
    sigma_embed_dim: int
    embedding_type: str  # 'sinusoidal'
    embedding_scale: float  # multiplies t ∈ [0,1] before the sinusoidal embedding
    distance_embed_dim: int
    cross_distance_embed_dim: int
    lig_max_radius: float  # Å ('max_radius')
    cross_max_distance: float  # Å
    dynamic_max_cross: bool  # cross cut-off = 3·σ_tr + 20 Å instead of cross_max_distance
    scale_by_sigma: bool
    batch_norm: bool
    dropout: float
    use_second_order_repr: bool
    odd_parity: bool
    no_torsion: bool
    lm_embedding_dim: int  # 0 = no language-model input; 1280 = ESM-2 650M
    num_confidence_outputs: int
    fixed_center_conv: bool  # False reproduces the reference's centre-conv indexing bug (notes pitfall 2)
    no_aminoacid_identities: bool
    use_old_atom_encoder: bool  # only read by the old classes
    sh_lmax: int
    differentiate_convolutions: bool  # new classes: one FC per edge group
    tp_weights_layers: int
    num_prot_emb_layers: int
    reduce_pseudoscalars: bool
    embed_also_ligand: bool
    atom_confidence: bool
    atom_num_confidence_outputs: int
    confidence_dropout: float
    confidence_no_batchnorm: bool
    # diffusion schedule (σ(t) = σ_min^(1−t)·σ_max^t), used by scale_by_sigma and the cross cut-off
    tr_sigma_min: float  # Å
    tr_sigma_max: float  # Å
    rot_sigma_min: float  # rad
    rot_sigma_max: float  # rad
    tor_sigma_min: float  # rad
    tor_sigma_max: float  # rad
    # graphs built from the structure (preprocessing in the reference)
    knn_only_graph: bool  # receptor (and receptor-atom) graphs: kNN instead of radius
    receptor_radius: float  # Å
    c_alpha_max_neighbors: int
    atom_radius: float  # Å
    atom_max_neighbors: int
    crop_beyond: float | None  # Å; confidence input cropped to residues this close to the ligand
    rec_max_radius: float = REC_MAX_RADIUS
    center_max_distance: float = CENTER_MAX_DISTANCE

    @property
    def old(self) -> bool:
        return self.model_class in ("CGOldModel", "AAOldModel")

    @property
    def all_atoms(self) -> bool:
        return self.model_class in ("AAModel", "AAOldModel")

    def t_to_sigma(self, t_tr: Tensor, t_rot: Tensor, t_tor: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Geometric interpolation between σ_min (t=0) and σ_max (t=1), per noise type."""
        return (
            _geometric(t_tr, self.tr_sigma_min, self.tr_sigma_max),
            _geometric(t_rot, self.rot_sigma_min, self.rot_sigma_max),
            _geometric(t_tor, self.tor_sigma_min, self.tor_sigma_max),
        )


# Separate names for the two roles, as the pipeline uses them; the fields are the same.
ScoreHyperparams = Hyperparams
ConfidenceHyperparams = Hyperparams


def _geometric(t: Tensor, lo: float, hi: float) -> Tensor:
    return lo ** (1.0 - t) * hi**t


class UnsupportedConfig(ValueError):
    """The yml asks for a training-only or research option this implementation does not have."""


def hyperparams_from_dict(
    args: Mapping[str, Any], kind: Literal["score", "confidence"], old: bool | None = None
) -> Hyperparams:
    """Resolve a `model_parameters.yml` mapping the way the reference's `get_model` does.

    `old=None` picks: score → the v1.0 class (CGOldModel) unless the yml has new-architecture keys;
    confidence → the old classes, as the reference's `inference.py` does (`old_confidence_model`
    defaults to True there and the yml key is never read; notes §1, pitfall 4).
    """
    a = dict(args)
    confidence = kind == "confidence"
    if old is None:
        old = True if confidence else not (_NEW_ARCHITECTURE_KEYS & a.keys())
    all_atoms = bool(a.get("all_atoms", False))
    model_class: Literal["CGModel", "CGOldModel", "AAModel", "AAOldModel"] = (
        ("AAOldModel" if all_atoms else "CGOldModel") if old else ("AAModel" if all_atoms else "CGModel")
    )
    _reject_unsupported(a, old)

    def get(key: str, default: Any) -> Any:
        value = a.get(key, default)
        return default if value is None and default is not None else value

    if old:
        lm_dim = ESM_EMBEDDING_DIM if a.get("esm_embeddings_path") is not None else 0
    else:
        esm_keys = ("moad_esm_embeddings_path", "pdbbind_esm_embeddings_path",
                    "pdbsidechain_esm_embeddings_path", "esm_embeddings_path")
        lm_dim = ESM_EMBEDDING_DIM if any(a.get(k) is not None for k in esm_keys) else 0

    cutoff = a.get("rmsd_classification_cutoff")
    atom_cutoff = a.get("atom_rmsd_classification_cutoff")
    embedding_type = get("embedding_type", "sinusoidal")
    # Reference quirk: the scale is read only when 'embedding_type' is present (else 10000).
    embedding_scale = float(a["embedding_scale"]) if "embedding_type" in a else 10000.0
    crop = a.get("crop_beyond")
    return Hyperparams(
        model_class=model_class,
        confidence_mode=confidence,
        ns=int(a["ns"]),
        nv=int(a["nv"]),
        num_conv_layers=int(a["num_conv_layers"]),
        sigma_embed_dim=int(a["sigma_embed_dim"]),
        embedding_type=str(embedding_type),
        embedding_scale=embedding_scale,
        distance_embed_dim=int(a["distance_embed_dim"]),
        cross_distance_embed_dim=int(a["cross_distance_embed_dim"]),
        lig_max_radius=float(a["max_radius"]),
        cross_max_distance=float(a["cross_max_distance"]),
        dynamic_max_cross=bool(a.get("dynamic_max_cross", False)),
        scale_by_sigma=bool(a.get("scale_by_sigma", True)),
        batch_norm=not bool(a.get("no_batch_norm", False)),
        dropout=float(a.get("dropout", 0.0)),
        use_second_order_repr=bool(a.get("use_second_order_repr", False)),
        odd_parity=bool(a.get("odd_parity", False)),
        no_torsion=bool(a.get("no_torsion", False)),
        lm_embedding_dim=lm_dim,
        num_confidence_outputs=len(cutoff) + 1 if isinstance(cutoff, list) else 1,
        fixed_center_conv=(not a["not_fixed_center_conv"]) if "not_fixed_center_conv" in a else False,
        no_aminoacid_identities=bool(a.get("no_aminoacid_identities", False)),
        use_old_atom_encoder=bool(a.get("use_old_atom_encoder", True)),
        sh_lmax=int(a.get("sh_lmax", 2)),
        differentiate_convolutions=not bool(a.get("no_differentiate_convolutions", False)),
        tp_weights_layers=int(a.get("tp_weights_layers", 2)),
        num_prot_emb_layers=int(a.get("num_prot_emb_layers", 0)),
        reduce_pseudoscalars=bool(a.get("reduce_pseudoscalars", False)),
        embed_also_ligand=bool(a.get("embed_also_ligand", False)),
        atom_confidence=float(a.get("atom_confidence_loss_weight", 0.0)) > 0.0,
        atom_num_confidence_outputs=len(atom_cutoff) + 1 if isinstance(atom_cutoff, list) else 1,
        confidence_dropout=float(a.get("confidence_dropout", 0.0)),
        confidence_no_batchnorm=bool(a.get("confidence_no_batchnorm", False)),
        tr_sigma_min=float(a.get("tr_sigma_min", 0.1)),
        tr_sigma_max=float(a.get("tr_sigma_max", 19.0)),
        rot_sigma_min=float(a.get("rot_sigma_min", 0.03)),
        rot_sigma_max=float(a.get("rot_sigma_max", 1.55)),
        tor_sigma_min=float(a.get("tor_sigma_min", 0.0314)),
        tor_sigma_max=float(a.get("tor_sigma_max", math.pi)),
        # inference.py: knn only when the yml says `not_knn_only_graph: false` (absent → radius graph).
        knn_only_graph=(not a["not_knn_only_graph"]) if "not_knn_only_graph" in a else False,
        receptor_radius=float(a.get("receptor_radius", 15.0)),
        c_alpha_max_neighbors=int(a.get("c_alpha_max_neighbors", 24)),
        atom_radius=float(a.get("atom_radius", 5.0)),
        atom_max_neighbors=int(a.get("atom_max_neighbors", 8)),
        crop_beyond=float(crop) if crop is not None else None,
    )


def _reject_unsupported(a: Mapping[str, Any], old: bool) -> None:
    problems = []
    if a.get("embedding_type", "sinusoidal") != "sinusoidal":
        problems.append(f"embedding_type={a['embedding_type']!r} (only 'sinusoidal' is implemented)")
    for key in ("separate_noise_schedule", "asyncronous_noise_schedule", "smooth_edges", "affinity_prediction",
                "include_miscellaneous_atoms", "depthwise_convolution"):
        if a.get(key):
            problems.append(f"{key}=true")
    if int(a.get("parallel", 1) or 1) != 1:
        problems.append(f"parallel={a['parallel']}")
    if not old and a.get("esm_embeddings_model") is not None:
        problems.append("esm_embeddings_model (in-model ESM); pass precomputed embeddings instead")
    if not old and (float(a.get("sidechain_loss_weight", 0) or 0) > 0 or float(a.get("backbone_loss_weight", 0) or 0) > 0):
        problems.append("sidechain/backbone prediction heads")
    if problems:
        raise UnsupportedConfig("unsupported DiffDock options: " + ", ".join(problems))


def load_hyperparams(
    yml_path: str | Path, kind: Literal["score", "confidence"] | None = None, old: bool | None = None
) -> Hyperparams:
    """Read a `model_parameters.yml`. `kind=None` infers it: a confidence yml has
    `rmsd_classification_cutoff` (the target the confidence model was trained on)."""
    with open(yml_path, encoding="utf-8") as fh:
        args = yaml.load(fh, Loader=_PlainLoader)  # noqa: S506 (a safe loader; see _PlainLoader)
    if not isinstance(args, dict):
        raise ValueError(f"{yml_path}: not a DiffDock model_parameters.yml (expected a mapping)")
    if kind is None:
        kind = "confidence" if "rmsd_classification_cutoff" in args else "score"
    return hyperparams_from_dict(args, kind, old=old)


class _PlainLoader(yaml.SafeLoader):
    """SafeLoader that reads Python-tagged values (`!!python/object/apply:pathlib.PosixPath [...]`,
    which `yaml.dump(vars(args))` writes for non-plain argparse values) as plain data instead of
    failing or constructing objects. No architecture key is such a value; paths only need to parse."""


def _plain(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return None


_PlainLoader.add_multi_constructor("tag:yaml.org,2002:python/", _plain)
_PlainLoader.add_multi_constructor("!", _plain)


def with_graph_mode_of(confidence: Hyperparams, score: Hyperparams) -> Hyperparams:
    """The reference builds the confidence model's receptor graphs with the *score* yml's kNN flag
    (inference.py passes `score_model_args.not_knn_only_graph` to both datasets; notes pitfall 7)."""
    return replace(confidence, knn_only_graph=score.knn_only_graph)


def tiny_hyperparams(
    kind: Literal["score", "score_old", "confidence", "confidence_new"], lm_embedding_dim: int = ESM_EMBEDDING_DIM
) -> Hyperparams:
    """Small random-weight configurations with the released configs' class and option set.

    score          CGModel    DiffDock-S options (sh_lmax 1 → FasterTensorProduct, protein+ligand
                              embedding layers, differentiated convolutions, reduced pseudoscalars)
    score_old      CGOldModel v1.0 paper options (sh_lmax 2, e3nn tensor products)
    confidence     AAOldModel v1.0 confidence options (all-atom, 2 outputs)
    confidence_new AAModel    CB confidence options
    Three or more layers in total so every irreps stage (incl. pseudoscalars) is exercised.
    """
    base: dict[str, Any] = dict(
        ns=8, nv=2, sigma_embed_dim=8, distance_embed_dim=8, cross_distance_embed_dim=8, max_radius=5.0,
        cross_max_distance=80, dynamic_max_cross=True, scale_by_sigma=True, dropout=0.1,
        use_second_order_repr=False, receptor_radius=15.0, c_alpha_max_neighbors=24, atom_radius=5,
        atom_max_neighbors=8, esm_embeddings_path="precomputed",
    )
    if kind == "score":
        args = base | dict(
            num_conv_layers=2, num_prot_emb_layers=2, sh_lmax=1, embed_also_ligand=True, reduce_pseudoscalars=True,
            no_differentiate_convolutions=False, tp_weights_layers=2, not_fixed_center_conv=False,
            not_knn_only_graph=False, use_old_atom_encoder=False, embedding_type="sinusoidal",
            embedding_scale=1000, rot_sigma_min=0.06, rot_sigma_max=3.1, tr_sigma_min=0.1, tr_sigma_max=19.0,
            tor_sigma_min=0.0314, tor_sigma_max=3.14,
        )
        hp = hyperparams_from_dict(args, "score", old=False)
    elif kind == "score_old":
        args = base | dict(num_conv_layers=3, embedding_type="sinusoidal", embedding_scale=10000,
                           tr_sigma_min=0.1, tr_sigma_max=19.0, rot_sigma_min=0.03, rot_sigma_max=1.55)
        hp = hyperparams_from_dict(args, "score", old=True)
    elif kind == "confidence":
        args = base | dict(num_conv_layers=3, all_atoms=True, rmsd_classification_cutoff=[2.0],
                           embedding_type="sinusoidal", embedding_scale=10000)
        hp = hyperparams_from_dict(args, "confidence", old=True)
    elif kind == "confidence_new":
        args = base | dict(num_conv_layers=3, all_atoms=True, rmsd_classification_cutoff=2.0,
                           atom_rmsd_classification_cutoff=2.0, atom_confidence_loss_weight=0.5,
                           not_knn_only_graph=False, crop_beyond=20.0, embedding_type="sinusoidal",
                           embedding_scale=10000)
        hp = hyperparams_from_dict(args, "confidence", old=False)
    else:
        raise ValueError(f"unknown tiny DiffDock config {kind!r}")
    return replace(hp, lm_embedding_dim=lm_embedding_dim)


def describe(hp: Hyperparams) -> dict[str, Any]:
    """JSON-friendly dict of the hyperparameters (for result metadata)."""
    return {f.name: getattr(hp, f.name) for f in fields(hp)}
