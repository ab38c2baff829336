"""The SDK as a developer uses it: `download_to("dir/")` saves into that folder (made when missing) as the CLI's
`--out dir/` does, a missing folder is named as the caller gave it, and an account's job counts come in one order on
REST and gRPC (found by a tester: `phonos account` said them in another order over gRPC)."""

from __future__ import annotations

from pathlib import Path

import pytest
from phonos_client.client import _target
from phonos_client.models import Account, Download
from phonos_client.saving import write_whole

pytestmark = pytest.mark.unit

JOB_ID = "1b6f7a3e-8c1d-4e59-9a4e-2f1d7c3b5a60"


def _download() -> Download:
    return Download(b"ATOM\n", "chemical/x-pdb", f"{JOB_ID}.pdb")


def test_a_path_ending_in_a_separator_is_a_folder_made_when_missing(tmp_path: Path) -> None:
    target = _target(f"{tmp_path}/new/results/", _download(), JOB_ID)
    assert target == tmp_path / "new" / "results" / f"{JOB_ID}.pdb"  # was: a file named "results"
    assert (tmp_path / "new" / "results").is_dir()
    assert _target(tmp_path / "plain.pdb", _download(), JOB_ID) == tmp_path / "plain.pdb"  # a file name stays one


def test_a_missing_folder_is_named_not_the_part_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        write_whole(tmp_path / "nodir" / "x.pdb", b"ATOM\n")
    assert missing.value.filename == str(tmp_path / "nodir")  # was: ".../nodir/.x.pdb.part"
    assert ".part" not in str(missing.value)


def test_job_counts_come_in_the_seeds_order_whatever_the_transport_gave() -> None:
    data = {"account": {"id": 1, "username": "ada"}, "credits": {"balance": 5},
            "jobs": {"cancelled": 2, "total": 35, "failed": 0, "completed": 33, "active": 0}}  # gRPC's map order
    assert list(Account.from_dict(data).jobs) == ["total", "completed", "active", "failed", "cancelled"]
    data["jobs"] = {"queued_later": 1, "total": 1}  # a count a newer server adds comes after the known ones
    assert list(Account.from_dict(data).jobs) == ["total", "queued_later"]
