"""The contract between the job service and one Triton model.

A spec validates a submission *before* any credit is taken (raising
`InvalidArgument` with a message that says what to fix) and turns the accepted
job into typed input tensors. The result files come back built by the model
itself (phonos_models.common.result_files), so a spec never decodes outputs.
Specs hold no state and do no I/O except through `JobOutputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from jobservice.errors import InvalidArgument
from jobservice.inference import Tensor


@dataclass(frozen=True)
class ModelInfo:
    """The public description listed by `GET /v1/models`."""

    id: str
    name: str
    description: str
    type: str
    cost_credits: int


@dataclass(frozen=True)
class ValidatedJob:
    """What a spec accepted. Stored as JSON with the job and replayed at dispatch.

    `params` is normalised: defaults filled in, every value JSON-serialisable,
    so dispatch after a restart sees exactly what validation saw.
    """

    sequence: str
    params: dict[str, Any]


@dataclass(frozen=True)
class StructureFile:
    """A structure job's PDB that a docking job reads, and which of its files it is ("relaxed_pdb" or "pdb")."""

    content: bytes
    format: str


class JobOutputs(Protocol):
    """The submitting account, and read access to its own completed jobs (fold-then-dock)."""

    @property
    def account_id(self) -> int | None:
        """Whose submission this is: the slow submission checks take at most one thread per account
        (text_checks.py, DiffDock's ligand check). None: no account (a tool's, a benchmark's); those share one."""
        ...

    async def structure_pdb(self, job_id: str) -> StructureFile:
        """The PDB of a completed structure job of this account (its Amber-relaxed one when it has one);
        `InvalidArgument` otherwise."""
        ...


class NoAccount:
    """`JobOutputs` of a tool validating a submission outside the service (a benchmark): no account, no jobs."""

    account_id: int | None = None

    async def structure_pdb(self, job_id: str) -> StructureFile:
        raise InvalidArgument(f"protein_pdb refers to job {job_id}, but outside the service there are no jobs")


class ModelSpec(Protocol):
    """What the job service needs to know about one model."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def triton_model(self) -> str:
        """The model's name in the Triton model repository."""
        ...

    @property
    def formats(self) -> tuple[str, ...]:
        """The files every result of this model has (`?format=` keys); the first is the default download."""
        ...

    @property
    def provenance_params(self) -> tuple[str, ...]:
        """Accepted params the job service copies into a result's metadata (what only it knows)."""
        ...

    @property
    def stored_only_params(self) -> tuple[str, ...]:
        """Params validation adds to what it stores that a request cannot carry (GET /v1/jobs/{id}/input
        leaves them out, so the request it gives back can be posted again)."""
        ...

    @property
    def timeout_s(self) -> float:
        """The model's compute limit for one job (s): sent with each call, counted by the model from when it
        starts computing; past it the job fails as `compute_limit`, charged (jobservice/failures.py)."""
        ...

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        """Accept or reject a submission; never touches credits."""
        ...

    def inputs(self, job: ValidatedJob) -> tuple[Tensor, ...]:
        """The tensors of one inference request, shaped as the model's config.pbtxt says."""
        ...
