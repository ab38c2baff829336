"""The contract between the job service and one Triton model.

A spec validates a submission *before* any credit is taken (raising
`InvalidArgument` with a message that says what to fix), turns the accepted job
into typed Triton input tensors, and turns Triton's output tensors into result
files plus the headline metrics and provenance shown on `GET /v1/jobs/{id}`.
Specs hold no state and do no I/O except through `JobOutputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


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
class TritonInput:
    """One input tensor. `array` includes the leading batch dimension of 1."""

    name: str
    array: np.ndarray
    datatype: str  # Triton datatype: "BYTES", "INT32", "INT64", "FP32", "BOOL"


@dataclass(frozen=True)
class Artifact:
    """One downloadable result file of a job."""

    format: str  # the `?format=` key: "pdb", "cif", "json", "sdf", "a3m", ...
    extension: str  # file extension without dot; the file is "<job_id>.<extension>"
    media_type: str
    content: bytes


@dataclass(frozen=True)
class ModelResult:
    """Everything a completed job keeps. `artifacts[0]` is the default download."""

    artifacts: tuple[Artifact, ...]
    metrics: dict[str, float | int | str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


class JobOutputs(Protocol):
    """Read access to the submitting account's own completed jobs (fold-then-dock)."""

    async def structure_pdb(self, job_id: str) -> bytes:
        """The PDB of a completed structure job of this account; `InvalidArgument` otherwise."""
        ...


class ModelSpec(Protocol):
    """What the job service needs to know about one model."""

    @property
    def info(self) -> ModelInfo: ...

    @property
    def triton_model(self) -> str:
        """The model's name in the Triton model repository."""
        ...

    @property
    def output_names(self) -> tuple[str, ...]: ...

    @property
    def timeout_s(self) -> float:
        """The longest one Triton call may take before the job fails."""
        ...

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        """Accept or reject a submission; never touches credits."""
        ...

    def triton_inputs(self, job: ValidatedJob) -> list[TritonInput]:
        """The tensors of one inference request (batch size 1)."""
        ...

    def decode(self, job: ValidatedJob, outputs: Mapping[str, np.ndarray]) -> ModelResult:
        """Result files and metrics from the output tensors (batch dimension included)."""
        ...
