"""An AutoDock PDBQT receptor (what a Vina workflow leaves on a chemist's disk) docks as the protein it is.

PDBQT puts each atom's partial charge in columns 71-76 and its AutoDock type in 78-79, over PDB's segment id
(73-76) and element (77-78). Before, the charge digits were read as segment ids, every atom got its own "segment",
and the receptor was split into one-residue chains: ESM-2 embedded 30 one-letter "chains", every side chain was
lost, the warnings listed 215 residues without a CA, and the job completed on that. Found walking the service.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import gemmi
import numpy as np
import pytest
import torch
from phonos_models.diffdock import receptor
from phonos_models.diffdock.outputs import RankedPose, complex_pdb
from phonos_models.diffdock.pipe_validate import check_receptor
from rdkit import Chem
from rdkit.Chem import AllChem

from jobservice.modelspecs.base import NoAccount
from jobservice.modelspecs.diffdock import build_spec

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
AUTODOCK_TYPES = {"C": "C", "N": "NA", "O": "OA", "S": "SA", "CA": "Ca"}  # AutoDock 4 types of the file's elements


def as_pdbqt(pdb: str) -> str:
    """The file as MGLTools' prepare_receptor4 writes it: `%6.3f` charge in 71-76, type in 78-79, polar
    hydrogens (HD) after each backbone N, AutoDock's aromatic carbon type `A` in the rings."""
    charges = np.random.default_rng(0).uniform(-0.5, 0.5, size=10_000)
    out: list[str] = []
    for line in pdb.splitlines():
        if not line.startswith(("ATOM  ", "HETATM")):
            continue
        element = line[76:78].strip()
        kind = "A" if line[17:20] in ("PHE", "TYR") and line[12:16].strip()[:2] in ("CG", "CD", "CE", "CZ") else (
            AUTODOCK_TYPES.get(element, element))
        out.append(f"{line[:66]}    {charges[len(out)]:6.3f} {kind:<2s}")
        if line.startswith("ATOM") and line[12:16] == " N  ":
            out.append(f"{line[:12]} H  {line[16:66]}    {charges[len(out)]:6.3f} HD")
    return "REMARK  Name = receptor\n" + "\n".join(out) + "\nTER\n"


PDBQT = as_pdbqt(PDB)


def test_the_file_is_pdbqt_as_autodock_writes_it() -> None:
    first = PDBQT.splitlines()[1]
    assert first[70:76].strip().replace("-", "").startswith("0.") and first[77:79].strip() == "NA"
    assert len({line[72:76] for line in PDBQT.splitlines() if line.startswith("ATOM")}) > 100  # "segments"


def test_a_pdbqt_receptor_gives_the_same_model_inputs_as_its_pdb() -> None:
    from_pdb, from_pdbqt = receptor.featurize(PDB), receptor.featurize(PDBQT)
    assert from_pdbqt.esm_sequences == from_pdb.esm_sequences == {"A": "MKTAYIAKQRQISFVKSHFSRQ", "B": "GSWTEHLK"}
    assert from_pdbqt.chain_ids == from_pdb.chain_ids
    assert torch.equal(from_pdbqt.aa, from_pdb.aa) and torch.equal(from_pdbqt.atom_x, from_pdb.atom_x)
    assert torch.allclose(from_pdbqt.atom_pos, from_pdb.atom_pos, equal_nan=True)
    prep = from_pdbqt.preparation
    assert prep.pdbqt and not from_pdb.preparation.pdbqt
    assert prep.residues_without_ca == () and prep.residues_missing_atoms == 0
    assert prep.hydrogens_removed == 30 and prep.other_groups == {"CA": 1} and prep.waters_removed == 1
    assert prep.as_json()["pdbqt_columns_ignored"] is True
    assert prep.warnings() == ["receptor file is PDBQT (AutoDock): read as PDB, its partial charges and atom types "
                               "(columns 67-80) ignored, elements taken from the atom names"]


def test_the_submission_check_and_the_complex_read_it_as_pdb() -> None:
    assert check_receptor(PDBQT).chains == {"A": 22, "B": 8}
    job = asyncio.run(build_spec({}).validate("CCO", {"protein_pdb": PDBQT, "random_seed": 1}, NoAccount()))
    assert job.params["protein_residues"] == 30
    ligand = Chem.AddHs(Chem.MolFromSmiles("CCO"))
    AllChem.EmbedMolecule(ligand, randomSeed=1)
    ligand = Chem.RemoveHs(ligand)
    rec = receptor.featurize(PDBQT)
    text = complex_pdb(rec, ligand, RankedPose(1, 0, 0.0, ligand.GetConformer().GetPositions()), [])
    structure = gemmi.read_pdb_string(text)
    assert [ch.name for ch in structure[0]][:2] == ["A", "B"]
    elements = {a.element.name for ch in structure[0] for r in ch if r.name != "LIG" for a in r}
    assert elements == {"C", "N", "O", "S", "Ca"}  # from the atom names; AutoDock's A/NA/OA/SA/HD are gone


def test_a_pdb_with_segment_ids_is_not_taken_for_pdbqt() -> None:
    segmented = "\n".join(line[:72] + "PROA" + line[76:] if line.startswith("ATOM") else line for line in PDB.splitlines())
    assert not receptor.featurize(segmented).preparation.pdbqt
