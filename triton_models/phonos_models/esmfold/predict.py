"""Running ESMFold on validated jobs: tensors in, one `FoldResult` per sequence out.

Fixes to transformers' outputs, each checked by a test:
- `num_recycles=N` is passed straight to the forward, which runs N+1 trunk
  passes (one initial pass and N recycling iterations, AlphaFold2's meaning of
  "recycles"). The pass count is measured with a hook and returned.
- pTM is computed per sequence from `ptm_logits[i, :L, :L]`; the forward's
  `ptm` is one number for the whole padded batch.
- pLDDT is reported 0–100 (the model gives 0–1), taken at the CA atom.
- PAE is cropped to [L, L] per sequence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import EsmForProteinFolding
from transformers.models.esm.openfold_utils.feats import atom14_to_atom37
from transformers.models.esm.openfold_utils.loss import compute_tm
from transformers.models.esm.openfold_utils.residue_constants import restype_order_with_x

from phonos_models.common.errors import Cancelled, ResourceExhausted
from phonos_models.common.progress import Progress, Report, ignore
from phonos_models.common.structure import CA_INDEX
from phonos_models.esmfold.batching import FoldJob, plan_batches

UNKNOWN_RESTYPE = restype_order_with_x["X"]
# ESMFold's pTM/PAE head: 64 bins over 0–31 Å (fair-esm esmfold.py, `compute_tm(..., max_bin=31, no_bins=64)`).
PTM_MAX_BIN = 31
PTM_BINS = 64

ShouldStop = Callable[[], bool]


@dataclass(frozen=True)
class FoldResult:
    sequence: str  # length L
    atom_positions: np.ndarray  # [L, 37, 3] float32, Å, atom37 order
    atom_mask: np.ndarray  # [L, 37] float32 {0, 1}
    plddt: np.ndarray  # [L] float32, 0–100, per residue (CA)
    ptm: float  # 0–1, predicted TM-score of this sequence alone
    pae: np.ndarray  # [L, L] float32, Å, expected position error of residue j when aligned on i
    num_recycles: int  # recycling iterations requested
    trunk_passes: int  # measured: num_recycles + 1
    chunk_size: int | None  # trunk chunk size used; None = unchunked
    batch_size: int  # sequences in the forward pass that produced this result
    fold_s: float  # wall time of that forward pass

    @property
    def mean_plddt(self) -> float:
        return float(self.plddt.mean())


def fold(
    model: EsmForProteinFolding,
    jobs: Sequence[FoldJob],
    should_stop: ShouldStop | None = None,
    report: Report = ignore,
) -> list[FoldResult]:
    """Fold every job, grouping them into padding-aware batches; results in input order."""
    results: list[FoldResult | None] = [None] * len(jobs)
    for batch in plan_batches(jobs):
        folded = fold_batch(model, [jobs[i] for i in batch], should_stop, report)
        for index, result in zip(batch, folded, strict=True):
            results[index] = result
    return [r for r in results if r is not None]


def fold_batch(
    model: EsmForProteinFolding,
    jobs: Sequence[FoldJob],
    should_stop: ShouldStop | None = None,
    report: Report = ignore,
) -> list[FoldResult]:
    """One forward pass over jobs that share recycles and chunking; `report` hears each trunk pass start.

    An out-of-memory batch of several sequences is retried one sequence at a
    time before giving up, so one long neighbour cannot fail the others.
    """
    if len({(job.num_recycles, job.chunk_size) for job in jobs}) != 1:
        raise ValueError("fold_batch needs jobs with equal num_recycles and chunk_size; use fold()")
    try:
        return _forward(model, jobs, should_stop, report)
    except ResourceExhausted:
        if len(jobs) == 1:
            raise
        return [result for job in jobs for result in _forward(model, [job], should_stop, report)]


def _forward(model: EsmForProteinFolding, jobs: Sequence[FoldJob], should_stop: ShouldStop | None,
             report: Report) -> list[FoldResult]:
    device = next(model.parameters()).device
    lengths = [len(job.sequence) for job in jobs]
    aatype, mask = _tokenise([job.sequence for job in jobs], device)
    position_ids = torch.arange(aatype.shape[1], device=device).expand(len(jobs), -1)
    passes = 0

    def before_pass(_module: torch.nn.Module, _args: tuple) -> None:
        # The trunk's first block runs once per pass: the place to count passes and to stop between them.
        nonlocal passes
        total = jobs[0].num_recycles + 1
        if should_stop is not None and should_stop():
            raise Cancelled(f"cancelled after {passes} of {total} trunk passes")
        passes += 1
        report(Progress("recycle", passes, total, f"trunk pass {passes} of {total} (recycle {passes - 1} of {total - 1})"))

    hook = model.trunk.blocks[0].register_forward_pre_hook(before_pass)
    previous_chunk = model.trunk.chunk_size
    model.trunk.set_chunk_size(jobs[0].chunk_size)
    started = time.perf_counter()
    try:
        with torch.inference_mode():
            out = model(aatype, attention_mask=mask, position_ids=position_ids, num_recycles=jobs[0].num_recycles)
            atom37 = atom14_to_atom37(out["positions"][-1], out)
    except torch.OutOfMemoryError as exc:
        raise _exhausted(lengths, jobs[0].chunk_size) from exc
    except RuntimeError as exc:
        if "can't allocate memory" in str(exc) or "out of memory" in str(exc).lower():
            raise _exhausted(lengths, jobs[0].chunk_size) from exc
        raise
    finally:
        hook.remove()
        model.trunk.set_chunk_size(previous_chunk)
    fold_s = time.perf_counter() - started
    return [
        _unpad(out, atom37, i, job, length, passes, len(jobs), fold_s)
        for i, (job, length) in enumerate(zip(jobs, lengths, strict=True))
    ]


def _tokenise(sequences: Sequence[str], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """AlphaFold residue indices (the esmfold_v1 input order), zero-padded, and the residue mask."""
    longest = max(len(s) for s in sequences)
    aatype = torch.zeros(len(sequences), longest, dtype=torch.long)
    mask = torch.zeros(len(sequences), longest, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        aatype[row, : len(sequence)] = torch.tensor([restype_order_with_x.get(c, UNKNOWN_RESTYPE) for c in sequence])
        mask[row, : len(sequence)] = 1
    return aatype.to(device), mask.to(device)


def _unpad(
    out: dict, atom37: torch.Tensor, i: int, job: FoldJob, length: int, passes: int, batch_size: int, fold_s: float
) -> FoldResult:
    atom_mask = out["atom37_atom_exists"][i, :length].float().cpu().numpy().copy()
    # Unknown residues (X) have no atom template, so the model marks none of
    # their atoms; their CA is still the backbone frame's origin. Keep it, so
    # the file has one residue per input letter.
    unknown = out["aatype"][i, :length].cpu().numpy() == UNKNOWN_RESTYPE
    atom_mask[unknown, CA_INDEX] = 1.0
    ptm = compute_tm(out["ptm_logits"][i, :length, :length], max_bin=PTM_MAX_BIN, no_bins=PTM_BINS)
    return FoldResult(
        sequence=job.sequence,
        atom_positions=atom37[i, :length].float().cpu().numpy(),
        atom_mask=atom_mask,
        plddt=(100.0 * out["plddt"][i, :length, CA_INDEX]).float().cpu().numpy(),
        ptm=float(ptm),
        pae=out["predicted_aligned_error"][i, :length, :length].float().cpu().numpy(),
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
