"""Ctrl-C (or a full disk) while `phonos jobs download` or `fold --out` writes a result leaves no half file under the
result's name: `fold --out` took one for an earlier run's file (and named the new one after the job id), and a viewer
opened it as a truncated structure. The command runs in this process against the in-process service; the file
system's write is made to stop half way, as Ctrl-C would stop it."""

from __future__ import annotations

import io
import pathlib
from pathlib import Path
from typing import Any

import pytest
from phonos_client import Client, cli

from tests.support import InProcessService

pytestmark = pytest.mark.integration  # the command in this process against the in-process service on the twin


class HalfWritten(io.BufferedWriter):
    """A file whose write stops half way with Ctrl-C."""

    def write(self, data: Any) -> int:
        super().write(bytes(data)[: len(data) // 2])
        self.flush()
        raise KeyboardInterrupt


def test_an_interrupted_download_leaves_no_half_file(twin_service: InProcessService, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    key = twin_service.new_key(credits=100)
    with Client(twin_service.base_url, key) as client:
        job_id = client.wait(client.predict("esmfold", "MKTAYIAKQRQISFVKSHFSRQ").job_id, timeout=60).job_id
    monkeypatch.setenv("PHONOS_URL", twin_service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    target = tmp_path / "result.pdb"
    opened = pathlib.Path.open

    def half_open(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if "w" in mode and self.parent == tmp_path and self.suffix != ".toml":
            return HalfWritten(io.FileIO(self, "w"))
        return opened(self, mode, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "open", half_open)
    assert cli.main(["jobs", "download", job_id, "--out", str(target)]) == 130  # interrupted
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".pdb" or p.name.endswith(".part")) == []
    monkeypatch.setattr(pathlib.Path, "open", opened)
    assert cli.main(["jobs", "download", job_id, "--out", str(target)]) == 0  # and whole when not interrupted
    assert target.read_text().startswith("in-memory twin output of esmfold (pdb)")  # the twin's whole file


def test_a_target_that_is_a_link_is_written_through_it(tmp_path: Path) -> None:
    """write_bytes wrote through a symbolic link (a results folder linking to shared storage); the rename that
    makes the write whole would have replaced the link by a file."""
    from phonos_client.saving import write_whole

    (tmp_path / "shared").mkdir()
    real = tmp_path / "shared" / "model.pdb"
    real.write_bytes(b"old")
    link = tmp_path / "model.pdb"
    link.symlink_to(real)
    write_whole(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"
    assert sorted(p.name for p in (tmp_path / "shared").iterdir()) == ["model.pdb"]  # no part left behind
