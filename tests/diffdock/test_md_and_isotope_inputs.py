"""Receptors and ligands as molecular-dynamics packages and isotope labelling write them: GROMACS/Amber/CHARMM
water names (SOL, WAT, TIP3), GROMACS's four-character residue names (HISD) and C-terminal oxygens (OC1/OC2),
alternative locations (the one kept is written with occupancy 1.00), deuterium in the receptor (neutron
structures) and in the ligand ([2H]: a deuterated drug). Each goes as the reference treats its usual form:
waters and hydrogens removed, heavy atoms only, and `receptor.preparation` says what was done. Plus the
structural biologist's other usual inputs, checked to pass as documented: negative residue numbers with insertion
codes named as pocket residues, cofactors and metal ions (ignored, kept in the complex PDB), NMR ensembles."""

from __future__ import annotations

from pathlib import Path

import gemmi
import pytest
import torch
from phonos_models.diffdock import ligand, receptor
from phonos_models.diffdock.outputs import RankedPose, complex_pdb, poses_sdf
from phonos_models.diffdock.pocket import PocketError, parse_pocket, resolve
from rdkit import Chem

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
ATOMS = [line for line in PDB.splitlines() if line.startswith("ATOM")]
SEQUENCES = {"A": "MKTAYIAKQRQISFVKSHFSRQ", "B": "GSWTEHLK"}


def _text(lines: list[str]) -> str:
    return "\n".join(lines) + "\nEND\n"


def _complex(rec: receptor.Receptor) -> str:
    mol = ligand.featurize("CCO", seed=1).mol
    return complex_pdb(rec, mol, RankedPose(1, 0, 0.0, mol.GetConformer().GetPositions()), [])


# A GROMACS solvated system's tail (everything as ATOM, no chain id): SPC water with its hydrogens, TIP4P water with
# its massless site, a CHARMM TIP3 written in columns 18-21, Amber's WAT, ions as GROMACS and CHARMM name them.
SOLVENT = [
    "ATOM   9001  OW  SOL   201       2.000   2.000   2.000  1.00  0.00           O",
    "ATOM   9002  HW1 SOL   201       2.500   2.000   2.000  1.00  0.00           H",
    "ATOM   9003  HW2 SOL   201       2.000   2.500   2.000  1.00  0.00           H",
    "ATOM   9004  OW  SOL   202      12.000   2.000   2.000  1.00  0.00           O",
    "ATOM   9005  MW  SOL   202      12.100   2.000   2.000  1.00  0.00",
    "ATOM   9006  OH2 TIP3  203       5.000   2.000   2.000  1.00  0.00           O",
    "ATOM   9007  O   WAT   204       9.000   9.000   2.000  1.00  0.00           O",
    "ATOM   9008 NA    NA   205       8.000   2.000   2.000  1.00  0.00          NA",
    "ATOM   9009 CL    CL   206       9.000   2.000   2.000  1.00  0.00          CL",
    "ATOM   9010  K     K   207       9.000   5.000   2.000  1.00  0.00           K",
    "ATOM   9011 SOD  SOD   208       9.000   7.000   2.000  1.00  0.00          NA",
]


def test_md_water_names_are_removed_as_waters_and_ions_stay_other_groups() -> None:
    rec = receptor.featurize(_text([*ATOMS, *SOLVENT]))
    prep = rec.preparation
    # before: waters_removed 1 (gemmi knows WAT); the SOL waters and the TIP3 (read as "TIP" of chain "3") were
    # "other groups", written into the complex PDB as part of the receptor
    assert prep.waters_removed == 4 and prep.water_names == {"SOL": 2, "TP3": 1, "WAT": 1}
    assert prep.other_groups == {"NA": 1, "CL": 1, "K": 1, "SOD": 1}
    assert prep.hydrogens_removed == 0  # a water's hydrogens go with it: none of the receptor's
    assert prep.as_json()["water_names"] == {"SOL": 2, "TP3": 1, "WAT": 1}
    assert prep.four_character_names == {"TIP3": "TP3"}
    written = gemmi.read_pdb_string(_complex(rec))
    names = {residue.name for chain in written[0] for residue in chain}
    assert not names & {"SOL", "TIP", "TP3", "WAT"} and {"NA", "CL", "K", "SOD", "LIG"} <= names
    assert rec.num_residues == 30 and rec.esm_sequences == SEQUENCES


