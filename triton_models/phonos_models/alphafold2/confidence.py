"""Confidence of one model, recomputed in float32 on the unpadded residues with DeepMind's formulas.

pLDDT (0–100) from the lDDT head; for pTM/multimer models the PAE matrix, pTM and, for a complex,
ipTM (pTM over inter-chain pairs: `predicted_tm_score(..., asym_id)`), plus per chain and per chain
pair summaries. Models are ranked as DeepMind ranks them: monomers by mean pLDDT, complexes by
0.8·ipTM + 0.2·pTM (AlphaFold-Multimer, Evans et al. 2021; run_alphafold.py's ranking_confidence).
A single chain under the multimer preset is ranked by mean pLDDT, as ColabFold does (ipTM is
undefined without an interface).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from alphafold.common import confidence

IPTM_WEIGHT, PTM_WEIGHT = 0.8, 0.2  # DeepMind's multimer ranking_confidence


@dataclass(frozen=True)
class ChainConfidence:
    chain_id: str  # "A", "B", ... in the order of the sequence
    length: int  # residues
    mean_plddt: float  # 0–100
    ptm: float | None  # pTM of this chain alone (its block of the PAE logits); None without a PAE head

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.chain_id, "length": self.length, "mean_plddt": round(self.mean_plddt, 3)}
        if self.ptm is not None:
            data["ptm"] = round(self.ptm, 4)
        return data


@dataclass(frozen=True)
class InterfaceConfidence:
    chains: tuple[str, str]
    iptm: float  # ipTM of the two chains alone (0–1)
    mean_pae: float  # Å, mean of both inter-chain blocks of the PAE matrix

    def as_json(self) -> dict[str, Any]:
        return {"chains": list(self.chains), "iptm": round(self.iptm, 4), "mean_pae": round(self.mean_pae, 3)}


@dataclass(frozen=True)
class Confidence:
    plddt: np.ndarray  # [L] float32, 0–100
    pae: np.ndarray | None  # [L, L] float32, Å (row = aligned residue, column = scored residue)
    max_pae: float | None  # Å, the largest entry of `pae` (ColabFold's scores JSON)
    ptm: float | None  # 0–1
    iptm: float | None  # 0–1; complexes only
    chains: tuple[ChainConfidence, ...]
    interfaces: tuple[InterfaceConfidence, ...]  # every chain pair of a complex

    @property
    def mean_plddt(self) -> float:
        return float(self.plddt.mean())

    @property
    def ranked_by(self) -> str:
        return "0.8*iptm+0.2*ptm" if self.iptm is not None else "mean_plddt"

    @property
    def ranking_confidence(self) -> float:
        """DeepMind's ranking_confidence: 0.8·ipTM + 0.2·pTM for a complex, else mean pLDDT (0–100)."""
        if self.iptm is not None and self.ptm is not None:
            return IPTM_WEIGHT * self.iptm + PTM_WEIGHT * self.ptm
        return self.mean_plddt


def summarize(result: Mapping[str, Any], length: int, chain_index: np.ndarray, chain_ids: tuple[str, ...]) -> Confidence:
    """`result`: one model's outputs, residues in sequence order (padding may follow);
    `chain_index` [length]: 0-based chain of each residue."""
    plddt = np.asarray(confidence.compute_plddt(np.asarray(result["predicted_lddt"]["logits"][:length], np.float32)),
                       np.float32)
    spans = [np.flatnonzero(chain_index == index) for index in range(len(chain_ids))]
    head = result.get("pae_matrix_with_logits", result.get("predicted_aligned_error"))
    if not (isinstance(head, Mapping) and "logits" in head):
        chains = tuple(ChainConfidence(cid, len(span), float(plddt[span].mean()), None)
                       for cid, span in zip(chain_ids, spans, strict=True))
        return Confidence(plddt, None, None, None, None, chains, ())
    logits = np.asarray(head["logits"][:length, :length], np.float32)
    breaks = np.asarray(head["breaks"], np.float32)
    pae = np.asarray(confidence.compute_predicted_aligned_error(logits=logits, breaks=breaks)["predicted_aligned_error"],
                     np.float32)
    ptm = float(confidence.predicted_tm_score(logits=logits, breaks=breaks))
    chains = tuple(
        ChainConfidence(cid, len(span), float(plddt[span].mean()),
                        float(confidence.predicted_tm_score(logits=logits[np.ix_(span, span)], breaks=breaks)))
        for cid, span in zip(chain_ids, spans, strict=True))
    iptm = None
    interfaces: list[InterfaceConfidence] = []
    if len(chain_ids) > 1:
        iptm = float(confidence.predicted_tm_score(logits=logits, breaks=breaks, asym_id=chain_index))
        for a in range(len(chain_ids)):
            for b in range(a + 1, len(chain_ids)):
                both = np.concatenate([spans[a], spans[b]])
                pair_iptm = confidence.predicted_tm_score(logits=logits[np.ix_(both, both)], breaks=breaks,
                                                          asym_id=chain_index[both])
                cross = np.concatenate([pae[np.ix_(spans[a], spans[b])].ravel(), pae[np.ix_(spans[b], spans[a])].ravel()])
                interfaces.append(InterfaceConfidence((chain_ids[a], chain_ids[b]), float(pair_iptm), float(cross.mean())))
    return Confidence(plddt, pae, float(pae.max()), ptm, iptm, chains, tuple(interfaces))
