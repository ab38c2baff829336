"""What a model instance did once, before any job: loading its weights, and the software it runs.

A job's `timings` hold what that job spent. The load happens once per Triton instance and is shared by every job
the instance serves, so repeating it in each job's `timings` (ESMFold's `model_load_s` did) made the dashboard show
it as a stage of every job. It goes into the job's metadata as `model_instance.load_s`: provenance of the instance
that ran the job, not time the job waited. `software` (phonos_models.common.software) is read at the same load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelInstance:
    load_s: float  # seconds the instance spent building or reading and hashing its weights, once, at start-up
    software: Mapping[str, str] = field(default_factory=dict)  # package -> version (software.versions)

    def metadata(self) -> dict[str, Any]:
        """The job metadata's keys for this instance."""
        return {"model_instance": {"load_s": round(self.load_s, 3)}} | (
            {"software": dict(self.software)} if self.software else {})
