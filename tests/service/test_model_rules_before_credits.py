"""What a model would refuse, the API refuses first: a 400 in the seed's shape with the model's own message,
before any credit is taken (a job that fails inside the model as "invalid_input" is charged; jobservice/failures.py).

The rules live once, in the science package (phonos_models.common.letters / .unknown, the DiffDock receptor
reader); the job service calls them. These run through the public REST API of an in-process job service on
the inference twin, over SQLite.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from phonos.v1 import phonos_pb2 as pb
from tests.support import InProcessService

pytestmark = pytest.mark.integration

DATA = Path(__file__).parents[1] / "diffdock" / "data"
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
LETTER_ADVICE = "Use the 20 standard one-letter codes, X for unknown, and ':' between the chains of a complex."

# The same words from both structure models: one rule, one message. (The models' own check in triton_models still
# upper-cases every letter first: a direct Triton request names ａ as Ａ.)
REFUSED_SEQUENCES: list[tuple[str, str | None]] = [
    ("XXXX", "sequence is only X (unknown residues); give at least one known amino acid per chain"),
    ("MKTAYIAK:xxxx", "sequence chain 2 is only X (unknown residues); give at least one known amino acid per chain"),
    # a complex's chains are named by their position as typed (before: "chain 2 of the sequence" here, "empty
    # chain (B)" from ESMFold, "chain B" for X-only chains)
    ("MKTAYIAK::MKT", "sequence chain 2 is empty: put exactly one ':' between two chains, none at either end"),
    ("MKTAYIAK:MKOJ", f"sequence chain 2 contains invalid amino-acid letters: J, O. {LETTER_ADVICE} "
                      "Write J -> I or L; O -> K (pyrrolysine), or X."),
    (">sp|P69905|HBA_HUMAN\nMVLSPADKTNVKAAWG",
     "sequence looks like FASTA (it starts with '>'): send the residues only, without the header line"),
    # characters of the formats a sequence is pasted from are named (before: only "invalid amino-acid letters")
    ("MKTAYIAK*", f"sequence contains invalid amino-acid letters: *. {LETTER_ADVICE} Found '*' (a stop codon: remove it)."),
    ("1 mktayiakqr 11 qisfvk", f"sequence contains invalid amino-acid letters: 1. {LETTER_ADVICE} "
                               "Found digits (position numbers of a GenBank/EMBL listing: remove them)."),
    ("MKTUAYB", f"sequence contains invalid amino-acid letters: B, U. {LETTER_ADVICE} "
                "Write B -> D or N; U -> C (selenocysteine), or X."),
    # invisible and look-alike characters from a web page or a word processor are named (before: echoed as they
    # are, a message naming an invisible character, or a full-width A that reads as the letter A)
    ("MKTA\u200bYIAK", f"sequence contains invalid amino-acid letters: U+200B ZERO WIDTH SPACE. {LETTER_ADVICE}"),
    # named as sent (before: upper-cased first, the small ａ named as "U+FF21 FULLWIDTH LATIN CAPITAL LETTER A")
    ("MKT\uff41Y*", f"sequence contains invalid amino-acid letters: *, U+FF41 FULLWIDTH LATIN SMALL LETTER A. "
                    f"{LETTER_ADVICE} Found '*' (a stop codon: remove it)."),
    # characters upper case maps onto amino acids (before: folded and charged as MKSSTV, qa)
    ("MK\u00dfTV", f"sequence contains invalid amino-acid letters: U+00DF LATIN SMALL LETTER SHARP S. {LETTER_ADVICE}"),
    ("MKTAYIAK:MK\ufb01TV", "sequence chain 2 contains invalid amino-acid letters: U+FB01 LATIN SMALL LIGATURE FI. "
                            f"{LETTER_ADVICE}"),
    # a pasted gene (before: folded as a "protein" of Ala, Cys, Gly and Thr, without a word) or RNA (before: "U -> C
    # (selenocysteine)")
    ("atgaaaacagcgtatattgcgaaacagcgt", "sequence looks like a DNA sequence (only the letters A, C, G, T and N): this "
                                       "model folds proteins; translate the coding sequence to amino acids first "
                                       "(e.g. Biopython's Seq(text).translate())"),
    ("MKTAYIAK:AUGAAAACAGCGUAUAUUGCG", "sequence chain 2 looks like an RNA sequence (only the letters A, C, G, U and "
                                       "N): this model folds proteins; translate the coding sequence to amino acids "
                                       "first (e.g. Biopython's Seq(text).translate())"),
    ("GAGAGAGAGAGAGAGAGAGAGAGAGTA", None),  # a silk-like repeat is a protein
]


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(PHONOS_MODELS="esmfold,alphafold2,diffdock")


def refused(service: InProcessService, body: dict) -> dict:
    """The 400 body of `body` submitted by a fresh account of 100 credits, checked to have cost nothing."""
    client = service.client(service.new_key(credits=100))
    response = client.post("/v1/predict", json=body)
    assert response.status_code == 400, (body, response.text)
    assert client.balance() == 100
    assert client.get("/v1/jobs").json()["pagination"]["total"] == 0
    return dict(response.json())


@pytest.mark.parametrize("model", ["alphafold2", "esmfold"])
def test_sequences_the_models_refuse_are_400_with_their_message_and_cost_nothing(service: InProcessService,
                                                                                 model: str) -> None:
    for sequence, message in REFUSED_SEQUENCES:
        if message is None:
            continue  # accepted: test_protein_look_alikes_are_accepted
        body = refused(service, {"model": model, "sequence": sequence})
        assert body == {"error": "Invalid request", "message": message}, (model, sequence)
    assert service.inference.calls == []  # nothing reached the model


@pytest.mark.parametrize("model", ["alphafold2", "esmfold"])
def test_protein_look_alikes_are_accepted(service: InProcessService, model: str) -> None:
    client = service.client(service.new_key(credits=100))
    for sequence in (s for s, message in REFUSED_SEQUENCES if message is None):
        assert client.post("/v1/predict", json={"model": model, "sequence": sequence}).status_code == 200, sequence


def test_an_mmcif_receptor_is_named_as_mmcif_and_costs_nothing(service: InProcessService) -> None:
    # As gemmi writes mmCIF: `ATOM 1 N N . MET ...` (single spaces), no HETATM: no PDB record, and no path either.
    mmcif = (DATA / "receptor_small.cif").read_text()
    body = refused(service, {"model": "diffdock", "sequence": ASPIRIN, "params": {"protein_pdb": mmcif}})
    assert body == {"error": "Invalid request", "message": "params.protein_pdb: protein PDB looks like mmCIF; send the "
                    "receptor in PDB format (e.g. `gemmi convert receptor.cif receptor.pdb`)"}
    assert service.inference.calls == []


def _residues(count: int) -> str:
    """The first `count` residues of chain A of the test receptor (every atom of each)."""
    lines = [line for line in (DATA / "receptor_small.pdb").read_text().splitlines()
             if line.startswith("ATOM") and line[21] == "A" and int(line[22:26]) <= count]
    return "\n".join(lines) + "\nEND\n"


def test_a_receptor_of_a_few_residues_is_refused_over_rest_and_grpc_and_costs_nothing(
        service: InProcessService) -> None:
    """Before: a 1-residue "receptor" was accepted and docked (a graph without edges, poses that mean nothing)."""
    message = ("params.protein_pdb: protein has 1 amino-acid residue with a CA atom (chain \"A\": 1); DiffDock needs "
               "a protein receptor of at least 10 (a peptide or a fragment has no pocket to dock into)")
    body = refused(service, {"model": "diffdock", "sequence": ASPIRIN, "params": {"protein_pdb": _residues(1)}})
    assert body == {"error": "Invalid request", "message": message}
    body = refused(service, {"model": "diffdock", "sequence": ASPIRIN, "params": {"protein_pdb": _residues(9)}})
    assert body["message"].startswith("params.protein_pdb: protein has 9 amino-acid residues with a CA atom")
    key = service.new_key(credits=100)
    request = pb.PredictRequest(model="diffdock", sequence=ASPIRIN)
    request.params.update({"protein_pdb": _residues(1)})
    channel, stub = service.grpc_stub()
    with channel, pytest.raises(grpc.RpcError) as over_grpc:
        stub.Predict(request, metadata=(("authorization", f"Bearer {key}"),), timeout=30)
    assert over_grpc.value.code() == grpc.StatusCode.INVALID_ARGUMENT and over_grpc.value.details() == message
    assert service.inference.calls == []
    client = service.client(key)
    ten = client.post("/v1/predict", json={"model": "diffdock", "sequence": ASPIRIN,
                                           "params": {"protein_pdb": _residues(10)}})
    assert ten.status_code == 200, ten.text
