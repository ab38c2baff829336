"""Result files under <data dir>/results/<first 2 characters of the job id>/<job id>.<ext>.

Files are written before the job's completed state commits and are only ever
read through a completed job's artifact index, so a crash mid-write leaves a
stray file (rewritten by the retry), never a half-read result. One shared
directory per id prefix avoids a directory creation per job (on ext4 here a
mkdir costs as much as writing the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobservice.modelspecs.base import ModelResult


class ResultStore:
    def __init__(self, root: Path) -> None:
        self._root = root

    def shard(self, job_id: str) -> Path:
        return self._root / job_id[:2]

    def write(self, job_id: str, result: ModelResult) -> dict[str, Any]:
        """Write every artifact; returns the JSON kept with the job (metrics, metadata, artifact index)."""
        directory = self.shard(job_id)
        directory.mkdir(parents=True, exist_ok=True)
        index = []
        for artifact in result.artifacts:
            name = f"{job_id}.{artifact.extension}"
            (directory / name).write_bytes(artifact.content)
            index.append({"format": artifact.format, "file": name, "media_type": artifact.media_type})
        return {"metrics": result.metrics, "metadata": result.metadata, "artifacts": index}

    def remove(self, job_id: str) -> None:
        for path in self.shard(job_id).glob(f"{job_id}.*"):
            path.unlink(missing_ok=True)

    def read(self, job_id: str, file_name: str) -> bytes:
        # File names come from our own index; refuse anything that is not this job's file.
        if "/" in file_name or not file_name.startswith(f"{job_id}."):
            raise ValueError(f"bad result file name {file_name!r}")
        return (self.shard(job_id) / file_name).read_bytes()
