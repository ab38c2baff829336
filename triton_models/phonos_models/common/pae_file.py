"""The `pae` download: predicted aligned error as the AlphaFold Database serves it.

PAE Viewer, Mol*'s AlphaFold plugin, ChimeraX `alphafold pae` and AFDB-style pipelines read one JSON
shape: a list of one object, `[{"predicted_aligned_error": [[...N x N...]], "max_predicted_aligned_error":
31.75}]` (AFDB v3+; the older `residue1/residue2/distance` form is not written). Rows are the residue the
prediction is aligned on, columns the residue scored, as in the scores JSON.

The matrix is the scores JSON's own `pae` (already rounded to 0.01 Å), rounded again to AFDB_DECIMALS: no new
numbers, so the two downloads can never disagree beyond that rounding. One decimal is DeepMind's own writer
(alphafold/common/confidence.py `pae_json`, "the same format as is used in the AFDB", which rounds to 1 dp; the
AFDB files themselves hold whole numbers): it keeps 0.1 Å, below what a heatmap or a domain split can show, and a
file of ~4 characters per entry (a 1,000-residue fold: ~4 MB, where 2 decimals took ~5 MB).

Nothing here needs more than numpy and json: it runs in the result-file workers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from phonos_models.common.result_files import ResultFile

FORMAT = "pae"
EXTENSION = "pae.json"  # `<job id>.pae.json`, beside the plot's `<job id>.pae.png`
MEDIA_TYPE = "application/json"
AFDB_DECIMALS = 1
# The largest error the PAE head can predict: both ESMFold's (transformers, max_bin 31, 64 bins) and AlphaFold2's
# (breaks linspace(0, 31, 63)) heads put 64 bins of 0.5 Å on 0-31 Å, and the last bin's centre is 31.75 Å, which
# DeepMind's `compute_predicted_aligned_error` returns as `max_predicted_aligned_error` and AFDB files carry.
# Viewers use it as the colour scale's top, so it is the head's bound, not this matrix's largest entry (that one is
# the scores JSON's `max_pae` for AlphaFold2).
MAX_PREDICTED_ALIGNED_ERROR = 31.75
DESCRIPTION = ("predicted aligned error in the AlphaFold Database's PAE JSON (PAE Viewer, Mol*, ChimeraX "
               "`alphafold pae`): the scores JSON's matrix, Angstrom to 0.1")


def afdb_pae(scores_pae: Sequence[Sequence[float]]) -> list[dict[str, object]]:
    """The AFDB document of the scores JSON's `pae` matrix ([N][N], Å): a list of one object."""
    return [{"predicted_aligned_error": _rounded(scores_pae).tolist(),
             "max_predicted_aligned_error": MAX_PREDICTED_ALIGNED_ERROR}]


def pae_file(scores_pae: Sequence[Sequence[float]]) -> ResultFile:
    """`?format=pae`: compact separators, as DeepMind's writer (a 1,000-residue matrix is a million entries).

    The bytes are exactly `json.dumps(afdb_pae(...), separators=(",", ":"))`, but written through a table of the
    numbers' texts: every entry is a whole number of tenths between 0 and the head's 31.75 Å, and json.dumps spent
    ~0.4 s formatting a million floats one by one (1,000 residues, on a result-file worker, on every job's
    completion path), the table ~0.1 s in all. Anything outside the table (never from a model) goes through
    json.dumps."""
    matrix = _rounded(scores_pae)
    tenths = np.rint(matrix * 10.0)
    if matrix.size and np.isfinite(matrix).all() and tenths.min() >= 0 and tenths.max() < len(_TENTHS):
        rows = _TENTHS[tenths.astype(np.int64)].tolist()
        body = "],[".join([",".join(row) for row in rows])
        text = (f'[{{"predicted_aligned_error":[[{body}]],'
                f'"max_predicted_aligned_error":{json.dumps(MAX_PREDICTED_ALIGNED_ERROR)}}}]')
    else:
        text = json.dumps(afdb_pae(scores_pae), separators=(",", ":"))
    return ResultFile(FORMAT, EXTENSION, MEDIA_TYPE, text.encode())


# repr(k / 10) is what json.dumps writes for np.round(x, 1) == rint(10 x) / 10 == k / 10: the same text.
_TENTHS = np.array([repr(k / 10) for k in range(int(MAX_PREDICTED_ALIGNED_ERROR * 10) + 2)], dtype=object)


def _rounded(scores_pae: Sequence[Sequence[float]]) -> np.ndarray:
    matrix = np.asarray(scores_pae, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a PAE matrix is N x N, got shape {matrix.shape}")
    # np.round keeps float64 values whose shortest repr is the 1-decimal number json writes back.
    return np.round(matrix, AFDB_DECIMALS)
