"""DiffDock's job-service spec: the 400s before credits, fold-then-dock references, the request's tensors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.base import StructureFile
from jobservice.modelspecs.diffdock import build_spec

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
# The same chains as gemmi writes mmCIF: `ATOM 1 N N . MET ...` (single spaces), no HETATM.
MMCIF = (Path(__file__).parent / "data" / "receptor_small.cif").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
ASPIRIN_OTHER_WRITING = "OC(=O)c1ccccc1OC(C)=O"
JOB_ID = "0b6f7a3e-8c1d-4e59-9a4e-2f1d7c3b5a60"


class Outputs:
    """In-memory `JobOutputs` twin: one completed structure job of this account."""

    account_id: int | None = None  # JobOutputs.account_id: no account

    def __init__(self, jobs: dict[str, bytes]) -> None:
        self.jobs = jobs
        self.asked: list[str] = []

    async def structure_pdb(self, job_id: str) -> StructureFile:
        self.asked.append(job_id)
        if job_id not in self.jobs:
            raise InvalidArgument(f"protein_pdb refers to job {job_id}, which does not exist in this account")
        return StructureFile(self.jobs[job_id], "relaxed_pdb")


def validate(sequence: str, params: dict[str, Any], outputs: Outputs | None = None):
    return asyncio.run(build_spec({}).validate(sequence, params, outputs or Outputs({})))


# ---------------------------------------------------------------------------------------------- spec


def test_info_matches_the_seed() -> None:
    spec = build_spec({})
    assert (spec.info.id, spec.info.name, spec.info.type, spec.info.cost_credits) == (
        "diffdock", "DiffDock", "docking", 30,
    )  # fmt: skip
    assert spec.info.description == "Molecular docking for protein-ligand interactions"
    assert spec.triton_model == "diffdock"


def test_defaults_and_sequence_carrying_the_smiles() -> None:
    job = validate(ASPIRIN, {"protein_pdb": PDB})
    assert job.sequence == ASPIRIN
    p = job.params
    assert (p["inference_steps"], p["samples_per_complex"], p["protein_source"], p["protein_residues"]) == (20, 10, "inline", 30)
    assert isinstance(p["random_seed"], int) and 0 <= p["random_seed"] < 2**32  # drawn once, stored with the job
    assert json.loads(json.dumps(p)) == p  # replayable after a restart


def test_ligand_smiles_param_and_the_same_molecule_twice_are_accepted() -> None:
    job = validate("", {"protein_pdb": PDB, "ligand_smiles": ASPIRIN, "random_seed": 5, "samples_per_complex": 3})
    assert job.params["ligand_smiles"] == ASPIRIN and job.params["random_seed"] == 5
    job = validate(ASPIRIN_OTHER_WRITING, {"protein_pdb": PDB, "ligand_smiles": ASPIRIN})
    assert job.params["ligand_smiles"] == ASPIRIN


@pytest.mark.parametrize(
    ("sequence", "params", "message"),
    [
        ("CCO", {"protein_pdb": PDB, "ligand_smiles": ASPIRIN}, "different molecules"),
        ("C1CC", {"protein_pdb": PDB}, '^invalid ligand: SMILES "C1CC" could not be parsed'),  # JSON's quotes; "ligand" once
        ("CCO.[Na+]", {"protein_pdb": PDB}, "disconnected fragments"),
        ("[Na+]", {"protein_pdb": PDB}, r'^invalid ligand: "\[Na\+\]" is a single heavy atom'),
        ("", {"protein_pdb": PDB}, "needs a ligand"),
        (ASPIRIN, {}, "needs a receptor"),
        (ASPIRIN, {"protein_pdb": "/data/receptor.pdb"}, "paths and URLs are not accepted"),
        (ASPIRIN, {"protein_pdb": MMCIF}, "^params.protein_pdb: protein PDB looks like mmCIF; send the receptor in PDB"),
        (ASPIRIN, {"protein_pdb": "HETATM    1  O   HOH W   1      20.000  20.000  20.000  1.00  0.00           O\n"},
         "no amino-acid residues"),
        (ASPIRIN, {"protein_pdb": PDB, "inference_steps": 9}, "between 10 and 40"),
        (ASPIRIN, {"protein_pdb": PDB, "inference_steps": 41}, "between 10 and 40"),
        (ASPIRIN, {"protein_pdb": PDB, "samples_per_complex": 0}, "between 1 and 40"),
        (ASPIRIN, {"protein_pdb": PDB, "samples_per_complex": 41}, "between 1 and 40"),
        (ASPIRIN, {"protein_pdb": PDB, "samples_per_complex": 2.5}, "integer"),
        (ASPIRIN, {"protein_pdb": PDB, "random_seed": -1}, "random_seed"),
        (ASPIRIN, {"protein_pdb": PDB, "num_poses": 3}, "Unknown parameter"),
    ],
)
def test_bad_submissions_are_400_before_credits(sequence: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate(sequence, params)


def test_protein_from_a_completed_structure_job_of_the_account() -> None:
    outputs = Outputs({JOB_ID: PDB.encode()})
    job = validate(ASPIRIN, {"protein_pdb": JOB_ID.upper()}, outputs)
    assert outputs.asked == [JOB_ID]
    assert job.params["protein_pdb"] == PDB and job.params["protein_source"] == f"job:{JOB_ID}"
    assert job.params["protein_file"] == "relaxed_pdb"  # which of the job's files, said in the docking job's metadata
    with pytest.raises(InvalidArgument, match="does not exist in this account"):
        validate(ASPIRIN, {"protein_pdb": "1b6f7a3e-8c1d-4e59-9a4e-2f1d7c3b5a60"}, outputs)


def test_triton_inputs_are_typed_with_batch_dimension() -> None:
    job = validate(ASPIRIN, {"protein_pdb": PDB, "random_seed": 9, "inference_steps": 12, "samples_per_complex": 2})
    tensors = {t.name: t for t in build_spec({}).inputs(job)}
    assert {t.datatype for t in tensors.values()} == {"BYTES"}
    assert all(t.array.shape == (1, 1) for t in tensors.values())
    assert tensors["PROTEIN_PDB"].array[0, 0] == PDB.encode()
    assert json.loads(tensors["REQUEST"].array[0, 0]) == {"inference_steps": 12, "samples_per_complex": 2, "random_seed": 9}


def test_spec_names_the_esm2_model_as_a_dependency_when_configured() -> None:
    assert build_spec({}).triton_dependencies == ()
    assert build_spec({"PHONOS_DIFFDOCK_ESM_TRITON_MODEL": "esm2"}).triton_dependencies == ("esm2",)


# ---------------------------------------------------------------------------------------------- pocket


def test_pocket_is_stored_normalised_and_forwarded_to_the_model() -> None:
    job = validate(ASPIRIN, {"protein_pdb": PDB, "random_seed": 9, "pocket": "A:2, A:3"})
    assert job.params["pocket"] == {"residues": ["A:2", "A:3"]}
    request = json.loads({t.name: t for t in build_spec({}).inputs(job)}["REQUEST"].array[0, 0])
    assert request["pocket"] == {"residues": ["A:2", "A:3"]}
    job = validate(ASPIRIN, {"protein_pdb": PDB, "pocket": {"center": [6.3, 3.5, -4], "radius": 6}})
    assert job.params["pocket"] == {"center": [6.3, 3.5, -4.0], "radius": 6.0}
    assert "pocket" not in validate(ASPIRIN, {"protein_pdb": PDB}).params  # blind docking: nothing added


@pytest.mark.parametrize(
    ("pocket", "message"),
    [
        ({"center": [0, 0]}, r"params\.pocket: pocket center must be a list of three numbers"),
        ({"center": [6, 3, -4], "radius": 0.5}, r"params\.pocket: pocket radius must be between 3 and 30"),
        ({"center": [6, 3, -4], "radius": 45}, "between 3 and 30"),
        ({"residues": ["A:2", "A:404"]}, r"params\.pocket: pocket residue\(s\) A:404 are not protein residues"),
        ({"center": [150, 150, 150]}, "far outside the protein"),
        ({"where": "A:2"}, "unknown pocket field"),
        ("A2", "CHAIN:NUMBER"),
    ],
)
def test_bad_pockets_are_400_before_credits(pocket: Any, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate(ASPIRIN, {"protein_pdb": PDB, "pocket": pocket})
