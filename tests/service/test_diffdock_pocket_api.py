"""`params.pocket` through the public REST API (in-process job service + gateway on the inference twin):
every bad pocket is a 400 in the seed's error shape before any credit is taken, and an accepted pocket
reaches the model's REQUEST tensor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import InProcessService

pytestmark = pytest.mark.integration

PDB = (Path(__file__).parents[1] / "diffdock" / "data" / "receptor_small.pdb").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(PHONOS_MODELS="diffdock")


def submit(service: InProcessService, pocket: Any) -> tuple[Any, Any]:
    client = service.client(service.new_key(credits=100))
    response = client.post("/v1/predict", json={"model": "diffdock", "sequence": ASPIRIN,
                                                "params": {"protein_pdb": PDB, "random_seed": 1, "pocket": pocket}})
    return client, response


BAD_POCKETS = [
    ({"center": [6.3, 3.5]}, "three numbers"),  # malformed
    ({"center": [6.3, 3.5, -4], "residues": ["A:2"]}, "exactly one of"),  # malformed
    (7, "must be an object, a string or a list"),  # malformed
    ({"center": [6.3, 3.5, -4], "radius": 2}, "radius must be between 3 and 30"),  # radius out of range
    ({"center": [6.3, 3.5, -4], "radius": 300}, "radius must be between 3 and 30"),
    ({"residues": "A:2,A:777"}, "A:777 are not protein residues"),  # residue ids not in the receptor
    ("Q:1", "Q:1 are not protein residues"),
    ({"center": [500, -500, 0], "radius": 10}, "far outside the protein"),  # centre far outside the protein
]


def test_every_bad_pocket_is_400_in_the_seed_shape_and_costs_nothing(service: InProcessService) -> None:
    for pocket, needle in BAD_POCKETS:
        client, response = submit(service, pocket)
        assert response.status_code == 400, (pocket, response.text)
        body = response.json()
        assert set(body) == {"error", "message"}, body
        assert "params.pocket" in body["message"] and needle in body["message"], (pocket, body)
        assert client.balance() == 100
    assert service.inference.calls == []  # nothing reached the model


# What the caller sent comes back in JSON's words (true, "x", 1), not Python's (True, 'x', 1.0): the values
# arrive as google.protobuf.Struct, whose numbers are all doubles.
POCKET_MESSAGES = [
    ([1.0, True, 3.0], 'pocket residue ids must be strings like "A:45", got 1'),
    ({"center": [1.0, True, 3.0]}, "pocket center coordinate must be a finite number (Å), got true"),
    ({"center": [1, 2]}, "pocket center must be a list of three numbers [x, y, z] in Å, got [1, 2]"),
    ({"center": "x"}, 'pocket center must be a list of three numbers [x, y, z] in Å, got "x"'),
    ({"center": [1, 2, 3], "radius": "r"}, 'pocket radius must be a finite number (Å), got "r"'),
    ({"residues": 5}, 'pocket residues must be a list of ids or one comma-separated string, like "A:45,A:48"; '
                      "got 5"),
    ({"residues": ["A:1", "x'y"]}, 'pocket residue ids must look like CHAIN:NUMBER (e.g. "A:45", "B:102A", ":45" '
                                   'for a chain without an id); '
                                   "not understood: \"x'y\""),
    ({"center": [1e308, 1, 1]}, "pocket center coordinates must be between -10000 and 10000 Å (the submitted "
                                "PDB's frame), got 1e+308"),
]


def test_pocket_messages_word_the_values_as_json(service: InProcessService) -> None:
    for pocket, message in POCKET_MESSAGES:
        _, response = submit(service, pocket)
        assert response.status_code == 400, (pocket, response.text)
        assert response.json()["message"] == f"params.pocket: {message}", pocket


def test_an_ambiguous_residue_of_a_relabelled_chain_is_400_at_submission(service: InProcessService) -> None:
    # chain B written as a second chain A after TER: reading relabels it B, so "A:5" could mean either chain
    two_a = "\n".join(line[:21] + "A" + line[22:] if line.startswith("ATOM") and line[21] == "B" else line
                       for line in PDB.splitlines()) + "\n"
    client = service.client(service.new_key(credits=100))
    response = client.post("/v1/predict", json={"model": "diffdock", "sequence": ASPIRIN,
                                                "params": {"protein_pdb": two_a, "pocket": "A:5"}})
    assert response.status_code == 400, response.text
    assert response.json() == {"error": "Invalid request", "message": (
        'params.pocket: pocket residue A:5 is ambiguous: 2 protein chains of the receptor answer to "A" and have a '
        "residue 5; name the one you mean: A#1:5 (the file's first chain A) or B:5 (the file's second chain A, "
        "relabelled B on reading)")}
    assert client.balance() == 100 and service.inference.calls == []
    accepted = client.post("/v1/predict", json={"model": "diffdock", "sequence": ASPIRIN,
                                                "params": {"protein_pdb": two_a, "pocket": "A#2:5"}})
    assert accepted.status_code == 200, accepted.text


def test_an_accepted_pocket_reaches_the_model(service: InProcessService) -> None:
    client, response = submit(service, "A:2, A:3")
    assert response.status_code == 200, response.text
    assert response.json()["credits_used"] == 30
    client.wait_for(response.json()["job_id"])
    request = next(t for t in service.inference.calls[0].inputs if t.name == "REQUEST")
    assert json.loads(request.array[0, 0])["pocket"] == {"residues": ["A:2", "A:3"]}
