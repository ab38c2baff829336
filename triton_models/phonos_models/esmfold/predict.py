"""Running ESMFold on validated jobs: tensors in, one `FoldResult` per sequence out.

Fixes to transformers' outputs, each checked by a test:
- `num_recycles=N` is passed straight to the forward, which runs N+1 trunk
  passes (one initial pass and N recycling iterations, AlphaFold2's meaning of
  "recycles"). The pass count is measured with a hook and returned.
- pTM is computed per sequence from `ptm_logits[i, :L, :L]`; the forward's
  `ptm` is one number for the whole padded batch.
- pLDDT is reported 0–100 (the model gives 0–1): per atom (what fair-esm writes
  to B-factors) and per residue at the CA atom (what the plots and JSON show).
- PAE is cropped to [L, L] per sequence.
- Complexes (chains joined by ':') fold the way fair-esm's `infer` does (see
  `chains`); the linker is removed from every output and confidence is
  reported per chain and across the interface (`confidence`).
- An unknown residue (X) has no atom template, so the model marks none of its
  atoms and fair-esm writes none; we write its CA at the origin of its final
  backbone frame (where every residue's CA sits), so the file keeps one
  residue per input letter.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from phonos_models.common.errors import ResourceExhausted
from phonos_models.common.progress import Report, ShouldStop, ignore
from phonos_models.common.structure import CA_INDEX
from phonos_models.common.transformers_esm import EsmForProteinFolding, atom14_to_atom37, restype_order_with_x
from phonos_models.esmfold.batching import FoldJob, plan_batches
from phonos_models.esmfold.chains import ChainLayout
from phonos_models.esmfold.confidence import complex_confidence
from phonos_models.esmfold.result import FoldResult
from phonos_models.esmfold.stopping import STOP_CHECK_INTERVAL_S, StopChecks

UNKNOWN_RESTYPE = restype_order_with_x["X"]

__all__ = ["FoldResult", "ShouldStop", "fold", "fold_batch"]


def fold(
    model: EsmForProteinFolding,
    jobs: Sequence[FoldJob],
    should_stop: ShouldStop | None = None,
    report: Report = ignore,
    check_interval_s: float = STOP_CHECK_INTERVAL_S,
) -> list[FoldResult]:
    """Fold every job, grouping them into padding-aware batches; results in input order."""
    results: list[FoldResult | None] = [None] * len(jobs)
    for batch in plan_batches(jobs):
        folded = fold_batch(model, [jobs[i] for i in batch], should_stop, report, check_interval_s)
        for index, result in zip(batch, folded, strict=True):
            results[index] = result
    return [r for r in results if r is not None]


def fold_batch(
    model: EsmForProteinFolding,
    jobs: Sequence[FoldJob],
    should_stop: ShouldStop | None = None,
    report: Report = ignore,
    check_interval_s: float = STOP_CHECK_INTERVAL_S,
) -> list[FoldResult]:
    """One forward pass over jobs that share recycles and chunking; `report` hears each trunk pass start.

    `should_stop` is asked at each trunk pass start and, at most once per `check_interval_s`, before
    each language-model layer, trunk block and structure module (`stopping`); `Cancelled` says where
    it stopped. An out-of-memory batch of several sequences is retried one sequence at a
    time before giving up, so one long neighbour cannot fail the others.
    """
    if len({(job.num_recycles, job.chunk_size) for job in jobs}) != 1:
        raise ValueError("fold_batch needs jobs with equal num_recycles and chunk_size; use fold()")
    try:
        return _forward(model, jobs, should_stop, report, check_interval_s)
    except ResourceExhausted:
        if len(jobs) == 1:
            raise
        return [result for job in jobs for result in _forward(model, [job], should_stop, report, check_interval_s)]


def _forward(model: EsmForProteinFolding, jobs: Sequence[FoldJob], should_stop: ShouldStop | None,
             report: Report, check_interval_s: float) -> list[FoldResult]:
    device = next(model.parameters()).device
    layouts = [job.layout for job in jobs]
    lengths = [layout.folded_length for layout in layouts]
    aatype, mask, position_ids = _tokenise(layouts, device)
    checks = StopChecks(should_stop, jobs[0].num_recycles + 1, report, check_interval_s)
    previous_chunk = model.trunk.chunk_size
    model.trunk.set_chunk_size(jobs[0].chunk_size)
    started = time.perf_counter()
    try:
        with checks.installed(model), torch.inference_mode():
            out = model(aatype, attention_mask=mask, position_ids=position_ids, num_recycles=jobs[0].num_recycles)
            atom37 = atom14_to_atom37(out["positions"][-1], out)
    except torch.OutOfMemoryError as exc:
        raise _exhausted(lengths, jobs[0].chunk_size) from exc
    except RuntimeError as exc:
        if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
            raise _exhausted(lengths, jobs[0].chunk_size) from exc
        raise
    finally:
        model.trunk.set_chunk_size(previous_chunk)
    fold_s = time.perf_counter() - started
    return [_unpad(out, atom37, i, job, checks.passes, len(jobs), fold_s) for i, job in enumerate(jobs)]


def _tokenise(layouts: Sequence[ChainLayout], device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """AlphaFold residue indices of the linked chains (the esmfold_v1 input order), zero-padded; the
    residue mask; the residue index with the per-chain offset (fair-esm's `residx`)."""
    longest = max(layout.folded_length for layout in layouts)
    aatype = torch.zeros(len(layouts), longest, dtype=torch.long)
    mask = torch.zeros(len(layouts), longest, dtype=torch.long)
    residx = torch.zeros(len(layouts), longest, dtype=torch.long)
    for row, layout in enumerate(layouts):
        folded = layout.folded_sequence
        aatype[row, : len(folded)] = torch.tensor([restype_order_with_x.get(c, UNKNOWN_RESTYPE) for c in folded])
        mask[row, : len(folded)] = 1
        residx[row, : len(folded)] = torch.tensor(layout.residue_index())
    return aatype.to(device), mask.to(device), residx.to(device)


def _unpad(out: dict, atom37: torch.Tensor, i: int, job: FoldJob, passes: int, batch_size: int, fold_s: float) -> FoldResult:
    layout = job.layout
    real = torch.tensor(layout.real_positions(), device=atom37.device)
    exists = out["atom37_atom_exists"][i, real].float()
    atom_plddt = 100.0 * out["plddt"][i, real].float()
    positions = atom37[i, real].float().clone()
    atom_mask = exists.clone()
    # X: no atom template, so no atom exists; its CA is the translation of its final backbone frame
    # (`frames` is [quaternion 4 | translation 3], already scaled to Å).
    unknown = out["aatype"][i, real] == UNKNOWN_RESTYPE
    positions[unknown, CA_INDEX] = out["frames"][-1][i, real][unknown, 4:].float()
    atom_mask[unknown, CA_INDEX] = 1.0
    logits = out["ptm_logits"][i][real][:, real]
    confidence = complex_confidence(logits, layout.chain_of_residue())
    pae = out["predicted_aligned_error"][i][real][:, real]
    return FoldResult(
        layout=layout,
        atom_positions=positions.cpu().numpy(),
        atom_mask=atom_mask.cpu().numpy(),
        atom_plddt=atom_plddt.cpu().numpy(),
        plddt=atom_plddt[:, CA_INDEX].cpu().numpy(),
        # fair-esm `infer`: the mean over existing atoms, linker excluded
        mean_plddt=float((atom_plddt * exists).sum() / exists.sum().clamp(min=1.0)),
        ptm=confidence.ptm,
        iptm=confidence.iptm,
        chain_ptm=confidence.chain_ptm,
        chain_pair_iptm=confidence.chain_pair_iptm,
        pae=pae.float().cpu().numpy(),
        num_recycles=job.num_recycles,
        trunk_passes=passes,
        chunk_size=job.chunk_size,
        batch_size=batch_size,
        fold_s=fold_s,
    )


def _exhausted(lengths: Sequence[int], chunk_size: int | None) -> ResourceExhausted:
    chunk = "off" if chunk_size is None else str(chunk_size)
    return ResourceExhausted(
        f"out of memory folding {len(lengths)} sequence(s) of up to {max(lengths)} residues "
        f"(chunk_size {chunk}); use a smaller chunk_size or a shorter sequence"
    )
