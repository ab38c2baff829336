"""ESMFold's structure files name the model and weights where a viewer shows them: the PDB's TITLE (ChimeraX logs it,
Biopython reads it as the header's name) and the mmCIF's `_struct.title`, the relaxed files too. Before, the PDB's
title ("ESMFOLD PREDICTION") was set as gemmi's structure name, which gemmi's writer never prints, so no file had a
title at all. And the mmCIF's space group is the PDB file's CRYST1 `P 1`. Tiny random weights, one short fold; read
back with gemmi and Biopython's strict parsers."""

from __future__ import annotations

import io
import warnings

import gemmi
import pytest
from Bio import BiopythonWarning
from Bio.PDB import PDBParser
from Bio.PDB.MMCIF2Dict import MMCIF2Dict
from phonos_models.common.relax import RelaxedStructure, RelaxOutcome
from phonos_models.esmfold import files
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.predict import fold

pytestmark = pytest.mark.integration

SEQUENCE = "MKTVRQERLKSIVRIL"


@pytest.fixture(scope="module")
def folded(tiny):
    (result,) = fold(tiny.model, [FoldJob(SEQUENCE, 0, None)])
    built = files.model_result(result, tiny.weights, tiny.instance)
    return result, {f.format: f.content.decode() for f in built.files if f.format in ("pdb", "cif")}


def strict_title(pdb: str) -> str:
    """The TITLE as Biopython's strict parser reads it, lower-cased (warnings are errors)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", BiopythonWarning)
        structure = PDBParser(PERMISSIVE=False, QUIET=False).get_structure("esmfold", io.StringIO(pdb))
    return structure.header["name"]


def cif_title(mmcif: str) -> str:
    return MMCIF2Dict(io.StringIO(mmcif))["_struct.title"][0]


def test_pdb_and_mmcif_titles_name_the_model_and_weights(folded, tiny) -> None:
    _, texts = folded
    pdb, mmcif = texts["pdb"], texts["cif"]
    want = f"ESMFold prediction, weights {tiny.weights.name} (NOT A REAL PREDICTION)"
    assert pdb.startswith("TITLE     ESMFold prediction")
    assert max(len(line) for line in pdb.splitlines()) <= 80
    assert strict_title(pdb) == want.lower()
    assert gemmi.read_pdb_string(pdb).info["_struct.title"] == want
    assert cif_title(mmcif) == want  # the weights' name as spelt, case kept
    block = gemmi.cif.read_string(mmcif).sole_block()
    assert block.find_value("_struct.entry_id") == block.find_value("_entry.id")
    # the chain is unchanged by the title
    assert gemmi.one_letter_code([r.name for r in gemmi.read_pdb_string(pdb)[0]["A"]]) == SEQUENCE


def test_relaxed_files_say_they_are_relaxed_in_their_titles(folded, tiny) -> None:
    result, texts = folded
    # The relaxed text stands in for the relax's output (ATOM records only): this test is about the headers.
    atoms = "".join(line for line in texts["pdb"].splitlines(keepends=True) if line.startswith(("ATOM", "TER", "END")))
    outcome = RelaxOutcome(status="completed", platform="CPU", openmm_version="8", relaxed={
        files.STRUCTURE: RelaxedStructure(files.STRUCTURE, atoms, 0, 0, 0, 0, 0.0, 0.0, 0.0, 1, 0.0)})
    relaxed = {f.format: f.content.decode() for f in files.relaxed_files(result, tiny.weights, outcome)}
    want = f"ESMFold prediction, Amber-relaxed, weights {tiny.weights.name} (NOT A REAL PREDICTION)"
    assert strict_title(relaxed["relaxed_pdb"]) == want.lower()
    assert relaxed["relaxed_pdb"].index("TITLE") < relaxed["relaxed_pdb"].index("REMARK 250")
    assert cif_title(relaxed["relaxed_cif"]) == want
    # named as the unrelaxed file is, not gemmi's "string" for a structure read from text
    for text in (relaxed["relaxed_cif"], texts["cif"]):
        block = gemmi.cif.read_string(text).sole_block()
        assert block.name == gemmi.cif.as_string(block.find_value("_entry.id")) == "esmfold_prediction"


def test_mmcif_space_group_is_the_pdb_files_p1(folded) -> None:
    """A predicted model's 1 Å cell in P 1, the PDB's convention for structures not from a crystal: the PDB file's
    CRYST1 said P 1, the mmCIF `_symmetry.space_group_name_H-M ''` (no space group for a reader to find)."""
    _, texts = folded
    assert MMCIF2Dict(io.StringIO(texts["cif"]))["_symmetry.space_group_name_H-M"] == ["P 1"]
    from_cif = gemmi.make_structure_from_block(gemmi.cif.read_string(texts["cif"]).sole_block())
    from_pdb = gemmi.read_pdb_string(texts["pdb"])
    assert from_cif.spacegroup_hm == from_pdb.spacegroup_hm == "P 1"
    assert gemmi.find_spacegroup_by_name(from_cif.spacegroup_hm) is not None
