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


def test_a_download_never_replaces_another_file_and_running_it_again_changes_nothing(
        twin_service: InProcessService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`jobs download A --out seq_one.pdb` into a folder holding job B's seq_one.pdb replaced B's silently. Now it
    is refused (exit 2, the file named with --overwrite); the same job's file again is no error (a re-run), and
    `jobs watch A --out DIR` run again keeps its file instead of saving a copy as NAME.JOB_ID.pdb."""
    key = twin_service.new_key(credits=100)
    with Client(twin_service.base_url, key) as client:
        job_id = client.wait(client.predict("esmfold", "MKTAYIAKQRQISFVKSHFSRQ", name="seq_one").job_id,
                             timeout=60).job_id
    monkeypatch.setenv("PHONOS_URL", twin_service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    others = tmp_path / "seq_one.pdb"
    others.write_text("job B's structure\n")
    capsys.readouterr()
    assert cli.main(["jobs", "download", job_id, "--out", str(others)]) == 2
    err = capsys.readouterr().err
    assert f"{others}: a different file is there already" in err and "--overwrite" in err, err
    assert others.read_text() == "job B's structure\n"  # kept
    assert cli.main(["jobs", "download", job_id, "--out", str(others), "--overwrite"]) == 0
    ours = others.read_bytes()
    assert ours.startswith(b"in-memory twin output of esmfold (pdb)")
    assert cli.main(["jobs", "download", job_id, "--out", str(others)]) == 0  # the same file: run again, no error
    assert others.read_bytes() == ours
    assert cli.main(["jobs", "download", job_id, "--out", f"{tmp_path}/"]) == 0
    assert cli.main(["jobs", "download", job_id, "--out", f"{tmp_path}/"]) == 0
    assert (tmp_path / f"{job_id}.pdb").read_bytes() == ours

    folds = tmp_path / "folds"
    for _ in range(2):  # "follow them again with: phonos jobs watch ID --out folds", typed after it had saved
        assert cli.main(["jobs", "watch", job_id, "--out", str(folds)]) == 0
    assert sorted(p.name for p in folds.iterdir()) == ["seq_one.pdb"]
    (folds / "seq_one.pdb").write_text("edited by hand\n")  # a different file: kept, the result beside it
    assert cli.main(["jobs", "watch", job_id, "--out", str(folds)]) == 0
    assert (folds / "seq_one.pdb").read_text() == "edited by hand\n"
    assert (folds / f"seq_one.{job_id}.pdb").read_bytes() == ours


def test_a_result_whose_names_are_both_taken_gets_a_number(tmp_path: Path) -> None:
    """`a.pdb` and `a.JOB.pdb` both hold other files (one edited by hand): the result is a.JOB.2.pdb, as wget
    numbers; found again by its content when the command is run again, never a third copy."""
    job_id = "f8ac96a7-f27c-4025-9369-89d639c3935e"
    (tmp_path / "a.pdb").write_bytes(b"another job's")
    (tmp_path / f"a.{job_id}.pdb").write_bytes(b"edited")
    target = cli.unused_target(tmp_path, "a", job_id, "pdb", f"{job_id}.pdb", b"this job's")
    assert target == tmp_path / f"a.{job_id}.2.pdb"
    target.write_bytes(b"this job's")
    assert cli.unused_target(tmp_path, "a", job_id, "pdb", f"{job_id}.pdb", b"this job's") == target
