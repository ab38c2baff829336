"""Ligands refused at submission that used to fail after it, charged, or with a misleading message.

Found walking the service as a chemist would (`C1#CC1` was accepted, then failed in the model with its
30 credits kept; a pasted SDF was refused as "6233 characters"). The spec's checks are exercised directly and
through the JSON API of an in-process job service (the model is the in-memory twin: none of these reach it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.diffdock import build_spec
from tests.conftest import store_env
from tests.support import InProcessService

pytestmark = pytest.mark.unit

DATA = Path(__file__).parent / "data"
PDB = (DATA / "receptor_small.pdb").read_text()
CYCLOPROPYNE = "C1#CC1"  # parses and sanitises, but no 3D geometry has a triple bond in a 3-ring
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
# An SDF as ChemDraw/RDKit write it: longer than any SMILES, so the length limit used to answer first.
ASPIRIN_SDF = "aspirin\n     RDKit          3D\n\n" + " " * 6000 + "\nM  END\n$$$$\n"


class NoJobs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("no job id in these requests")


def validate(sequence: str, params: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    return asyncio.run(build_spec(env or {}).validate(sequence, params, NoJobs()))


def test_a_ligand_rdkit_cannot_embed_is_a_400_at_submission() -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid ligand: RDKit could not generate 3D coordinates .*a triple "
                                              r"bond in a small ring"):
        validate(CYCLOPROPYNE, {"protein_pdb": PDB, "random_seed": 3})
    with pytest.raises(InvalidArgument, match="could not generate 3D coordinates"):
        validate("", {"protein_pdb": PDB, "ligand_smiles": CYCLOPROPYNE})  # a drawn seed fails the same way


def test_the_check_embeds_with_the_seed_the_job_keeps() -> None:
    job = validate(ASPIRIN, {"protein_pdb": PDB, "random_seed": 11})
    assert job.params["random_seed"] == 11
    drawn = validate(ASPIRIN, {"protein_pdb": PDB})
    assert isinstance(drawn.params["random_seed"], int)  # drawn before the check, stored with the job


def test_a_ligand_slower_than_the_submission_budget_is_left_to_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # RDKit looks at its own timeout only now and then (a 121-atom PEG: 7-15 s against 5 s), so the wait is
    # bounded by the spec itself: a check still running when the budget is spent leaves the ligand undecided.
    import jobservice.modelspecs.diffdock as spec_module

    def slow_check(smiles: str, seed: int, budget_s: float) -> None:
        time.sleep(3)
        raise AssertionError("an undecided check must not decide")

    monkeypatch.setattr(spec_module, "_check_ligand_embeds", slow_check)
    started = time.monotonic()
    job = validate(ASPIRIN, {"protein_pdb": PDB, "random_seed": 1}, {"PHONOS_DIFFDOCK_LIGAND_EMBED_S": "1"})
    assert job.params["ligand_smiles"] == ASPIRIN
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("field", ["sequence", "ligand_smiles"])
def test_a_pasted_sdf_is_named_as_a_file_not_as_too_long(field: str) -> None:
    params: dict[str, Any] = {"protein_pdb": PDB} | ({"ligand_smiles": ASPIRIN_SDF} if field == "ligand_smiles" else {})
    with pytest.raises(InvalidArgument, match="^invalid ligand: looks like a MOL/SDF or MOL2 file"):
        validate(ASPIRIN_SDF if field == "sequence" else "", params)


def test_a_long_text_that_is_no_file_still_meets_the_smiles_limit() -> None:
    with pytest.raises(InvalidArgument, match="^invalid ligand: SMILES is 2001 characters; the limit is 2000"):
        validate("", {"protein_pdb": PDB, "ligand_smiles": "C" * 2001})


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, store: str, request: pytest.FixtureRequest) -> Iterator[InProcessService]:
    running = InProcessService(tmp_path_factory.mktemp("service"), {**store_env(store, request), "PHONOS_MODELS": "diffdock"})
    yield running
    running.stop()


def test_through_the_api_they_are_400s_in_the_seed_shape_and_cost_nothing(service: InProcessService) -> None:
    client = service.client(service.new_key(credits=100))
    protein = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"  # the receptor's sequence where a SMILES or a structure belongs
    for ligand, receptor, words in ((CYCLOPROPYNE, PDB, "could not generate 3D coordinates"),
                                    (ASPIRIN_SDF, PDB, "looks like a MOL/SDF"),
                                    (protein, PDB, "sequence looks like a protein sequence (33 residues), not a SMILES"),
                                    (ASPIRIN, protein, "protein_pdb looks like a protein sequence (33 residues)")):
        response = client.post("/v1/predict", json={"model": "diffdock", "sequence": ligand,
                                                     "params": {"protein_pdb": receptor}})
        assert response.status_code == 400, response.text
        body = response.json()
        assert set(body) == {"error", "message"} and words in body["message"]
    assert client.balance() == 100
    assert client.get("/v1/jobs").json()["jobs"] == []
