"""What the SDK and CLI tester left open, against the real service (in process, on the inference twin), through
`phonos_client.cli.main`: `jobs watch A B --out DIR` where B was deleted follows and downloads A and says B is
gone (exit 4), where it downloaded nothing; a reused `--idempotency-key` is refused in the command line's words,
the key as typed, not with the `.0` the command adds for its first POST."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from phonos_client import Client, cli

from tests.support import InProcessService

pytestmark = pytest.mark.integration
SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    started = InProcessService(tmp_path_factory.mktemp("cli-leftovers"), {"PHONOS_MODELS": "esmfold"})
    yield started
    started.stop()


@pytest.fixture(scope="module")
def key(service: InProcessService) -> str:
    return service.new_key(credits=1000)


@pytest.fixture
def phonos(service: InProcessService, key: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
           tmp_path: Path) -> Run:
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))  # not the real home
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_watching_a_deleted_job_with_others_still_downloads_the_others(service: InProcessService, key: str,
                                                                       phonos: Run, tmp_path: Path) -> None:
    with Client(service.base_url, key) as client:
        kept = client.wait(client.predict("esmfold", SEQUENCE, name="kept").job_id, timeout=60)
        deleted = client.wait(client.predict("esmfold", SEQUENCE, name="deleted").job_id, timeout=60)
        client.delete_job(deleted.job_id)
        kept_pdb = client.download(kept.job_id, "pdb").content
    code, out, err = phonos("jobs", "watch", kept.job_id, deleted.job_id, "--out", "out")
    assert code == 4, err  # as `jobs show` of the deleted one: not found
    assert (tmp_path / "out" / "kept.pdb").read_bytes() == kept_pdb
    assert f"phonos: no job {deleted.job_id} (deleted, or not yours): following the other 1" in err
    rows = [line.split("\t") for line in out.splitlines()]
    assert [row[:3] for row in rows] == [["kept", kept.job_id, "completed"], [deleted.job_id, deleted.job_id, "not found"]]
    # Every id gone: the server's refusal, as for one id, and nothing made
    code, out, err = phonos("jobs", "watch", deleted.job_id, deleted.job_id, "--out", "none")
    assert code == 4 and "not found" in err and not list((tmp_path / "none").iterdir())
    code, out, err = phonos("jobs", "watch", deleted.job_id)
    assert code == 4 and "not found" in err


def test_a_reused_run_key_is_named_as_typed(phonos: Run) -> None:
    code, out, err = phonos("fold", SEQUENCE, "--idempotency-key", "run-7", "--no-wait")
    assert code == 0, err
    code, out, err = phonos("fold", SEQUENCE + "A", "--idempotency-key", "run-7", "--no-wait")
    assert code == 8, err
    assert '--idempotency-key "run-7" was already used with a different request' in err, err
    assert "run-7.0" not in err and "Idempotency-Key" not in err
    assert "give a new key" in err
