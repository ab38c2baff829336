"""The built-in tiny ESMFold: the real architecture with tiny sizes and seeded random weights.

Sizes from ../shared/notes/models-on-cpu.md (valid constraints: at least one
ESM layer, pair dim divisible by the pair head width, `num_angles` 7, the
ESM-2 33-token vocabulary). ~92k parameters, builds in milliseconds.
"""

from __future__ import annotations

import math

import torch

from phonos_models.common.transformers_esm import EsmConfig, EsmForProteinFolding

# ESM-2's token list (fair-esm `Alphabet.from_architecture("ESM-1b")`, the
# esmfold_v1 `vocab_list`): the model maps AlphaFold residue order through it.
ESM2_VOCAB: tuple[str, ...] = (
    "<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K",
    "Q", "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>",
)  # fmt: skip


def tiny_config(trunk_blocks: int = 1, language_model_layers: int = 2) -> EsmConfig:
    """The tiny sizes; more trunk blocks or language-model layers give tests and benches of what
    happens between them (the served tiny model keeps the defaults)."""
    structure_module = {
        "sequence_dim": 32,
        "pairwise_dim": 16,
        "ipa_dim": 8,
        "resnet_dim": 16,
        "num_heads_ipa": 2,
        "num_qk_points": 2,
        "num_v_points": 2,
        "num_blocks": 2,
        "num_transition_layers": 1,
        "num_resnet_blocks": 1,
        "num_angles": 7,  # fixed by the side-chain torsion definition
        "trans_scale_factor": 10,  # ESMFold's value: translations in nm-ish units → Å
    }
    trunk = {
        "num_blocks": trunk_blocks,
        "sequence_state_dim": 32,
        "pairwise_state_dim": 16,
        "sequence_head_width": 8,
        "pairwise_head_width": 8,
        "position_bins": 8,
        "max_recycles": 4,  # only used when forward() gets num_recycles=None; we always pass it
        "structure_module": structure_module,
    }
    return EsmConfig(
        vocab_size=len(ESM2_VOCAB),
        vocab_list=list(ESM2_VOCAB),
        hidden_size=32,
        num_hidden_layers=language_model_layers,
        num_attention_heads=4,
        intermediate_size=64,
        position_embedding_type="rotary",
        token_dropout=True,
        mask_token_id=ESM2_VOCAB.index("<mask>"),
        pad_token_id=ESM2_VOCAB.index("<pad>"),
        is_folding_model=True,
        esmfold_config={
            "fp16_esm": False,
            "embed_aa": True,
            "bypass_lm": False,
            "lddt_head_hid_dim": 16,
            "trunk": trunk,
        },
    )


def build_tiny_model(seed: int, trunk_blocks: int = 1, language_model_layers: int = 2) -> EsmForProteinFolding:
    """The tiny model with deterministic random weights.

    transformers initialises weights with std 0.02 and zero biases, which
    leaves the confidence heads nearly constant (pLDDT ≈ 50 everywhere, flat
    PAE) and would let tests pass that cannot tell inputs apart. We re-draw
    every weight matrix with std 1/sqrt(fan_in) (LeCun normal) and every bias
    with std 0.1 from a seeded generator, so outputs depend on the input.
    """
    torch.manual_seed(seed)
    model = EsmForProteinFolding(tiny_config(trunk_blocks, language_model_layers))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() >= 2:
                fan_in = math.prod(parameter.shape[1:])
                parameter.copy_(torch.randn(parameter.shape, generator=generator) / math.sqrt(fan_in))
            elif name.endswith("bias"):
                parameter.copy_(0.1 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def full_size_config() -> EsmConfig:
    """esmfold_v1's architecture: ESM-2 3B (esm2_t36_3B_UR50D: 36 layers, 2560 wide, 40 heads)
    and transformers' EsmFoldConfig defaults, which are esmfold_v1's folding trunk (48 blocks,
    sequence 1024 / pair 128 channels, 8-block structure module). For timing runs without the
    checkpoint; ~3.5 B parameters."""
    return EsmConfig(
        vocab_size=len(ESM2_VOCAB),
        vocab_list=list(ESM2_VOCAB),
        hidden_size=2560,
        num_hidden_layers=36,
        num_attention_heads=40,
        intermediate_size=10240,
        layer_norm_eps=1e-5,
        emb_layer_norm_before=False,
        position_embedding_type="rotary",
        token_dropout=True,
        mask_token_id=ESM2_VOCAB.index("<mask>"),
        pad_token_id=ESM2_VOCAB.index("<pad>"),
        is_folding_model=True,
        esmfold_config={},
    )


def build_full_size_random_model(seed: int, device: str) -> EsmForProteinFolding:
    """Full-size architecture, transformers' default random init, built directly on `device`
    (14 GB of fp32 parameters: never build it on a small CPU machine)."""
    torch.manual_seed(seed)
    with torch.device(device):
        model = EsmForProteinFolding(full_size_config())
    return model.eval()
