"""A model's failure message reaches every user as the job's `error`: the server's file paths do not (the security
review found AlphaFold2's "uniref90 database not found at /data/alphafold/uniref90/uniref90.fasta" shown whole)."""

from __future__ import annotations

import pytest

from jobservice.failures import without_server_paths

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(("message", "shown"), [
    ("alphafold2 failed: uniref90 database not found at /data/alphafold/uniref90/uniref90.fasta",
     "alphafold2 failed: uniref90 database not found at <server path>"),
    ("esmfold failed: FileNotFoundError: [Errno 2] No such file or directory: '/var/lib/phonos/x.npz'",
     "esmfold failed: FileNotFoundError: [Errno 2] No such file or directory: '<server path>'"),
    ("diffdock failed: cannot open /tmp/phonos-ab12/ligand.sdf (/home/lab/.cache)",
     "diffdock failed: cannot open <server path> (<server path>)"),
])
def test_server_paths_are_replaced(message: str, shown: str) -> None:
    assert without_server_paths(message) == shown


@pytest.mark.parametrize("message", [
    "esmfold failed: RuntimeError: CUDA out of memory (tried 2.00 GiB)",
    "see https://github.com/google-deepmind/alphafold/issues/1 and msa_mode single_sequence/a3m",
    "pLDDT 0.7 / 1.0 at 1/2 of the residues; ratio 3/4",
    "a lone slash / here, a root / and ~/relative/path",
])
def test_everything_else_is_left_as_it_is(message: str) -> None:
    assert without_server_paths(message) == message
