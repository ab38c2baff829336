"""The tiny-database builder, as a function and as the `python -m` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from phonos_models.alphafold2.build_db import BuildError, build, read_fasta

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.unit
def test_build_writes_a_clean_fasta_and_a_versioned_manifest(tmp_path: Path) -> None:
    source = tmp_path / "in.fasta"
    source.write_text(">sp|P1 first\nmktay\niak*\n>sp|P1 again\nMKTAYIAK\n>p2\nGSHMAS\n")
    built = build(source, tmp_path / "db", "mgnify")
    assert built.fasta.read_text() == ">sp|P1\nMKTAYIAK\n>p2\nGSHMAS\n"  # duplicate sequence dropped
    manifest = json.loads(built.manifest.read_text())
    assert manifest["name"] == "mgnify"
    assert manifest["num_sequences"] == 2
    assert manifest["version"] == built.version and built.version.startswith("sha256:")
    assert built.env_line == f"PHONOS_ALPHAFOLD2_MGNIFY={built.fasta}"


@pytest.mark.unit
@pytest.mark.parametrize(("text", "fragment"), [
    ("MKT\n", "before the first '>'"),
    (">a\n", "has no sequence"),
    (">a\nMKT1\n", "not a protein sequence"),
    ("", "no FASTA records"),
])
def test_bad_fasta_is_refused(text: str, fragment: str) -> None:
    with pytest.raises(BuildError, match=None) as caught:
        read_fasta(text)
    assert fragment in str(caught.value)


@pytest.mark.unit
def test_a_file_that_is_not_text_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "uniref90.fasta.gz"
    source.write_bytes(b"\x1f\x8b\x08\x00binary")
    with pytest.raises(BuildError, match="uniref90.fasta.gz: not a text FASTA file"):
        build(source, tmp_path / "db")


@pytest.mark.e2e  # two interpreter starts that import AlphaFold's parsers
def test_module_command_builds_a_database(tmp_path: Path) -> None:
    source = tmp_path / "in.fasta"
    source.write_text(">a\nMKTAYIAK\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "triton_models")])}
    done = subprocess.run([sys.executable, "-m", "phonos_models.alphafold2.build_db", str(source), str(tmp_path / "db")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"PHONOS_ALPHAFOLD2_UNIREF90={tmp_path / 'db' / 'uniref90.fasta'}" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "phonos_models.alphafold2.build_db", str(tmp_path / "missing.fasta"),
                          str(tmp_path / "db2")], capture_output=True, text=True, env=env, timeout=60)
    assert bad.returncode == 2 and "missing.fasta" in bad.stderr
