"""Mix-ups a chemist makes when submitting a docking job, named as what they are (found walking the service).

The seed's `sequence` is "Protein sequence (amino acids) or SMILES (for diffdock)", so the receptor's sequence
ends up in `sequence` or in `params.protein_pdb`. Before: a protein sequence in `sequence` was "SMILES ... could not
be parsed by RDKit: syntax error (check brackets, ring closures ...)", even beside a good `params.ligand_smiles`;
a sequence, FASTA or PDB id in `protein_pdb` was "file paths and URLs are not accepted". And a quadruple bond
(`C$C`) was docked as a single bond and written to the SDF as bond order 0, read back as `C~C`.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from phonos_models.diffdock.ligand import LigandError, parse_smiles
from phonos_models.diffdock.outputs import RankedPose, poses_sdf
from rdkit import Chem

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.diffdock import build_spec

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
PROTEIN = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"  # 33 residues
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
FOLD_FIRST = r"fold the sequence first \(an esmfold or alphafold2 job\) and pass that job's job_id as protein_pdb"


class NoJobs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("no job id in these requests")


def validate(sequence: str, params: dict[str, Any]) -> Any:
    return asyncio.run(build_spec({}).validate(sequence, params, NoJobs()))


@pytest.mark.parametrize(
    ("protein_pdb", "message"),
    [
        (PROTEIN, rf"^params\.protein_pdb looks like a protein sequence \(33 residues\), not a structure; .*{FOLD_FIRST}"),
        (f"{PROTEIN.lower()[:20]}\n{PROTEIN.lower()[20:]}", r"protein sequence \(33 residues\)"),  # wrapped, lower case
        (f"{PROTEIN}:{PROTEIN}", r"protein sequence \(66 residues\)"),  # a complex, ColabFold's notation
        (f">sp|P69905|HBA_HUMAN\n{PROTEIN}\n", rf"^params\.protein_pdb looks like FASTA .*{FOLD_FIRST}"),
        ("4HHB", r'^params\.protein_pdb looks like a PDB id \("4HHB"\); this server does not download structures: '
                 r"send the PDB file's content \(e\.g\. https://files\.rcsb\.org/download/4HHB\.pdb\)"),
        ("pdb_00001abc", r"looks like a PDB id"),
        ("END\n", r"^params\.protein_pdb is a PDB file without ATOM or HETATM records \(no coordinates"),
        ("HEADER    HYDROLASE    01-JAN-00   1ABC\nSEQRES   1 A    3  MET LYS THR\nEND\n", "without ATOM or HETATM"),
        # what is none of these keeps the old words
        ("/data/receptor.pdb", "file paths and URLs are not accepted"),
        ("MKTAY", "file paths and URLs are not accepted"),  # too short to call a sequence
    ],
)
def test_a_sequence_or_pdb_id_as_the_receptor_is_named_as_one(protein_pdb: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate(ASPIRIN, {"protein_pdb": protein_pdb})


@pytest.mark.parametrize(
    ("sequence", "params", "field"),
    [
        (PROTEIN, {"protein_pdb": PDB}, "sequence"),
        (PROTEIN, {"protein_pdb": PDB, "ligand_smiles": ASPIRIN}, "sequence"),  # the good SMILES is not blamed
        (PROTEIN.lower(), {"protein_pdb": PDB}, "sequence"),
        ("", {"protein_pdb": PDB, "ligand_smiles": PROTEIN}, "params.ligand_smiles"),
        ("CCCCCCCCCCCC", {"protein_pdb": PDB, "ligand_smiles": PROTEIN}, "params.ligand_smiles"),  # dodecane is a SMILES
    ],
)
def test_a_protein_sequence_where_the_smiles_belongs_is_named_as_one(sequence: str, params: dict[str, Any],
                                                                      field: str) -> None:
    with pytest.raises(InvalidArgument, match=rf"^invalid ligand: {field} looks like a protein sequence \(33 residues\), "
                                              r"not a SMILES; .*the protein goes in params\.protein_pdb"):
        validate(sequence, params)


def test_a_smiles_made_of_amino_acid_letters_is_still_a_smiles() -> None:
    job = validate("CCCCCCCCCCCC", {"protein_pdb": PDB, "random_seed": 1})  # dodecane; also twelve cysteines
    assert job.params["ligand_smiles"] == "CCCCCCCCCCCC"


def test_a_quadruple_bond_is_refused_because_the_sdf_cannot_carry_it() -> None:
    with pytest.raises(LigandError, match=r"quadruple bond \('\$'\) between atoms 1 and 2"):
        parse_smiles("C$C")
    with pytest.raises(InvalidArgument, match=r"^invalid ligand: SMILES has a quadruple bond"):
        validate("C$C", {"protein_pdb": PDB})
    # why: written as MDL bond order 0, it comes back as an unspecified bond, not as the molecule docked
    mol = Chem.MolFromSmiles("C$C")
    mol.AddConformer(Chem.Conformer(2), assignId=True)
    sdf = poses_sdf(mol, [RankedPose(1, 0, 0.0, np.array([[0.0, 0.0, 0.0], [1.2, 0.0, 0.0]]))], {})
    back = next(Chem.ForwardSDMolSupplier(io.BytesIO(sdf.encode()), sanitize=False))
    assert back.GetBondWithIdx(0).GetBondType() != Chem.BondType.QUADRUPLE


@pytest.mark.parametrize("smiles", ["N->[Pt](<-N)(Cl)Cl", "C#N", "c1ccccc1C=O"])
def test_bonds_the_sdf_keeps_are_accepted(smiles: str) -> None:
    assert parse_smiles(smiles).GetNumBonds() >= 1


def test_a_salt_of_single_ions_is_not_sent_to_its_largest_fragment() -> None:
    # before: "dock one molecule: for a salt or solvate send the largest fragment, [Na+]", refused in turn
    with pytest.raises(LigandError, match=r"2 disconnected fragments \(\[Na\+\], \[Cl-\]\), each a single heavy "
                                          r"atom \(a salt of ions\): nothing DiffDock can dock"):
        parse_smiles("[Na+].[Cl-]")
    with pytest.raises(LigandError, match=r"send the largest fragment, CC\(=O\)\[O-\]$"):
        parse_smiles("CC(=O)[O-].[Na+]")  # a salt with an organic ion keeps its advice


def test_two_single_atoms_without_charge_are_not_called_a_salt() -> None:
    with pytest.raises(LigandError, match=r"each a single heavy atom \(ions or atoms\)"):
        parse_smiles("C.C")  # two methanes
    with pytest.raises(LigandError, match=r"each a single heavy atom \(a salt of ions\)"):
        parse_smiles("[Na+].[Cl-]")


@pytest.mark.parametrize(
    ("smiles", "shown"),
    [
        ("CCÖ", r'"Ö" \(U\+00D6\) at position 3'),  # RDKit docked "CC" (ethane)
        ("OCC²", r'"²" \(U\+00B2\) at position 4'),  # a superscript from a formula: docked as ethanol
        ("CCO\x00", r"\(U\+0000\) at position 4"),  # a NUL the parser stopped at
        ("CC\u200bO", r"\(U\+200B\) at position 3"),  # a zero-width space copied from a web page
    ],
)
def test_a_character_outside_smiles_is_refused_before_the_charge(smiles: str, shown: str) -> None:
    # before: RDKit parsed up to the first byte it could not read, and the job was charged and docked the prefix
    with pytest.raises(InvalidArgument, match=rf"^invalid ligand: SMILES contains \S*\s?{shown}; SMILES is written in ASCII"):
        validate(smiles, {"protein_pdb": PDB})
