"""Model configurations: DeepMind's presets, and the tiny configuration used in tests.

The tiny configuration keeps every module of the real network (evoformer,
extra-MSA stack, template stack, structure module, all heads) and only shrinks
depths and widths, so the same code paths and the same parameter names run.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

import ml_collections
from alphafold.model import config as af_config

from phonos_config.alphafold2 import MAX_MODELS, MULTIMER, PRESETS

__all__ = ["MAX_MODELS", "MULTIMER", "PRESETS"]
T = TypeVar("T")
# DeepMind's run_alphafold.py: monomer_casp14 ensembles the inputs 8 times (AF2 Suppl. 1.11.2).
CASP14_NUM_ENSEMBLE = 8


def model_names(preset: str, num_models: int) -> tuple[str, ...]:
    """DeepMind's parameter-file names of the first `num_models` models of a preset."""
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}")
    return af_config.MODEL_PRESETS[preset][:num_models]


def in_model_order(per_model: Mapping[str, T]) -> dict[str, T]:
    """A map keyed by model name in the models' own order (model_1 ... model_5; numbers as numbers, so
    `_pred_10` after `_pred_9`), whatever order it was filled in (the ranking's, say)."""
    def key(name: str) -> tuple[tuple[int, int | str], ...]:
        return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name))
    return {name: per_model[name] for name in sorted(per_model, key=key)}


# MSA rows are padded to one of these (as residues are to length buckets), so
# MSAs of similar depth share a compiled program; deeper ones to a multiple of the last.
DEPTH_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)
# The tiny configuration's MSA stacks: fixed sizes (cluster centres incl. template rows, extra rows)
# standing in for DeepMind's 512 / 5,120, so every tiny run shares one program per length bucket.
TINY_MSA_CLUSTERS = 8
TINY_EXTRA_MSA = 16


@dataclass(frozen=True)
class ArchitectureKey:
    """Everything that changes the network, as opposed to the input shapes.

    Models 1–5 of one preset share a key whenever templates are off, so they
    share one jitted function and only swap parameters; XLA keeps one program
    per input shape (length bucket × MSA depth bucket) under it.
    """

    preset: str
    tiny: bool
    use_templates: bool
    # Multimer only: the model samples its MSA itself, so the stack sizes are part of the network.
    msa_stacks: tuple[int, int] | None = None  # (num_msa, num_extra_msa)


def _shrink(cfg: ml_collections.ConfigDict, multimer: bool) -> None:
    """Tiny widths and depths; head counts divide the channel counts they split."""
    evo = cfg.model.embeddings_and_evoformer
    evo.evoformer_num_block = 1
    evo.extra_msa_stack_num_block = 1
    evo.msa_channel = 16
    evo.pair_channel = 8
    evo.seq_channel = 16
    evo.extra_msa_channel = 8
    blocks = evo.evoformer
    for name in ("msa_row_attention_with_pair_bias", "msa_column_attention",
                 "triangle_attention_starting_node", "triangle_attention_ending_node"):
        blocks[name].num_head = 2
    blocks.outer_product_mean.num_outer_channel = 4
    blocks.triangle_multiplication_outgoing.num_intermediate_channel = 8
    blocks.triangle_multiplication_incoming.num_intermediate_channel = 8
    blocks.msa_transition.num_intermediate_factor = 1
    blocks.pair_transition.num_intermediate_factor = 1
    template = evo.template
    stack = template.template_pair_stack
    stack.num_block = 1
    for name in ("triangle_attention_starting_node", "triangle_attention_ending_node"):
        stack[name].num_head = 2
        if not multimer:
            stack[name].key_dim = 8
            stack[name].value_dim = 8
    stack.triangle_multiplication_outgoing.num_intermediate_channel = 8
    stack.triangle_multiplication_incoming.num_intermediate_channel = 8
    if multimer:
        template.num_channels = 8
        # The model samples its own MSA: these are its stack sizes (DeepMind: 508 + 2,048).
        evo.num_msa = TINY_MSA_CLUSTERS
        evo.num_extra_msa = TINY_EXTRA_MSA
    else:
        template.attention.key_dim = 8
        template.attention.value_dim = 8
        template.attention.num_head = 2
        # Shallow MSA stacks so features stay small; a real MSA is still cut into
        # cluster centres + extra sequences by DeepMind's own pipeline.
        cfg.data.eval.max_msa_clusters = TINY_MSA_CLUSTERS
        cfg.data.common.max_extra_msa = TINY_EXTRA_MSA
    heads = cfg.model.heads
    sm = heads.structure_module
    sm.num_layer = 1
    sm.num_channel = 16
    sm.num_head = 2
    sm.num_layer_in_transition = 1
    sm.num_point_qk = 2
    sm.num_point_v = 2
    sm.num_scalar_qk = 4
    sm.num_scalar_v = 4
    sm.sidechain.num_channel = 8
    sm.sidechain.num_residual_block = 1
    heads.predicted_lddt.num_channels = 8
    heads.predicted_aligned_error.num_channels = 8


