"""Result files under <data dir>/results/<job id>/, written atomically."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from jobservice.modelspecs.base import ModelResult


class ResultStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def job_dir(self, job_id: str) -> Path:
        return self._root / job_id

    def write(self, job_id: str, result: ModelResult) -> dict[str, Any]:
        """Write every artifact; returns the JSON kept with the job (metrics, metadata, artifact index)."""
        directory = self.job_dir(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        index = []
        for artifact in result.artifacts:
            name = f"{job_id}.{artifact.extension}"
            tmp = directory / f".{name}.tmp"
            tmp.write_bytes(artifact.content)
            os.replace(tmp, directory / name)  # readers never see a half-written file
            index.append({"format": artifact.format, "file": name, "media_type": artifact.media_type})
        return {"metrics": result.metrics, "metadata": result.metadata, "artifacts": index}

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def read(self, job_id: str, file_name: str) -> bytes:
        path = self.job_dir(job_id) / file_name
        if path.parent != self.job_dir(job_id):  # file names come from our own index; refuse anything else
            raise ValueError(f"bad result file name {file_name!r}")
        return path.read_bytes()
