"""A DiffDock `protein_pdb` of ~5 MB of sequence letters (MAX_PDB_BYTES) is named as a sequence without stopping
everyone else's calls. The mistake naming ran a regex over the whole text and counted its letters in a Python loop
on the job service's event loop: ~0.5-1 s during which no call of any user was answered, for a 400 that costs
nothing and can be sent again and again. Now the first 64 kB decide what the text is, and every whole-text scan
runs in the submission-text threads (AlphaFold2's A3M check's)."""

from __future__ import annotations

import random

import pytest
import requests

from tests.support import InProcessService, waits_while

pytestmark = pytest.mark.integration

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
RANDOM = random.Random(0)
LINE = "".join(RANDOM.choice("ACDEFGHIKLMNPQRSTVWY") for _ in range(80))
LINES = 4_999_000 // (len(LINE) + 1)  # just under MAX_PDB_BYTES (5,000,000)
RECEPTOR = "\n".join([LINE] * LINES)
ROUNDS = 3  # sent again and again, as an attacker would: each one held the loop before


@pytest.mark.sqlite_only  # the loop's answers, not the store's
def test_a_5_mb_sequence_as_receptor_is_named_without_stopping_everyone_elses_calls(twin_factory: type) -> None:
    service: InProcessService = twin_factory.start(PHONOS_MODELS="diffdock")
    attacker, bystander = service.client(service.new_key(credits=100)), service.client(service.new_key())
    body = {"model": "diffdock", "sequence": ASPIRIN, "params": {"protein_pdb": RECEPTOR}}
    answers: list[requests.Response] = []

    def send() -> None:
        for _ in range(ROUNDS):
            answers.append(attacker.post("/v1/predict", json=body))

    latencies = waits_while(send, bystander, pause_s=0.01)
    assert [answer.status_code for answer in answers] == [400] * ROUNDS, answers[0].text
    # The message is the one a short sequence gets, with the whole text's residue count.
    assert answers[0].json()["message"] == (
        f"params.protein_pdb looks like a protein sequence ({LINES * len(LINE)} residues), not a structure; DiffDock "
        "docks into a 3D structure: fold the sequence first (an esmfold or alphafold2 job) and pass that job's job_id "
        "as protein_pdb, or send a PDB file's content")
    assert attacker.balance() == 100 and service.inference.calls == []
    # Before: each submission held every call ~0.5-1 s. Now what is left on the loop is the JSON and protobuf of
    # 5 MB (and the GIL a C regex scan in a thread holds): 0.1-0.2 s at most here, against 1.2-2.6 s before.
    assert max(latencies) < 0.5, sorted(latencies)[-5:]
