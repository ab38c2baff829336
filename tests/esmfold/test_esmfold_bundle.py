"""The ESMFold result bundle and plots (tiny model, in process)."""

from __future__ import annotations

import json

import pytest
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.files import model_result
from phonos_models.esmfold.predict import fold

from jobservice.modelspecs.esmfold import FORMATS
from tests.bundle_checks import check_bundle

pytestmark = pytest.mark.integration


def test_bundle_holds_what_formats_lists_with_readme_and_plots(tiny) -> None:
    (folded,) = fold(tiny.model, [FoldJob("MKTVRQERLKSIVRILERSKEPV:GSHMASMTGWQQ", 1, None)])
    result = model_result(folded, tiny.weights, tiny.instance)
    archive = check_bundle(result, FORMATS, "esmfold")
    readme = archive.read("README.md").decode()
    assert "NOT A REAL PREDICTION" in readme and tiny.weights.name in readme
    assert f"| pTM | {folded.ptm:.4f} |" in readme and f"{folded.iptm:.4f}" in readme
    assert "| A | 23 |" in readme and "| B | 12 |" in readme
    assert json.loads(archive.read("esmfold.json"))["chains"][1]["id"] == "B"
