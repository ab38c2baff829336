"""Fold, then dock: a docking job given a structure job's id reads that job's Amber-relaxed PDB when the job made
one (asked with relax), else its PDB, and the docking job's params (its metadata) say which file it was. Before, the
unrelaxed PDB was always read: the clashes the relax removed were docked into, unsaid."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from jobservice.service import AccountJobOutputs, Download
from jobservice.states import JobStatus

pytestmark = pytest.mark.unit

JOB_ID = "1b6f7a3e-8c1d-4e59-9a4e-2f1d7c3b5a60"


class _Service:
    """What `AccountJobOutputs` reads of the service: one completed ESMFold job and its files."""

    def __init__(self, formats: list[str]) -> None:
        artifacts = [{"format": f, "file": f"{JOB_ID}.{f}", "media_type": "chemical/x-pdb"} for f in formats]
        self.job = SimpleNamespace(id=JOB_ID, model="esmfold", status=JobStatus.COMPLETED, result={"artifacts": artifacts})
        self.jobs = self
        self.read: list[str] = []

    async def get(self, account_id: int, job_id: str) -> Any:
        return self.job

    async def download(self, account_id: int, job_id: str, fmt: str) -> Download:
        self.read.append(fmt)
        return Download(f"{fmt} text".encode(), "chemical/x-pdb", f"{job_id}.{fmt}")


def test_a_relaxed_structure_job_is_docked_through_its_relaxed_pdb() -> None:
    service = _Service(["pdb", "cif", "json", "relaxed_pdb", "relaxed_cif", "zip"])
    structure = asyncio.run(AccountJobOutputs(service, 7).structure_pdb(JOB_ID))  # type: ignore[arg-type]
    assert (structure.content, structure.format, service.read) == (b"relaxed_pdb text", "relaxed_pdb", ["relaxed_pdb"])


def test_an_unrelaxed_structure_job_is_docked_through_its_pdb() -> None:
    service = _Service(["pdb", "cif", "json", "zip"])  # no relax asked, or one that timed out: no relaxed files
    structure = asyncio.run(AccountJobOutputs(service, 7).structure_pdb(JOB_ID))  # type: ignore[arg-type]
    assert (structure.content, structure.format, service.read) == (b"pdb text", "pdb", ["pdb"])
