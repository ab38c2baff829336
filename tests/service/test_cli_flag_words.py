"""The `phonos` command names a refused value by the flag that set it (`--expires-in-days must be ...`), not by
the API's field (`expires_in_days`, `params.num_recycles`): against the real service (in process, on the
inference twin), through `phonos_client.cli.main`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from phonos_client import Client, cli
from phonos_client.flag_words import in_flag_words

from tests.support import REPO, InProcessService

pytestmark = pytest.mark.integration
SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"
RECEPTOR = REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    started = InProcessService(tmp_path_factory.mktemp("flags"), {"PHONOS_MODELS": "esmfold,diffdock"})
    yield started
    started.stop()


@pytest.fixture
def phonos(service: InProcessService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
           tmp_path_factory: pytest.TempPathFactory) -> object:
    key = service.new_key(credits=1000)
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path_factory.mktemp("home") / "config.toml"))  # not the real home

    def run(*argv: str) -> tuple[int, str]:
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out + captured.err

    run.key = key  # type: ignore[attr-defined]
    return run


def test_a_refused_option_is_named_by_its_flag(service: InProcessService, phonos: object,
                                               tmp_path: Path) -> None:
    run = phonos  # type: ignore[assignment]
    code, said = run("jobs", "ls", "--limit", "500")
    assert code == 8 and "phonos: Invalid request: --limit must be between 1 and 100, got 500" in said
    code, said = run("usage", "--days=100")  # the --flag=value form too
    assert code == 8 and "--days must be between 1 and 90, got 100" in said

    with Client(service.base_url, run.key) as client:  # type: ignore[attr-defined]
        job_id = client.wait(client.predict("esmfold", SEQUENCE).job_id, timeout=30).job_id
    code, said = run("jobs", "share", job_id, "--expires-in-days", "999")
    assert code == 8 and "--expires-in-days must be between 1 and 365" in said and "expires_in_days" not in said


def test_a_refused_model_parameter_is_named_by_its_flag_in_the_records_table(phonos: object, tmp_path: Path) -> None:
    run = phonos  # type: ignore[assignment]
    code, said = run("fold", SEQUENCE, "--num-recycles", "99", "--no-wait", "--out", str(tmp_path))
    assert code == 8 and "--num-recycles must be between 1 and 24 for ESMFold, got 99" in said
    assert "params.num_recycles" not in said
    # The option's field is not its name (--steps sets inference_steps): still the flag.
    code, said = run("dock", "--protein", str(RECEPTOR), "--ligand", "CCO", "--steps", "99", "--no-wait",
                     "--out", str(tmp_path))
    assert code == 8 and "--steps must be between" in said and "inference_steps" not in said
    # Set through --param, the API's words are the user's words: kept.
    code, said = run("fold", SEQUENCE, "--param", "num_recycles=99", "--no-wait", "--out", str(tmp_path))
    assert code == 8 and "params.num_recycles must be between 1 and 24" in said


def test_only_the_subject_of_a_message_is_renamed() -> None:
    assert in_flag_words("limit must be between 1 and 100, got 0", ["--limit", "0"]) == \
        "--limit must be between 1 and 100, got 0"
    # A field no flag set, or the flag's name further in: unchanged.
    assert in_flag_words("offset must be 0 or more, got -1", ["--limit", "5"]) == "offset must be 0 or more, got -1"
    assert in_flag_words("name must not exceed the limit", ["--limit", "5"]) == "name must not exceed the limit"
    assert in_flag_words("params.samples_per_complex must be between 1 and 40", ["--samples", "50"],
                         {"--samples": "samples_per_complex"}) == "--samples must be between 1 and 40"
