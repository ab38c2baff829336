"""Result files of one docking run: complex PDB, ranked SDF, JSON summary.

* complex PDB: the receptor as read (first model, no hydrogens or waters) plus the rank-1 ligand pose
  as HETATM residue LIG in its own chain (LG1, ... where the receptor holds a LIG already; a REMARK 250 says
  which), with CONECT records for the ligand bonds (users asked for the complex, DiffDock#99/#249);
* SDF: every pose, best first, each record carrying `rank`, `confidence`, `confidence_band`,
  `sample_index` and `docked_smiles` (the stereo of the pose's coordinates) properties (the reference writes none and hides the confidence in file names), and
  in pocket mode `pocket_distance` / `initial_pocket_distance` (Å, ligand centroid to pocket centre);
* JSON: per-pose confidence, what the numbers mean (the reference README's bands), timings, weights.
The confidence is the confidence model's raw logit, not a probability and not an affinity.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import gemmi
import numpy as np
from rdkit import Chem
from rdkit.Geometry import Point3D

from phonos_models.common.structure import remark_records, title_records

from .receptor import Receptor

# DiffDock README: "c > 0 high confidence, −1.5 < c < 0 moderate confidence, c < −1.5 low confidence".
HIGH_CONFIDENCE = 0.0
LOW_CONFIDENCE = -1.5
CONFIDENCE_MEANING = {
    "scale": "raw logit of DiffDock's confidence model (not a probability, not a binding affinity)",
    "trained_for": "whether the pose is within 2 Å RMSD of the crystal pose",
    "bands": {
        "high": "confidence > 0",
        "moderate": "-1.5 < confidence <= 0",
        "low": "confidence <= -1.5",
    },
    "source": "DiffDock README (gcorso/DiffDock); bands are heuristics, less reliable for large ligands, "
    "large or multi-chain proteins, and apo/predicted structures",
}


POCKET_DISTANCE_MEANING = (
    "pocket_distance: Å from the pose's ligand centroid to the pocket centre; initial_pocket_distance: the "
    "same for the sample's starting pose, which is always within the radius. The diffusion is not "
    "clamped to the pocket, so a pose may end outside it; that is reported, not hidden"
)


def _pocket_fields(pose: RankedPose) -> dict[str, float]:
    if pose.pocket_distance is None or pose.initial_pocket_distance is None:
        return {}
    return {"pocket_distance": round(pose.pocket_distance, 3),
            "initial_pocket_distance": round(pose.initial_pocket_distance, 3)}


# The confidence is reported to 4 decimals (JSON, SDF, metrics); its band is decided on that reported value, so
# the two never contradict CONFIDENCE_MEANING's bounds: a raw -1.49996 read "confidence": -1.5 with band "moderate"
# beside `"low": "confidence <= -1.5"`.
CONFIDENCE_DIGITS = 4


def reported_confidence(value: float) -> float:
    return round(value, CONFIDENCE_DIGITS)


def confidence_band(value: float | None) -> str:
    if value is None:
        return "unknown"
    value = reported_confidence(value)
    if value > HIGH_CONFIDENCE:
        return "high"
    if value > LOW_CONFIDENCE:
        return "moderate"
    return "low"


@dataclass(frozen=True)
class RankedPose:
    rank: int  # 1 = best
    sample_index: int  # position in sampling order (stable per random_seed)
    confidence: float | None  # logit; None when no confidence model ran
    positions: np.ndarray  # [N, 3] float64, Å, in the input PDB's frame
    pocket_distance: float | None = None  # Å, ligand centroid to the pocket centre (pocket mode only)
    initial_pocket_distance: float | None = None  # Å, the same for the sample's initial pose


def with_pocket_distances(poses: Sequence[RankedPose], center: np.ndarray, starts: np.ndarray) -> list[RankedPose]:
    """Each pose with its centroid's distance to the pocket `center` [3] and its start's (`starts`
    [S, 3], by sample index), all in the input PDB's frame (Å)."""
    return [
        replace(
            p,
            pocket_distance=float(np.linalg.norm(p.positions.mean(axis=0) - center)),
            initial_pocket_distance=float(np.linalg.norm(starts[p.sample_index] - center)),
        )
        for p in poses
    ]