def test_a_ligand_with_a_water_name_is_no_water() -> None:
    # "SOL" is a water only when it is one oxygen (+ H and virtual sites): a carbon-bearing group keeps its place
    ligand_named_sol = ["HETATM 9001  C1  SOL A 301       2.000   2.000   2.000  1.00  0.00           C",
                        "HETATM 9002  O1  SOL A 301       3.000   2.000   2.000  1.00  0.00           O"]
    prep = receptor.featurize(_text([*ATOMS, *ligand_named_sol])).preparation
    assert prep.waters_removed == 0 and prep.other_groups == {"SOL": 1}


def _gromacs_chain_a() -> list[str]:
    """Chain A as GROMACS (OPLS-AA) writes it: no chain id, HIS as the four-character HISD in columns 18-21, the
    C-terminal carboxylate's oxygens OC1/OC2 (its O renamed OC1 here)."""
    last = max(int(line[22:26]) for line in ATOMS if line[21] == "A")
    out = []
    for line in ATOMS:
        if line[21] != "A":
            continue
        line = line[:21] + " " + line[22:]
        if line[17:20] == "HIS":
            line = line[:17] + "HISD" + line[21:]
        if int(line[22:26]) == last and line[12:16] == " O  ":
            line = line[:12] + " OC1" + line[16:]
        out.append(line)
    return out


def test_gromacs_four_character_names_and_terminal_oxygens() -> None:
    b = [line for line in ATOMS if line[21] == "B"]
    rec = receptor.featurize(_text([*_gromacs_chain_a(), "TER", *b]))
    # before: the HISD read as HIS of chain "D", so chain A reached ESM-2 as three pieces (MKTAYIAKQRQISFVKS, H,
    # FSRQ under new letters) and its last residue lacked its O slot
    assert rec.esm_sequences == {"": SEQUENCES["A"], "B": SEQUENCES["B"]}
    prep = rec.preparation
    assert prep.four_character_names == {"HISD": "HID"} and prep.mapped_residues == {"HID": "H"}
    assert prep.renamed_chains == {} and prep.residues_missing_atoms == 0
    assert rec.aa[17] == receptor.AMINO_ACIDS.index("HID")  # HISD = HID (proton on ND1), in the reference vocabulary
    assert "HISD->HID" in " ".join(prep.warnings())
    plain = receptor.featurize(PDB)
    assert rec.atom_x.shape == plain.atom_x.shape  # the OC1 fills the O slot as O would


def test_two_character_chain_ids_are_not_read_as_four_character_names() -> None:
    # gemmi's two-character chain ids in columns 21-22 ("HISDA": HIS of chain "DA") are left as they are
    lines = [line[:20] + "D" + line[21:] for line in ATOMS]
    rec = receptor.featurize(_text(lines))
    assert rec.preparation.four_character_names == {} and sorted(rec.esm_sequences) == ["DA", "DB"]


def _altloc_lines(first: str, second: str) -> list[str]:
    """Residue A:3 in two locations, `first` listed first, 0.50 each; the second 0.3 Å away."""
    out = []
    for line in ATOMS:
        if line[21] == "A" and line[22:26].strip() == "3":
            shifted = line[:30] + f"{float(line[30:38]) + 0.3:8.3f}" + line[38:]
            out.append(line[:16] + first + line[17:54] + "  0.50" + line[60:])
            out.append(shifted[:16] + second + shifted[17:54] + "  0.50" + shifted[60:])
        else:
            out.append(line)
    return out


@pytest.mark.parametrize(("first", "second"), [("A", "B"), ("B", "A")])
def test_the_altloc_kept_is_named_and_written_with_full_occupancy(first: str, second: str) -> None:
    rec = receptor.featurize(_text(_altloc_lines(first, second)))
    prep = rec.preparation
    assert prep.altlocs_kept == {first: 1} and prep.as_json()["altloc_kept"] == first
    assert f"altloc {first} (1 residue), written with occupancy 1.00" in " ".join(prep.warnings())
    written = gemmi.read_pdb_string(_complex(rec))
    residue = written[0]["A"]["3"][0]
    # before: 0.50 each, though only one location remains in the file
    assert [atom.occ for atom in residue] == [1.0] * len(residue) and not any(atom.has_altloc() for atom in residue)
    original = next(line for line in ATOMS if line[21] == "A" and line[22:26].strip() == "3" and line[12:16] == " CA ")
    assert residue["CA"][0].pos.x == pytest.approx(float(original[30:38]))  # the first listed, not the shifted one
    assert receptor.featurize(PDB).preparation.as_json()["altloc_kept"] == ""


