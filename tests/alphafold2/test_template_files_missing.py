"""A template hit whose mmCIF file is missing from the template directory is skipped with a warning; the other
hits still make templates, and the job does not fail (DeepMind's featurizer would raise FileNotFoundError)."""

from __future__ import annotations

from pathlib import Path

import pytest
from af2_helpers import QUERY, mutate, write_template_database
from phonos_models.alphafold2 import templates
from phonos_models.alphafold2.msa import Alignment

pytestmark = pytest.mark.integration  # real hmmbuild/hmmsearch

# write_template_database lists this chain in pdb_seqres.txt as 9zzz_A but writes no 9zzz.cif.
UNFILED = "GSHMASGSHMASPEPEPEKKKWWWLLLLAA"


def settings(root: Path) -> templates.TemplateSettings:
    seqres, mmcif_dir = write_template_database(root, "1tmp", mutate(QUERY, every=6))
    return templates.TemplateSettings(pdb_seqres=seqres, mmcif_dir=mmcif_dir, max_template_date="2100-01-01",
                                      hmmsearch_binary="hmmsearch", hmmbuild_binary="hmmbuild", kalign_binary="kalign")


def search(query: str, root: Path) -> templates.TemplateResult:
    return templates.search_templates(query, Alignment.single(query), settings(root), lambda: False)


def test_a_hit_without_its_mmcif_file_is_skipped_and_said(tmp_path: Path) -> None:
    found = search(UNFILED, tmp_path)
    assert found.names == ()
    assert any(w.startswith("9zzz_A: skipped, 9zzz.cif is not in the template mmCIF directory") for w in found.warnings)


def test_the_other_hits_still_make_templates(tmp_path: Path) -> None:
    found = search(QUERY + UNFILED, tmp_path)  # hits both entries
    assert found.names == ("1tmp_A",)
    assert [w.split(":")[0] for w in found.warnings if "skipped" in w] == ["9zzz_A"]