def rank_poses(positions: np.ndarray, confidence: Sequence[float] | None, order: Sequence[int]) -> list[RankedPose]:
    """positions [S, N, 3] in the input frame; `order` = sample indices best first."""
    return [
        RankedPose(
            rank=r + 1,
            sample_index=int(i),
            confidence=float(confidence[i]) if confidence is not None else None,
            positions=np.asarray(positions[i], dtype=np.float64),
        )
        for r, i in enumerate(order)
    ]


def _mol_with_positions(mol: Chem.Mol, positions: np.ndarray) -> Chem.Mol:
    out = Chem.Mol(mol)
    conf = out.GetConformer()
    for i, (x, y, z) in enumerate(positions.tolist()):
        conf.SetAtomPosition(i, Point3D(x, y, z))
    return out


def _as_placed(pose: Chem.Mol) -> Chem.Mol:
    """A copy of the pose whose stereo is what its coordinates have (the pose itself keeps the submitted flags)."""
    placed = Chem.Mol(pose)
    Chem.AssignStereochemistryFrom3D(placed)
    return placed


def docked_smiles(pose: Chem.Mol, placed: Chem.Mol | None = None) -> str:
    """Isomeric SMILES of the pose as its coordinates have it: the configuration of each stereocentre and double
    bond that the SMILES left open is decided by the conformer and the sampling, and `canonical_smiles` (the
    molecule as submitted) does not say which. `placed`: `_as_placed(pose)`, when the caller has it already."""
    return Chem.MolToSmiles(Chem.RemoveHs(_as_placed(pose) if placed is None else placed, sanitize=False))


def _double_bonds_as_placed(pose: Chem.Mol, placed: Chem.Mol) -> None:
    """Each double bond whose E/Z the SMILES left open takes the E/Z its coordinates have (`placed`: _as_placed's).
    Left open, RDKit writes it as "either" (bond stereo 3), which tells every reader to ignore the coordinates: each
    pose read back as `CC=CC(=O)O` while its geometry and `docked_smiles` said `C/C=C\\C(=O)O` (a chemist tester's
    find). Stereocentres need no such step: a molfile's readers take them from the coordinates."""
    for bond, as_placed in zip(pose.GetBonds(), placed.GetBonds(), strict=True):
        if (bond.GetBondType() == Chem.BondType.DOUBLE and bond.GetStereo() in _OPEN_BOND_STEREO
                and as_placed.GetStereo() not in _OPEN_BOND_STEREO):
            bond.SetStereoAtoms(*as_placed.GetStereoAtoms())
            bond.SetStereo(as_placed.GetStereo())


_OPEN_BOND_STEREO = frozenset({Chem.BondStereo.STEREONONE, Chem.BondStereo.STEREOANY})