def build_config(model_name: str, preset: str, *, tiny: bool, use_templates: bool,
                 num_recycles: int) -> ml_collections.ConfigDict:
    """The ConfigDict of one model, ready for `hk.transform`.

    `num_recycles` = extra passes after the first (DeepMind's `num_recycle`, default 3; multimer 20
    with its early stop).
    """
    cfg = copy.deepcopy(af_config.model_config(model_name))
    g = cfg.model.global_config
    # bfloat16 is a GPU/TPU speed trick; on CPU it is slower and changes numerics.
    g.bfloat16 = False
    g.bfloat16_output = False
    g.use_pallas = False
    g.deterministic = True  # inference: no dropout whatever `is_training` says
    multimer = preset == MULTIMER
    if tiny:
        _shrink(cfg, multimer)
        # DeepMind zero-initialises final layers; random tiny weights should
        # still respond to their input, so they are drawn for every layer.
        g.zero_init = False
    if multimer:
        # The template stack stays on: DeepMind's multimer always has it, and without templates it
        # reads four empty (masked) ones, as in DeepMind's pipeline and ColabFold.
        cfg.model.num_recycle = num_recycles
    else:
        if not use_templates:
            # Models 1–2 carry template weights; without templates they run like
            # models 3–5 (ColabFold does the same), so all five share one program.
            cfg.data.common.use_templates = False
            cfg.data.common.reduce_msa_clusters_by_max_templates = False
            cfg.model.embeddings_and_evoformer.template.enabled = False
            cfg.model.embeddings_and_evoformer.template.embed_torsion_angles = False
        if preset == "monomer_casp14":
            cfg.data.eval.num_ensemble = CASP14_NUM_ENSEMBLE
        cfg.data.common.num_recycle = num_recycles
        cfg.model.num_recycle = num_recycles
    # The fork reads these two keys unconditionally. `calc_extended_ptm` makes it
    # keep the PAE head's logits (under "pae_matrix_with_logits") instead of
    # overwriting them with its own masked summary; pTM and PAE are recomputed
    # from those logits on the unpadded residues.
    cfg.model.calc_extended_ptm = True
    cfg.model.use_probs_extended = False
    return cfg


def architecture_key(cfg: ml_collections.ConfigDict, preset: str, tiny: bool) -> ArchitectureKey:
    evo = cfg.model.embeddings_and_evoformer
    return ArchitectureKey(
        preset=preset,
        tiny=tiny,
        use_templates=bool(evo.template.enabled),
        msa_stacks=(int(evo.num_msa), int(evo.num_extra_msa)) if preset == MULTIMER else None,
    )


