"""ESM-2 per-residue embeddings for the receptor (transformers' `EsmModel`).

The reference embeds each chain with fair-esm's `esm2_t33_650M_UR50D` and keeps the last layer's
per-token representation (after the final layer norm) without the BOS/EOS tokens: that is
`last_hidden_state[:, 1:-1]` of transformers' `EsmModel` loaded from the same checkpoint
(`facebook/esm2_t33_650M_UR50D`, 1280-d). Production points `PHONOS_DIFFDOCK_ESM_DIR` at a local copy;
by default a tiny randomly initialised ESM-2 of the same architecture is built (seeded), whose width
matches what the score model expects, so the whole pipeline runs — results then are not predictions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..common.errors import Cancelled
from ..common.transformers_esm import EsmConfig, EsmModel
from ..common.weights import WeightsInfo, state_dict_sha256

# ESM-2's token vocabulary (fair-esm `Alphabet` for ESM-2; the hub's vocab.txt lists the same order).
ESM2_VOCAB: tuple[str, ...] = (
    "<cls>", "<pad>", "<eos>", "<unk>", "L", "A", "G", "V", "S", "E", "R", "T", "I", "D", "P", "K", "Q",
    "N", "F", "Y", "M", "H", "W", "C", "X", "B", "U", "Z", "O", ".", "-", "<null_1>", "<mask>",
)  # fmt: skip
_TOKEN = {token: index for index, token in enumerate(ESM2_VOCAB)}


@dataclass(frozen=True)
class TinyEsmShape:
    """Widths of a randomly initialised ESM-2 (tiny for tests/demos; `ESM2_650M` for benchmarks)."""

    hidden_size: int
    num_layers: int = 1
    num_heads: int = 2
    intermediate_size: int = 64
    seed: int = 0


# esm2_t33_650M_UR50D's architecture (the reference's embedding model), for full-size random benchmarks.
ESM2_650M = TinyEsmShape(hidden_size=1280, num_layers=33, num_heads=20, intermediate_size=5120)


def tokenize(sequence: str) -> torch.Tensor:
    """[1, L+2] int64 token ids: <cls> sequence <eos>; unknown letters → <unk>."""
    ids = [_TOKEN["<cls>"]] + [_TOKEN.get(c, _TOKEN["<unk>"]) for c in sequence] + [_TOKEN["<eos>"]]
    return torch.tensor([ids], dtype=torch.long)


class EsmEmbedder:
    """Embeds chain sequences; one instance per process (the model is loaded once)."""

    def __init__(self, model: EsmModel, weights: WeightsInfo) -> None:
        self.model = model.eval()
        self.weights = weights

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @classmethod
    def from_dir(cls, path: Path) -> EsmEmbedder:
        """A local transformers checkpoint (config.json + weights), e.g. facebook/esm2_t33_650M_UR50D."""
        model = EsmModel.from_pretrained(str(path), add_pooling_layer=False)
        vocab = path / "vocab.txt"
        if vocab.is_file():
            tokens = tuple(line.strip() for line in vocab.read_text().splitlines() if line.strip())
            if tokens != ESM2_VOCAB:
                raise ValueError(f"{vocab} is not the ESM-2 vocabulary this embedder tokenises with")
        return cls(model, WeightsInfo(name=path.name, sha256=state_dict_sha256(model.state_dict()), real=True))

    @classmethod
    def tiny_random(cls, shape: TinyEsmShape) -> EsmEmbedder:
        config = EsmConfig(
            vocab_size=len(ESM2_VOCAB),
            hidden_size=shape.hidden_size,
            num_hidden_layers=shape.num_layers,
            num_attention_heads=shape.num_heads,
            intermediate_size=shape.intermediate_size,
            max_position_embeddings=1026,
            position_embedding_type="rotary",
            token_dropout=True,
            mask_token_id=_TOKEN["<mask>"],
            pad_token_id=_TOKEN["<pad>"],
            emb_layer_norm_before=False,
        )
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(shape.seed)
        try:
            model = EsmModel(config, add_pooling_layer=False)
        finally:
            torch.random.set_rng_state(generator_state)
        name = f"esm2-tiny-random-h{shape.hidden_size}-l{shape.num_layers}-seed{shape.seed}"
        return cls(model, WeightsInfo(name=name, sha256=state_dict_sha256(model.state_dict()), real=False))

    @torch.no_grad()
    def embed(self, sequence: str) -> torch.Tensor:
        """[L, D] float32 per-residue embedding of one chain (last layer, BOS/EOS dropped)."""
        device = next(self.model.parameters()).device
        tokens = tokenize(sequence).to(device)
        hidden = self.model(input_ids=tokens, attention_mask=torch.ones_like(tokens)).last_hidden_state
        return hidden[0, 1:-1].float().cpu()

    def embed_residues(self, chain_ids: tuple[str, ...], sequences: dict[str, str]) -> torch.Tensor:
        """[R, D] embeddings in residue order, each chain embedded on its own (as the reference)."""
        return residue_embeddings(self.embed, chain_ids, sequences, self.dim)


def residue_embeddings(
    embed: Callable[[str], torch.Tensor], chain_ids: tuple[str, ...], sequences: dict[str, str], dim: int
) -> torch.Tensor:
    """Embed every chain with `embed` ([L, D] per sequence) and lay the rows out in residue order."""
    return _in_residue_order({label: embed(seq) for label, seq in sequences.items()}, chain_ids, dim)


EmbedResidues = Callable[[tuple[str, ...], dict[str, str]], torch.Tensor]  # `ResidueEmbedder.embed_residues`


def embed_stoppable(embed_residues: EmbedResidues, chain_ids: tuple[str, ...], sequences: dict[str, str],
                    dim: int, should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
    """`embed_residues(chain_ids, sequences)` one chain per call, `Cancelled` when `should_stop()` turns true before a
    chain. A chain of a long receptor is seconds on a CPU (another Triton model's call, or this process's ESM-2), and
    the stop was asked only before the first: a cancelled multi-chain job embedded every chain before it stopped.
    The same rows as one call: each chain is embedded on its own either way (as the reference), and a chain's rows are
    those of its residues only (`embed_residues` of one chain lays out its own `chain_ids`)."""
    per_chain: dict[str, torch.Tensor] = {}
    for done, (label, seq) in enumerate(sequences.items()):
        if should_stop is not None and should_stop():
            where = "before" if done == 0 else f"after {done} of {len(sequences)} chains of"
            raise Cancelled(f"stopped {where} the receptor's ESM-2 embedding")
        per_chain[label] = embed_residues(tuple(c for c in chain_ids if c == label), {label: seq})
    return _in_residue_order(per_chain, chain_ids, dim)


def _in_residue_order(per_chain: dict[str, torch.Tensor], chain_ids: tuple[str, ...], dim: int) -> torch.Tensor:
    """[R, D]: row r is the next unused row of chain `chain_ids[r]`'s embedding."""
    cursor = dict.fromkeys(per_chain, 0)
    rows = []
    for label in chain_ids:
        rows.append(per_chain[label][cursor[label]])
        cursor[label] += 1
    return torch.stack(rows) if rows else torch.zeros(0, dim)