def poses_sdf(mol: Chem.Mol, poses: Sequence[RankedPose], provenance: Mapping[str, str],
              ligand_smiles: str | None = None) -> str:
    """All poses, ranked, with rank/confidence SD properties (parseable by RDKit and OpenBabel). Each record
    also names its ligand: the SMILES as submitted and RDKit's canonical one of the docked molecule, because
    poses from several jobs merged into one file (a screening run) said only "rank1" before."""
    buffer = io.StringIO()
    writer = Chem.SDWriter(buffer)
    canonical = Chem.MolToSmiles(Chem.RemoveHs(mol, sanitize=False))
    for pose in poses:
        m = _mol_with_positions(mol, pose.positions)
        m.SetProp("_Name", f"rank{pose.rank}")  # DiffDock's own name for a pose (its rank1.sdf ...)
        if ligand_smiles is not None:
            m.SetProp("ligand_smiles", ligand_smiles)
        m.SetProp("canonical_smiles", canonical)
        placed = _as_placed(m)  # once a pose: its SMILES and its double bonds' E/Z
        m.SetProp("docked_smiles", docked_smiles(m, placed))
        _double_bonds_as_placed(m, placed)
        m.SetIntProp("rank", pose.rank)
        m.SetIntProp("sample_index", pose.sample_index)
        if pose.confidence is not None:
            m.SetProp("confidence", f"{reported_confidence(pose.confidence):.{CONFIDENCE_DIGITS}f}")
        m.SetProp("confidence_band", confidence_band(pose.confidence))
        if pose.pocket_distance is not None and pose.initial_pocket_distance is not None:
            m.SetProp("pocket_distance", f"{pose.pocket_distance:.3f}")
            m.SetProp("initial_pocket_distance", f"{pose.initial_pocket_distance:.3f}")
        for key, value in provenance.items():
            m.SetProp(key, value)
        writer.write(m)
    writer.close()
    return buffer.getvalue()


