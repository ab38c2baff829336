"""Two things a new user of the `phonos` command met, against the real service (in process, on the inference
twin), through `phonos_client.cli.main`: a key pasted as `Bearer pk_...` (copied from a curl line's header) is
used without the prefix, said in one line, by `phonos login` and from PHONOS_API_KEY; and a second
`phonos fold SEQ --out folds/` keeps the first run's folds/sequence.pdb, naming its own file with the job id."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from phonos_client import Client, cli, config

from tests.support import InProcessService

pytestmark = pytest.mark.integration
SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    started = InProcessService(tmp_path_factory.mktemp("cli-fixes"), {"PHONOS_MODELS": "esmfold"})
    yield started
    started.stop()


@pytest.fixture(scope="module")
def key(service: InProcessService) -> str:
    return service.new_key(credits=1000)


@pytest.fixture
def phonos(service: InProcessService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
           tmp_path: Path) -> Run:
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))  # not the real home
    for name in ("PHONOS_URL", "PHONOS_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer  ", "BEARER "])
def test_login_takes_a_key_pasted_with_its_bearer_prefix(service: InProcessService, key: str, phonos: Run,
                                                         prefix: str) -> None:
    code, out, err = phonos("login", "--url", service.base_url, "--api-key", f"{prefix}{key}")
    assert code == 0, err
    assert "logged in to" in out
    # One line says why the key was changed, so the next paste is a bare key; the stored key is the bare one.
    assert err.splitlines() == [
        "phonos: note: the key began with `Bearer `; using it without that (the command adds it)"]
    assert config.load().api_key == key
    assert phonos("account")[0] == 0  # the stored key works


def test_phonos_api_key_with_a_bearer_prefix_is_used_without_it(service: InProcessService, key: str, phonos: Run,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", f"Bearer {key}")
    code, out, err = phonos("account")
    assert code == 0, err
    assert "from PHONOS_API_KEY began with `Bearer `" in err and "Invalid API key" not in err
    with Client.from_config() as client:  # the SDK reads PHONOS_API_KEY the same way
        assert client.api_key == key and client.account().username
    with Client(service.base_url, f"Bearer {key}") as client:  # and a key given to the constructor
        assert client.account().username


def test_a_second_fold_into_the_same_folder_keeps_the_first_file(service: InProcessService, key: str, phonos: Run,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    folds = tmp_path / "folds"
    code, out, err = phonos("fold", SEQUENCE, "--model", "esmfold", "--out", f"{folds}/", "--json")
    assert code == 0, err
    first = folds / "sequence.pdb"
    assert first.is_file()
    before = first.read_bytes()
    code, out, err = phonos("fold", SEQUENCE, "--model", "esmfold", "--out", f"{folds}/", "--json")
    assert code == 0, err
    (job,) = json.loads(out)["jobs"]
    second = folds / f"sequence.{job['job_id']}.pdb"
    assert second.is_file() and first.read_bytes() == before  # the first run's file is untouched
    assert job["files"] == [str(second)]  # the report names the file the run wrote
    assert sorted(p.name for p in folds.iterdir()) == sorted(["sequence.pdb", second.name])


def test_the_help_says_how_files_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["fold", "--help"])
    assert exited.value.code == 0
    assert "a file already there is kept: the new one gets the job id too" in " ".join(capsys.readouterr().out.split())
