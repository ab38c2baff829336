"""The `phonos` command names a refused value by the flag that set it (`--expires-in-days must be ...`), not by
the API's field (`expires_in_days`, `params.samples_per_complex`): against the real service (in process, on the
inference twin), through `phonos_client.cli.main`. A value outside the API's fixed range is refused by the command
itself, before any request (exit 2, phonos_client.flag_ranges); one only the server can judge (DiffDock's most
samples, an operator's setting) is the server's 400 in the flag's words (exit 8)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from phonos_client import cli
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
    with pytest.raises(SystemExit) as refused:  # the API's fixed range: the command's own usage error
        run("jobs", "ls", "--limit", "500")
    assert refused.value.code == 2
    with pytest.raises(SystemExit) as refused:
        run("usage", "--days=100")  # the --flag=value form too
    assert refused.value.code == 2

    with pytest.raises(SystemExit) as refused:
        run("jobs", "share", "fcdf4066-a637-4328-b42a-5bfec7c767d5", "--expires-in-days", "999")
    assert refused.value.code == 2


def test_a_refused_model_parameter_is_named_by_its_flag_in_the_records_table(phonos: object, tmp_path: Path) -> None:
    run = phonos  # type: ignore[assignment]
    # The server's own bound (PHONOS_DIFFDOCK_MAX_SAMPLES), and the option's field is not its name (--samples sets
    # samples_per_complex): still the flag.
    code, said = run("dock", "--protein", str(RECEPTOR), "--ligand", "CCO", "--samples", "99", "--no-wait",
                     "--out", str(tmp_path))
    assert code == 8 and "--samples must be between 1 and 40" in said and "samples_per_complex" not in said
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
