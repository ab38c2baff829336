"""`echo`: a diagnostic model that returns its input text, for measuring the service's own overhead.

Not served unless listed in PHONOS_MODELS (bench/service_overhead.py does);
its output is plain text, never a structure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.base import Artifact, JobOutputs, ModelInfo, ModelResult, TritonInput, ValidatedJob
from jobservice.modelspecs.params import ParamReader
from jobservice.triton_gateway import decode_bytes

INFO = ModelInfo(id="echo", name="Echo", description="Diagnostics: returns its input (no model)",
                 type="diagnostic", cost_credits=1)
MAX_LENGTH = 10_000


@dataclass(frozen=True)
class EchoSpec:
    info: ModelInfo = INFO
    triton_model: str = "echo"
    output_names: tuple[str, ...] = ("TEXT",)
    timeout_s: float = 30.0

    async def validate(self, sequence: str, params: Mapping[str, Any], outputs: JobOutputs) -> ValidatedJob:
        ParamReader(INFO.name, params).finish()
        if len(sequence) > MAX_LENGTH:
            raise InvalidArgument(f"sequence is longer than {MAX_LENGTH} characters")
        return ValidatedJob(sequence=sequence, params={})

    def triton_inputs(self, job: ValidatedJob) -> list[TritonInput]:
        return [TritonInput("TEXT", np.array([[job.sequence.encode()]], dtype=object), "BYTES")]

    def decode(self, job: ValidatedJob, outputs: Mapping[str, np.ndarray]) -> ModelResult:
        text = decode_bytes(outputs, "TEXT")
        return ModelResult(artifacts=(Artifact("txt", "txt", "text/plain", text),), metrics={"length": len(text)},
                           metadata={"weights": "none (diagnostic echo model)"})


def build_spec() -> EchoSpec:
    return EchoSpec()
