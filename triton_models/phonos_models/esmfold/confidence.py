"""pTM, ipTM and per-chain confidence from ESMFold's pTM-head logits.

The head predicts, for every residue pair (i, j), a distribution over 64 error bins spanning 0–31 Å
(fair-esm `compute_tm(..., max_bin=31, no_bins=64)`). The predicted TM-score term of a pair is the
expected value of 1 / (1 + (e / d0)²) under that distribution, with d0 = 1.24·(max(N, 19) − 15)^(1/3) − 1.8
for N residues (AlphaFold's `predicted_tm_score`, Suppl. 1.9.7; transformers' vendored `compute_tm`).

* pTM of a residue set: max over aligned residues i of the mean term over j in the set, d0 from the set.
* ipTM (AlphaFold-Multimer, Evans et al. 2021): the same over all residues, but j ranges only over the
  chains other than i's and d0 comes from the whole complex.
* chain-pair ipTM (as AlphaFold 3 reports it): ipTM restricted to the residues of two chains, d0 from
  those two chains; the diagonal is each chain's own pTM.

ESMFold was trained on single chains: these are the AlphaFold-Multimer formulas applied to a
single-chain head that sees the linked complex, so read ipTM as a heuristic interface score.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

PTM_MAX_BIN = 31  # Å, fair-esm esmfold.py
PTM_BINS = 64


@dataclass(frozen=True)
class ComplexConfidence:
    ptm: float  # 0–1, all submitted residues (linker excluded)
    iptm: float | None  # 0–1, None for a single chain
    chain_ptm: tuple[float, ...]  # 0–1 per chain
    chain_pair_iptm: np.ndarray  # [C, C] 0–1; diagonal = chain pTM


def _bin_centers(device: torch.device) -> torch.Tensor:
    breaks = torch.linspace(0, PTM_MAX_BIN, steps=PTM_BINS - 1, device=device)
    step = breaks[1] - breaks[0]
    centers = breaks + step / 2
    return torch.cat([centers, (centers[-1] + step).unsqueeze(-1)])


def _d0(num_residues: int) -> float:
    return 1.24 * (max(num_residues, 19) - 15) ** (1.0 / 3) - 1.8


def _terms(probs: torch.Tensor, num_residues: int) -> torch.Tensor:
    """[n, n] expected TM terms of the pair distributions `probs` [n, n, bins] for a d0 of `num_residues`."""
    centers = _bin_centers(probs.device)
    per_bin = 1.0 / (1.0 + centers.square() / _d0(num_residues) ** 2)
    return probs @ per_bin


def _masked_max_mean(terms: torch.Tensor, pair_mask: torch.Tensor) -> float:
    per_alignment = (terms * pair_mask).sum(-1) / (1e-8 + pair_mask.sum(-1))
    return float(per_alignment.max())


def complex_confidence(logits: torch.Tensor, chain_of_residue: Sequence[int]) -> ComplexConfidence:
    """`logits` [N, N, 64] over the submitted residues only (linker rows and columns removed)."""
    probs = torch.softmax(logits.float(), dim=-1)
    chains = torch.tensor(list(chain_of_residue), device=probs.device)
    count = int(chains.max()) + 1 if len(chains) else 0
    n = probs.shape[0]
    everything = torch.ones(n, n, device=probs.device)
    ptm = _masked_max_mean(_terms(probs, n), everything)
    members = [torch.nonzero(chains == c).flatten() for c in range(count)]
    pair = np.zeros((count, count))
    for a in range(count):
        index = members[a]
        if len(index) == n:  # one chain: its pTM is the pTM of everything (no [N, N, 64] copy, no second pass)
            pair[a, a] = ptm
        else:
            sub = probs[index][:, index]
            pair[a, a] = _masked_max_mean(_terms(sub, len(index)),
                                          torch.ones(len(index), len(index), device=probs.device))
        for b in range(a + 1, count):
            index = torch.cat([members[a], members[b]])
            sub_chains = chains[index]
            mask = (sub_chains[:, None] != sub_chains[None, :]).float()
            pair[a, b] = pair[b, a] = _masked_max_mean(_terms(probs[index][:, index], len(index)), mask)
    iptm = None
    if count > 1:
        iptm = _masked_max_mean(_terms(probs, n), (chains[:, None] != chains[None, :]).float())
    return ComplexConfidence(ptm=ptm, iptm=iptm, chain_ptm=tuple(float(pair[c, c]) for c in range(count)),
                             chain_pair_iptm=pair)