def test_partial_occupancy_without_an_altloc_is_kept() -> None:
    # a ligand modelled at half occupancy (no alternative) says so in the complex PDB still
    half = "HETATM 9001  C1  LIG A 301       2.000   2.000   2.000  0.50  0.00           C"
    written = gemmi.read_pdb_string(_complex(receptor.featurize(_text([*ATOMS, half]))))
    assert [atom.occ for chain in written[0] for residue in chain if residue.name == "LIG" and residue.seqid.num == 301
            for atom in residue] == [0.5]


def test_receptor_deuterium_is_removed_exactly_as_hydrogen_is() -> None:
    lines = []
    for line in ATOMS:
        lines.append(line)
        if line[12:16] == " N  ":
            lines.append(line[:12] + " D  " + line[16:76] + " D")  # element column D
        if line[12:16] == " CA ":
            lines.append(line[:12] + " DA " + line[16:54])  # no element columns: element from the name
    rec = receptor.featurize(_text(lines))
    plain = receptor.featurize(PDB)
    assert torch.equal(rec.atom_x, plain.atom_x) and torch.equal(rec.atom_pos, plain.atom_pos)
    prep = rec.preparation
    assert prep.hydrogens_removed == prep.deuterium_removed == 60
    assert prep.as_json()["deuterium_removed"] == 60  # before: no such field, D hidden in hydrogens_removed
    assert "60 deuterium atom(s) of the receptor were removed" in " ".join(prep.warnings())
    assert not any(atom.element.atomic_number == 1 for chain in gemmi.read_pdb_string(_complex(rec))[0]
                   for residue in chain for atom in residue)


def test_a_deuterated_ligand_is_docked_as_its_protium_form() -> None:
    deuterated = ligand.featurize("[2H]C([2H])([2H])Oc1ccccc1C(=O)O", seed=1)
    plain = ligand.featurize("COc1ccccc1C(=O)O", seed=1)
    # before: 14 atoms, the three D as graph nodes of element 1 (the model saw heavy atoms only), written to the SDF
    assert deuterated.num_atoms == plain.num_atoms == 11 and deuterated.isotopic_hydrogens == 3
    assert torch.equal(deuterated.x, plain.x)  # the CD3 carbon featurised as a CH3 carbon (3 hydrogens)
    assert torch.equal(deuterated.tor_index, plain.tor_index)
    assert all(atom.GetAtomicNum() > 1 for atom in deuterated.mol.GetAtoms())
    pose = RankedPose(1, 0, 0.0, deuterated.mol.GetConformer().GetPositions())
    back = Chem.MolFromMolBlock(poses_sdf(deuterated.mol, [pose], {}))
    assert back.GetNumAtoms() == 11 and back.GetAtomWithIdx(0).GetTotalNumHs() == 3
    tritiated = ligand.featurize("[3H]Cc1ccccc1", seed=1)
    assert tritiated.num_atoms == 7 and tritiated.isotopic_hydrogens == 1


