"""Sequences as people paste them into an AlphaFold2 job, checked before credits (the job service's spec, whose
letter and FASTA rules are the model's own, `phonos_models.common.letters`): case and whitespace are ignored, a
FASTA file (one record or one per chain of a complex) is a 400 that says how to write it, U/O/B/Z/J are a 400
naming their usual replacement, X is folded as unknown, and short chains (peptides, down to one residue) are
accepted as documented."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from af2_helpers import QUERY, settings_env
from phonos_models.alphafold2.request import Request, RequestError

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.alphafold2 import build_spec

pytestmark = pytest.mark.unit

CHAIN_A, CHAIN_B = QUERY[:20], QUERY[20:]


class NoOutputs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:  # AlphaFold2 never reads other jobs
        raise AssertionError("not used")


def validate(sequence: str, params: dict[str, Any] | None = None) -> Any:
    return asyncio.run(build_spec(settings_env()).validate(sequence, params or {}, NoOutputs()))


@pytest.mark.parametrize(("typed", "folded", "preset"), [
    (CHAIN_A.lower(), CHAIN_A, "monomer"),
    (f"  {CHAIN_A[:7]} {CHAIN_A[7:14]}\n{CHAIN_A[14:]}\t\r\n", CHAIN_A, "monomer"),  # wrapped, CRLF, tabs
    (f"{CHAIN_A.lower()} :\n {CHAIN_B}", f"{CHAIN_A}:{CHAIN_B}", "multimer"),  # a complex defaults to multimer
    ("MKTVR", "MKTVR", "monomer"),  # a peptide: no minimum length (DeepMind's and ColabFold's pipelines have none)
    ("G", "G", "monomer"),
    ("MKTXVR", "MKTXVR", "monomer"),  # X: AlphaFold2's unknown residue type (no atoms in the files; documented)
])
def test_case_and_whitespace_are_ignored_and_short_chains_fold(typed: str, folded: str, preset: str) -> None:
    job = validate(typed)
    assert job.sequence == folded and job.params["model_preset"] == preset


@pytest.mark.parametrize("letter", ["U", "O", "B", "Z", "J"])
def test_iupac_letters_without_a_residue_type_are_400_naming_their_replacement(letter: str) -> None:
    replacement = {"U": "C (selenocysteine)", "O": "K (pyrrolysine)", "B": "D or N", "Z": "E or Q", "J": "I or L"}
    with pytest.raises(InvalidArgument, match=rf"invalid amino-acid letters: {letter}\. .* Write {letter} -> "
                                              rf"{replacement[letter].replace('(', '[(]').replace(')', '[)]')}, or X"):
        validate(f"MKT{letter.lower()}VR")
    with pytest.raises(RequestError, match=f"invalid amino-acid letters: {letter}"):  # the model's own check agrees
        Request.from_json(f"MKT{letter}VR", "{}")


def test_a_fasta_file_of_several_records_is_400_saying_how_to_write_a_complex() -> None:
    fasta = f">1ABC_1|Chain A\n{CHAIN_A}\n>1ABC_2|Chain B\n{CHAIN_B}\n"
    expected = ("sequence looks like FASTA: it has 2 header lines starting with '>' (\">1ABC_1|Chain A\", "
                "\">1ABC_2|Chain B\"); send the residues only, without header lines, and for a complex write its "
                "chains in one sequence with ':' between them, in the order of the records (e.g. MKTAYIAKQR:GSHMASEPEP)")
    with pytest.raises(InvalidArgument) as caught:
        validate(fasta)
    # before: "send the residues only, without the header line", and with the first header removed the second was
    # refused as the letters '>' and its record name ("Write B -> D or N" for a record named B)
    assert caught.value.message == expected
    with pytest.raises(InvalidArgument) as caught:
        validate(fasta.split("\n", 1)[1])
    assert caught.value.message.startswith("sequence looks like FASTA: it has 1 header line starting with '>' "
                                           "(\">1ABC_2|Chain B\")")
    with pytest.raises(RequestError, match="looks like FASTA: it has 2 header lines"):
        Request.from_json(fasta, "{}")  # Triton called directly: the model says the same
    with pytest.raises(InvalidArgument, match=r"^sequence looks like FASTA \(it starts with '>'\): send the residues "
                                              r"only, without the header line$"):
        validate(f">sp|P69905|HBA_HUMAN\n{CHAIN_A}\n")  # one record: the message as before


def test_a_direct_triton_request_normalises_the_sequence_as_the_job_service_does() -> None:
    # before: whitespace inside was refused as "U+0020 SPACE" (only the ends were stripped)
    assert Request.from_json(f" {CHAIN_A[:10].lower()}\n{CHAIN_A[10:]} ", "{}").sequence == CHAIN_A