def depth_bucket(rows: int) -> int:
    """The padded depth of an MSA stack holding `rows` rows."""
    for bucket in DEPTH_BUCKETS:
        if rows <= bucket:
            return bucket
    return -(-rows // DEPTH_BUCKETS[-1]) * DEPTH_BUCKETS[-1]


@dataclass(frozen=True)
class MsaSizing:
    """How one model reads an MSA of `depth` rows, all of which are kept (none are cut beforehand).

    `max_msa_seqs` has DeepMind's meaning: the number of cluster centres sampled from the MSA on each
    pass (monomer `max_msa_clusters`, multimer `num_msa`; monomers 1–2 give four of them to template
    rows when templates are on); the remaining rows feed the extra-MSA stack, up to the model's cap
    (monomer 1,024 / 5,120, multimer 2,048 / 1,152). The stacks are padded with masked rows to the
    depth's bucket (fixed sizes for the tiny model), which changes nothing but the compiled shape.
    """

    depth: int  # rows of the MSA, query included
    clusters: int  # cluster centres sampled per pass (real rows)
    extra: int  # real rows in the extra-MSA stack
    padded_clusters: int  # stack sizes the model is compiled for
    padded_extra: int

    def as_json(self) -> dict[str, int]:
        return {"clusters": self.clusters, "extra": self.extra}


def size_msa(cfg: ml_collections.ConfigDict, preset: str, depth: int, max_msa_seqs: int, tiny: bool) -> MsaSizing:
    """Size the MSA stacks of `cfg` (in place) for an MSA of `depth` rows; see `MsaSizing`."""
    if preset == MULTIMER:
        return _size_multimer(cfg, depth, max_msa_seqs, tiny)
    reserve = int(cfg.data.eval.max_templates) if cfg.data.common.reduce_msa_clusters_by_max_templates else 0
    total = min(max_msa_seqs, TINY_MSA_CLUSTERS) if tiny else max_msa_seqs
    # DeepMind's pipeline samples max_msa_clusters - max_templates rows (input_pipeline.py).
    clusters = max(1, min(total - reserve, depth))
    extra_cap = int(cfg.data.common.max_extra_msa)
    extra = min(extra_cap, depth - clusters)
    sizing = MsaSizing(
        depth=depth, clusters=clusters, extra=extra,
        # Never past the stack sizes DeepMind would use: buckets only shrink the padding.
        padded_clusters=max(TINY_MSA_CLUSTERS - reserve, clusters) if tiny
        else min(depth_bucket(clusters), max(total - reserve, clusters)),
        padded_extra=TINY_EXTRA_MSA if tiny else min(depth_bucket(max(extra, 1)), extra_cap),
    )
    # What DeepMind's pipeline then samples and crops (it pads to these sizes; `features.pad_msa_rows`
    # pads on to the bucket). An empty extra stack keeps one masked row, as ColabFold does.
    cfg.data.eval.max_msa_clusters = clusters + reserve
    cfg.data.common.max_extra_msa = max(extra, 1)
    return sizing


def _size_multimer(cfg: ml_collections.ConfigDict, depth: int, max_msa_seqs: int, tiny: bool) -> MsaSizing:
    evo = cfg.model.embeddings_and_evoformer
    if tiny:
        num_msa, num_extra = min(max_msa_seqs, TINY_MSA_CLUSTERS), TINY_EXTRA_MSA
    else:
        # Sampling from masked padding rows is what DeepMind's own pad_msa (to 512 rows) does.
        num_msa = min(max_msa_seqs, depth_bucket(depth))
        num_extra = min(int(evo.num_extra_msa), depth_bucket(max(depth - num_msa, 1)))
    evo.num_msa = num_msa
    evo.num_extra_msa = num_extra
    clusters = min(num_msa, depth)
    return MsaSizing(depth=depth, clusters=clusters, extra=min(num_extra, depth - clusters),
                     padded_clusters=num_msa, padded_extra=num_extra)


def multimer_raw_rows(sizing: MsaSizing) -> int:
    """Rows the multimer's raw MSA is padded to: its depth bucket, and enough for both stacks."""
    return max(depth_bucket(sizing.depth), sizing.padded_clusters + sizing.padded_extra)
