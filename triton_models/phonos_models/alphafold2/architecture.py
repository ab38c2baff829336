"""Model configurations: DeepMind's presets, and the tiny configuration used in tests.

The tiny configuration keeps every module of the real network (evoformer,
extra-MSA stack, template stack, structure module, all heads) and only shrinks
depths and widths, so the same code paths and the same parameter names run.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import ml_collections
from alphafold.model import config as af_config

from phonos_config.alphafold2 import MAX_MODELS, PRESETS

__all__ = ["MAX_MODELS", "PRESETS"]
# DeepMind's run_alphafold.py: monomer_casp14 ensembles the inputs 8 times (AF2 Suppl. 1.11.2).
CASP14_NUM_ENSEMBLE = 8


def model_names(preset: str, num_models: int) -> tuple[str, ...]:
    """DeepMind's parameter-file names of the first `num_models` models of a preset."""
    if preset not in PRESETS:
        raise ValueError(f"unknown model preset {preset!r}")
    return af_config.MODEL_PRESETS[preset][:num_models]


# MSA rows are padded to one of these (as residues are to length buckets), so
# MSAs of similar depth share a compiled program.
DEPTH_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096)


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


def _shrink(cfg: ml_collections.ConfigDict) -> None:
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
    template.attention.key_dim = 8
    template.attention.value_dim = 8
    template.attention.num_head = 2
    stack = template.template_pair_stack
    stack.num_block = 1
    for name in ("triangle_attention_starting_node", "triangle_attention_ending_node"):
        stack[name].key_dim = 8
        stack[name].value_dim = 8
        stack[name].num_head = 2
    stack.triangle_multiplication_outgoing.num_intermediate_channel = 8
    stack.triangle_multiplication_incoming.num_intermediate_channel = 8
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
    # Shallow MSA stacks so features stay small; a real MSA is still cut into
    # cluster centres + extra sequences by DeepMind's own pipeline.
    cfg.data.eval.max_msa_clusters = 8
    cfg.data.common.max_extra_msa = 16


def build_config(model_name: str, preset: str, *, tiny: bool, use_templates: bool,
                 num_recycles: int) -> ml_collections.ConfigDict:
    """The ConfigDict of one model, ready for `hk.transform`.

    `num_recycles` = extra passes after the first (DeepMind's `num_recycle`, default 3).
    """
    cfg = copy.deepcopy(af_config.model_config(model_name))
    g = cfg.model.global_config
    # bfloat16 is a GPU/TPU speed trick; on CPU it is slower and changes numerics.
    g.bfloat16 = False
    g.bfloat16_output = False
    g.use_pallas = False
    g.deterministic = True  # inference: no dropout whatever `is_training` says
    if tiny:
        _shrink(cfg)
        # DeepMind zero-initialises final layers; random tiny weights should
        # still respond to their input, so they are drawn for every layer.
        g.zero_init = False
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
    return ArchitectureKey(
        preset=preset,
        tiny=tiny,
        use_templates=bool(cfg.model.embeddings_and_evoformer.template.enabled),
    )


def _depth_bucket(rows: int) -> int:
    for bucket in DEPTH_BUCKETS:
        if rows <= bucket:
            return bucket
    return 1 << 30  # deeper than every bucket: the model's own cap applies


def fit_msa_depth(cfg: ml_collections.ConfigDict, msa_rows: int) -> None:
    """Size the MSA stacks for an MSA of `msa_rows` rows instead of the model's maximum.

    DeepMind pads every MSA to 512 cluster centres + 5,120 extra rows (model
    1: Suppl. Table 5); for a single sequence or a shallow MSA that is almost
    all padding, and the extra-MSA stack's cost grows with it. ColabFold sizes
    both to the real depth; here they are sized to the depth's bucket. Rows
    beyond the caps are still cut exactly as DeepMind's pipeline cuts them.
    """
    reserve = int(cfg.data.eval.max_templates) if cfg.data.common.reduce_msa_clusters_by_max_templates else 0
    clusters = min(int(cfg.data.eval.max_msa_clusters), _depth_bucket(msa_rows) + reserve)
    extra_rows = max(msa_rows - (clusters - reserve), 1)
    cfg.data.eval.max_msa_clusters = clusters
    cfg.data.common.max_extra_msa = min(int(cfg.data.common.max_extra_msa), _depth_bucket(extra_rows))