def test_negative_numbers_insertion_codes_cofactors_metals_and_nmr_pass_as_documented() -> None:
    # what passed already when this was written: kept here so it stays so
    renumbered = [line[:22] + f"{int(line[22:26]) - 10:4d}" + ("A" if int(line[22:26]) == 5 else " ") + line[27:]
                  for line in ATOMS]
    rec = receptor.featurize(_text(renumbered))
    assert rec.num_residues == 30
    assert resolve(rec.structure, parse_pocket("A:-5A,A:-7"), {}).residues_as_docked == ("A:-5A", "A:-7")
    hets = ["HETATM 9001 ZN    ZN A 301       6.000   2.000  -3.000  1.00  0.00          ZN",
            "HETATM 9002 FE   HEM A 302       8.000   2.000  -3.000  1.00  0.00          FE",
            "HETATM 9003  PA  NAD A 303      10.000   2.000  -3.000  1.00  0.00           P"]
    rec = receptor.featurize(_text([*ATOMS, *hets]))
    plain = receptor.featurize(PDB)
    # the reference's receptor is its protein residues: a zinc in the site, a heme, NAD are not seen by the model
    assert torch.equal(rec.atom_x, plain.atom_x) and rec.preparation.other_groups == {"ZN": 1, "HEM": 1, "NAD": 1}
    written = gemmi.read_pdb_string(_complex(rec))
    assert {"ZN", "HEM", "NAD", "LIG"} <= {residue.name for chain in written[0] for residue in chain}
    nmr = receptor.featurize("\n".join(["MODEL        1", *ATOMS, "ENDMDL", "MODEL        2", *ATOMS, "ENDMDL", "END"]))
    assert nmr.preparation.models == 2 and len(gemmi.read_pdb_string(_complex(nmr))) == 1


def test_a_pocket_named_by_a_cofactor_or_ligand_says_it_is_none_and_gives_its_centre() -> None:
    # "dock where the native ligand (or the zinc) sits": its residue id is no protein residue; the 400 says what it
    # is and the centre to give (before: only "not protein residues with a CA atom")
    hets = ["HETATM 9001 ZN    ZN A 301       6.000   2.000  -3.000  1.00  0.00          ZN",
            "HETATM 9002  C1  LIG A 302       8.000   2.000  -3.000  1.00  0.00           C",
            "HETATM 9003  O1  LIG A 302       9.000   3.000  -2.000  1.00  0.00           O"]
    rec = receptor.featurize(_text([*ATOMS, *hets]))
    with pytest.raises(PocketError, match=r"A:301, A:302 are not protein residues with a CA atom in the receptor "
                       r"\(its chains: A, B\)\. A:301 is ZN, a non-protein group \(ligand, cofactor or ion\) that "
                       r"DiffDock does not see; to dock where it sits, give its centre: \{\"center\": \[6\.000, 2\.000, "
                       r"-3\.000\]\}\. A:302 is LIG, .* \{\"center\": \[8\.500, 2\.500, -2\.500\]\}$"):
        resolve(rec.structure, parse_pocket("A:301,A:302"), {})
    with pytest.raises(PocketError, match=r"A:999 are not protein residues .*\(its chains: A, B\)$"):
        resolve(rec.structure, parse_pocket("A:999"), {})
    pocket = resolve(rec.structure, parse_pocket({"center": [8.5, 2.5, -2.5]}), {})
    assert pocket.keep.sum() >= 10


def test_ions_without_element_columns_keep_their_element_in_the_complex_pdb() -> None:
    # GROMACS's ions as atom " NA " of residue NA without element columns: gemmi read nitrogen (the PDB alignment
    # of a one-letter element), chloride as carbon, calcium " CA " as carbon; a one-atom ligand keeps its own element
    ions = ["ATOM   9001  NA   NA   301       6.000   2.000  -3.000  1.00  0.00",
            "ATOM   9002  CL   CL   302       8.000   2.000  -3.000  1.00  0.00",
            "HETATM 9003  CA   CA   303      10.000   2.000  -3.000  1.00  0.00",
            "HETATM 9004  C1  LIG   304      12.000   2.000  -3.000  1.00  0.00",
            "HETATM 9005  O   HOH   305      14.000   2.000  -3.000  1.00  0.00",
            "ATOM   9006 SOD  SOD   306      16.000   2.000  -3.000  1.00  0.00",  # CHARMM: SOD (no element), POT
            "ATOM   9007 POT  POT   307      18.000   2.000  -3.000  1.00  0.00"]  # (was polonium)
    rec = receptor.featurize(_text([*ATOMS, *ions]))
    written = gemmi.read_pdb_string(_complex(rec))
    elements = {residue.name: residue[0].element.name for chain in written[0] for residue in chain
                if residue.seqid.num in (301, 302, 303, 304, 306, 307)}
    assert elements == {"NA": "Na", "CL": "Cl", "CA": "Ca", "LIG": "C", "SOD": "Na", "POT": "K"}
    assert rec.num_residues == 30 and rec.preparation.waters_removed == 1
