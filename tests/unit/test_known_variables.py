"""A PHONOS_* variable no part of phonos reads is said at start, with the setting it may mean: a misspelt
`PHONOS_GRCP_HOST=0.0.0.0` in a container was ignored without a word and the job service bound 127.0.0.1."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from jobservice.__main__ import main
from phonos_config.variables import known_variables, unknown_variables
from tests.support import REPO

pytestmark = pytest.mark.unit

# Where phonos's variables are read, set or documented (tests set their own, PHONOS_TEST_*).
SCANNED = ("jobservice", "gateway", "launcher", "phonos_config", "phonos_common", "triton_models", "clients",
           "deploy", "scripts", "docs", "bench", ".ci", "README.md", "CHANGELOG.md")
SUFFIXES = {".py", ".sh", ".md", ".yaml", ".yml", ".pbtxt", ".toml", ".json", ".js", ".txt", ""}
# A whole name: not a prefix written as PHONOS_ESMFOLD_* or PHONOS_<FIELD>.
NAME = re.compile(r"PHONOS_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*<{])")
# The misspelling the README and the changelog give as an example of what is said.
EXAMPLES = {"PHONOS_GRCP_HOST"}


def _files() -> list[Path]:
    files = []
    for entry in SCANNED:
        path = REPO / entry
        if path.is_file():
            files.append(path)
            continue
        files += [f for f in path.rglob("*") if f.is_file() and f.suffix in SUFFIXES
                  and not {"node_modules", "__pycache__", "vendor"} & set(f.parts)]
    return files


def test_every_phonos_variable_in_the_code_deploy_and_docs_is_known() -> None:
    known = known_variables()
    unknown: dict[str, str] = {}
    for path in _files():
        try:
            text = path.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        for name in NAME.findall(text):
            if name not in known and name not in EXAMPLES and not name.startswith("PHONOS_TEST_"):
                unknown.setdefault(name, str(path.relative_to(REPO)))
    assert unknown == {}, "read or documented but not known (add to phonos_config/variables.py READ_ELSEWHERE?)"
    # The settings classes' names are learnt from them, not listed.
    assert {"PHONOS_GRPC_HOST", "PHONOS_ESMFOLD_MAX_LENGTH", "PHONOS_RESTART_MAX", "PHONOS_TRUSTED_PROXIES",
            "PHONOS_RELAX_PLATFORM", "PHONOS_ALPHAFOLD2_PARAMS_DIR", "PHONOS_DIFFDOCK_WEIGHTS_DIR"} <= known


def test_an_unknown_variable_is_said_with_the_setting_it_may_mean() -> None:
    assert unknown_variables({"PHONOS_GRCP_HOST": "0.0.0.0", "PHONOS_MODELS": "esmfold", "PHONOS_FROBNICATE": "1",
                              "PHONOS_TEST_REFERENCE_DIR": "/x", "HOME": "/root"}) == [
        "PHONOS_FROBNICATE is set but is no phonos setting: it is ignored",
        "PHONOS_GRCP_HOST is set but is no phonos setting (did you mean PHONOS_GRPC_HOST?): it is ignored"]


def test_the_job_service_logs_it_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PHONOS_GRCP_HOST", "0.0.0.0")
    # Ends right after the settings are read (a descriptor that is no socket): what it logged by then.
    with caplog.at_level(logging.WARNING, logger="jobservice"):
        assert main(["--data-dir", str(tmp_path), "--grpc-port", "0", "--no-http", "--metrics-fd", "987"]) == 2
    said = [r for r in caplog.records if getattr(r, "action", "") == "settings.unknown_variable"]
    assert [r.getMessage() for r in said] == [
        "PHONOS_GRCP_HOST is set but is no phonos setting (did you mean PHONOS_GRPC_HOST?): it is ignored"]
    assert said[0].levelno == logging.WARNING