LIGAND_RESIDUE_NAME = "LIG"
# When the receptor holds a LIG of its own (a co-crystallised ligand, or an earlier docking's complex used again):
# the first of these it does not use, so that the pose is the one residue of its name (`resn LG1` in PyMOL).
_OTHER_LIGAND_NAMES = tuple(f"LG{c}" for c in "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class LigandResidue:
    """Where the complex PDB puts the rank-1 pose: residue `name`, chain `chain`, number 1."""

    name: str
    chain: str
    number: int = 1
    renamed_from_lig: bool = False  # the receptor has a LIG already

    def as_json(self) -> dict[str, Any]:
        return {"residue_name": self.name, "chain": self.chain, "residue_number": self.number}

    def remark(self) -> str:
        said = f"rank-1 ligand pose: HETATM residue {self.name}, chain {self.chain}, number {self.number}"
        return said + (f" (the receptor has a residue named {LIGAND_RESIDUE_NAME} already)"
                       if self.renamed_from_lig else "")


def ligand_residue(rec: Receptor) -> LigandResidue:
    """The complex PDB's residue for the pose: LIG in a chain the receptor does not use; a name of its own where the
    receptor holds a LIG already (it is kept in the complex, and `resn LIG` found two ligands, the old one first)."""
    structure = rec.structure
    used = {residue.name for chain in structure[0] for residue in chain}
    chain = _free_chain_id(structure)
    if LIGAND_RESIDUE_NAME not in used:
        return LigandResidue(LIGAND_RESIDUE_NAME, chain)
    name = next((n for n in _OTHER_LIGAND_NAMES if n not in used), "LGZ")
    return LigandResidue(name, chain, renamed_from_lig=True)


def _free_chain_id(structure: gemmi.Structure) -> str:
    used = {chain.name for chain in structure[0]}
    for candidate in "LXYZ" + "ABCDEFGHIJKMNOPQRSTUVW" + "0123456789":
        if candidate not in used:
            return candidate
    return "L"


def _ligand_atom_names(mol: Chem.Mol) -> list[str]:
    counts: dict[str, int] = {}
    names = []
    for atom in mol.GetAtoms():
        symbol = atom.GetSymbol().upper()
        counts[symbol] = counts.get(symbol, 0) + 1
        names.append(f"{symbol}{counts[symbol]}"[:4])
    return names


def _pdb_atom_name(name: str, element: str) -> str:
    """Columns 13-16: a one-letter element's name starts in column 14 (" C1 "), a two-letter one's in 13
    ("CL1 "), as the PDB format (and RDKit, gemmi) write them; readers take the element from there."""
    return f" {name:<3s}" if len(element) == 1 and len(name) < 4 else f"{name:<4s}"


def _pdb_charge(charge: int) -> str:
    """Columns 79-80: the formal charge as "1+" / "2-", blank when neutral."""
    return f"{abs(charge)}{'+' if charge > 0 else '-'}" if charge else "  "


def complex_pdb(rec: Receptor, mol: Chem.Mol, pose: RankedPose, remarks: Sequence[str],
                title: str | None = None, residue: LigandResidue | None = None) -> str:
    """Receptor + the given ligand pose (HETATM LIG, or ligand_residue's name) + CONECT for the ligand bonds;
    `title` (the model and its weights) becomes the TITLE records, each remark REMARK 250 records, and one more
    says where the pose is. `residue`: ligand_residue(rec), when the caller has it already (for the metadata)."""
    residue = ligand_residue(rec) if residue is None else residue
    remarks = [*remarks, residue.remark()]
    structure = rec.structure.clone()
    structure.setup_entities()
    receptor_text = structure.make_pdb_string(gemmi.PdbWriteOptions(minimal=True))
    # Wrapped, not cut: each remark was cut at 68 characters, which left the confidence weights' line with 4 of
    # their 16 sha256 characters ("sha256:0583") and would drop any longer remark's end.
    header = [*([] if title is None else title_records(title)), *remark_records(remarks)]
    lines = [record.rstrip("\n") for record in header]
    last_serial = 0
    for line in receptor_text.splitlines():
        if line.startswith(("END", "MASTER")):
            continue
        if line.startswith(("ATOM", "HETATM")):
            last_serial = max(last_serial, int(line[6:11]))
        if line.startswith("TER") and len(line) >= 11 and line[6:11].strip().isdigit():
            last_serial = max(last_serial, int(line[6:11]))
        lines.append(line)
    chain, resname = residue.chain, residue.name
    names = _ligand_atom_names(mol)
    first = last_serial + 1
    for i, atom in enumerate(mol.GetAtoms()):
        x, y, z = pose.positions[i]
        element = atom.GetSymbol().upper()
        lines.append(
            f"HETATM{first + i:5d} {_pdb_atom_name(names[i], element)} {resname} {chain}   1    {x:8.3f}{y:8.3f}{z:8.3f}"
            f"  1.00  0.00          {element:>2s}{_pdb_charge(atom.GetFormalCharge())}"
        )
    lines.append(f"TER   {first + mol.GetNumAtoms():5d}      {resname} {chain}   1".ljust(80))
    for atom in mol.GetAtoms():
        partners = sorted(first + n.GetIdx() for n in atom.GetNeighbors())
        for chunk in range(0, len(partners), 4):
            cols = "".join(f"{p:5d}" for p in partners[chunk : chunk + 4])
            lines.append(f"CONECT{first + atom.GetIdx():5d}{cols}")
    lines.append("END")
    return "\n".join(lines) + "\n"


def summary_json(
    poses: Sequence[RankedPose],
    *,
    timings_s: Mapping[str, float],
    weights: Mapping[str, Any],
    real_prediction: bool,
    note: str | None,
    ligand: Mapping[str, Any],
    receptor: Mapping[str, Any],
    sampling: Mapping[str, Any],
    pocket: Mapping[str, Any] | None = None,
) -> str:
    body: dict[str, Any] = {
        "model": "diffdock",
        "real_prediction": real_prediction,
        "poses": [
            {
                "rank": p.rank,
                "sample_index": p.sample_index,
                "confidence": None if p.confidence is None else reported_confidence(p.confidence),
                "confidence_band": confidence_band(p.confidence),
            } | _pocket_fields(p)
            for p in poses
        ],
        "confidence_meaning": CONFIDENCE_MEANING,
        "ligand": dict(ligand),
        "receptor": dict(receptor),
        "sampling": dict(sampling),
        "timings_s": {k: round(v, 4) for k, v in timings_s.items()},
        "weights": dict(weights),
    }
    if pocket is not None:
        body["pocket"] = dict(pocket) | {"distance_meaning": POCKET_DISTANCE_MEANING}
    if note:
        body["note"] = note
    return json.dumps(body, indent=2, sort_keys=False)
