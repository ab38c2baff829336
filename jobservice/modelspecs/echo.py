"""`echo`: the diagnostic model (triton_models/echo), for measuring the service's own overhead and for
the inference contract tests. Not served unless listed in PHONOS_MODELS; its output is plain text,
never a structure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jobservice.errors import InvalidArgument
from jobservice.inference import Tensor, text_tensor
from jobservice.modelspecs.base import JobOutputs, ModelInfo, ValidatedJob
from jobservice.modelspecs.params import ParamReader

INFO = ModelInfo(id="echo", name="Echo", description="Diagnostics: returns its input (no model)",
                 type="diagnostic", cost_credits=1)
MAX_LENGTH = 10_000


@dataclass(frozen=True)
class EchoSpec:
    info: ModelInfo = INFO
    triton_model: str = "echo"
    formats: tuple[str, ...] = ("txt",)
    provenance_params: tuple[str, ...] = ()
    stored_only_params: tuple[str, ...] = ()
    timeout_s: float = 30.0

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        ParamReader(INFO.name, params).finish()
        if len(sequence) > MAX_LENGTH:
            raise InvalidArgument(f"sequence is longer than {MAX_LENGTH} characters")
        return ValidatedJob(sequence=sequence, params={})

    def inputs(self, job: ValidatedJob) -> tuple[Tensor, ...]:
        return (text_tensor("TEXT", job.sequence, batched=True),)


def build_spec() -> EchoSpec:
    return EchoSpec()
