"""The job-service spec: every choice is validated before credits (HTTP 400 on error)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from af2_helpers import QUERY, settings_env

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.alphafold2 import NO_TEMPLATE_DB, build_spec

pytestmark = pytest.mark.unit


class NoOutputs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:  # AlphaFold2 never reads other jobs
        raise AssertionError("not used")


def validate(params: dict[str, Any], sequence: str = QUERY, **env: str) -> Any:
    spec = build_spec(settings_env(**env))
    return asyncio.run(spec.validate(sequence, params, NoOutputs()))


def test_info_is_the_seed_entry() -> None:
    info = build_spec({}).info
    assert (info.id, info.name, info.type, info.cost_credits) == ("alphafold2", "AlphaFold2", "structure_prediction", 50)
    assert info.description == "High-accuracy protein structure prediction from DeepMind"


def test_defaults_without_databases_run_single_sequence_without_templates() -> None:
    job = validate({})
    assert job.sequence == QUERY
    assert job.params == {
        "model_preset": "monomer", "msa_mode": "single_sequence", "max_msa_seqs": 512, "use_templates": False,
        "num_recycles": 3, "random_seed": 0, "num_models": 1, "relax": "none", "templates_note": NO_TEMPLATE_DB,
    }
    json.dumps(job.params)  # stored with the job


def test_search_is_the_default_when_databases_are_configured(tmp_path: Path) -> None:
    job = validate({}, PHONOS_ALPHAFOLD2_UNIREF90=str(tmp_path / "uniref90.fasta"))
    assert job.params["msa_mode"] == "search"


def test_a3m_without_msa_mode_means_a3m_mode_and_explicit_false_templates_has_no_note() -> None:
    job = validate({"a3m": f">q\n{QUERY}\n", "use_templates": False, "model_preset": "monomer_ptm"})
    assert job.params["msa_mode"] == "a3m" and job.params["a3m"] == f">q\n{QUERY}\n"
    assert job.params["use_templates"] is False and "templates_note" not in job.params


def test_an_a3m_starting_with_a_byte_order_mark_is_accepted_without_it() -> None:
    # As Windows editors save UTF-8; before: a 400, "params.a3m must start with a FASTA header line ('>name')".
    a3m = f">q\n{QUERY}\n>hit\n{QUERY[:-1]}-\n"
    assert validate({"a3m": "\ufeff" + a3m}).params["a3m"] == a3m
    chains = [f">a\n{QUERY[:20]}\n", f">b\n{QUERY[20:]}\n"]
    job = validate({"a3m": ["\ufeff" + chains[0], "\ufeff" + chains[1]]}, sequence=f"{QUERY[:20]}:{QUERY[20:]}")
    assert job.params["a3m"] == chains


def test_a_complex_defaults_to_the_multimer_preset_with_deepminds_multimer_defaults() -> None:
    job = validate({"relax": "best"}, sequence=f" {QUERY[:20].lower()} : {QUERY[20:]}\n")
    assert job.sequence == f"{QUERY[:20]}:{QUERY[20:]}"
    assert (job.params["model_preset"], job.params["num_recycles"], job.params["max_msa_seqs"]) == ("multimer", 20, 508)
    assert job.params["relax"] == "best"
    two = [f">a\n{QUERY[:20]}\n", f">b\n{QUERY[20:]}\n"]
    job = validate({"a3m": two, "num_recycles": 2, "max_msa_seqs": 64}, sequence=f"{QUERY[:20]}:{QUERY[20:]}")
    assert job.params["msa_mode"] == "a3m" and job.params["a3m"] == two
    assert (job.params["num_recycles"], job.params["max_msa_seqs"]) == (2, 64)
    # One chain may use the multimer models too.
    assert validate({"model_preset": "multimer"}).params["model_preset"] == "multimer"


COMPLEX = f"{QUERY[:20]}:{QUERY[20:]}"


@pytest.mark.parametrize(("sequence", "params", "fragment"), [
    (f"{QUERY[:20]}::{QUERY[20:]}", {}, "sequence chain 2 is empty"),
    (f"{QUERY}:", {}, "sequence chain 2 is empty"),
    (":", {}, "sequence is empty"),
    (":".join(["MKV"] * 27), {}, "sequence has 27 chains; AlphaFold2 on this server folds at most 26"),
    (f"{QUERY}:MKTVRQERLK", {}, "complex has 2 chains and 51 residues in all; AlphaFold2 on this server accepts at most 48"),
    (f"{QUERY[:20]}:MKT1", {}, "sequence chain 2 contains invalid amino-acid letters: 1"),
    # The models' own rules (phonos_models.common), here so the job fails before credits, not in the model:
    ("xxXX", {}, "sequence is only X (unknown residues); give at least one known amino acid per chain"),
    (f"{QUERY[:20]}:XXX", {}, "sequence chain 2 is only X (unknown residues)"),
    (f">sp|P69905|HBA_HUMAN\n{QUERY[:20]}", {}, "sequence looks like FASTA (it starts with '>'): send the residues only"),
    ("MKTUAYB", {}, "sequence contains invalid amino-acid letters: B, U. Use the 20 standard one-letter codes, X for "
                    "unknown, and ':' between the chains of a complex. Write B -> D or N; U -> C (selenocysteine), or X."),
    (f"{QUERY[:20]}:MKOJ", {}, "sequence chain 2 contains invalid amino-acid letters: J, O. Use the 20 standard one-letter codes, X "
                               "for unknown, and ':' between the chains of a complex. Write J -> I or L; O -> K "
                               "(pyrrolysine), or X."),
    (COMPLEX, {"model_preset": "monomer_ptm"}, 'a complex needs model_preset "multimer", not "monomer_ptm"'),
    (COMPLEX, {"a3m": f">q\n{QUERY}\n"}, "params.a3m must be a list with one A3M per chain"),
    (COMPLEX, {"a3m": [f">a\n{QUERY[:20]}\n"]}, "params.a3m has 1 A3Ms for 2 chains"),
    (COMPLEX, {"a3m": [f">a\n{QUERY[:20]}\n", 5]}, "params.a3m must be a list of strings"),
    (COMPLEX, {"a3m": [f">a\n{QUERY[:20]}\n", f">b\n{QUERY[:21]}\n"]}, "sequence chain 2: the first record of params.a3m must be the query"),
    (COMPLEX, {"msa_mode": "a3m"}, "params.a3m (one A3M per chain, each starting with its chain) is required"),
])
def test_bad_complexes_are_400_before_credits(sequence: str, params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate(params, sequence=sequence)
    assert fragment in caught.value.message


@pytest.mark.parametrize(("params", "fragment"), [
    ({"model_preset": "multimer_v2"}, "params.model_preset must be one of"),
    ({"relax": "fast"}, "params.relax must be one of all, best, none"),
    ({"model_preset": 3}, "params.model_preset must be a string"),
    ({"num_models": 6}, "params.num_models must be between 1 and 5"),
    ({"num_models": 0}, "params.num_models must be between 1 and 5"),
    ({"num_recycles": 25}, "params.num_recycles must be between 0 and 24"),
    ({"num_recycles": 1.5}, "params.num_recycles must be an integer"),
    ({"max_msa_seqs": 0}, "params.max_msa_seqs must be between 1 and 10000"),
    ({"random_seed": -1}, "params.random_seed must be between"),
    ({"use_templates": "yes"}, "params.use_templates must be true or false"),
    ({"use_templates": True}, "no template database configured"),
    ({"msa_mode": "colabfold"}, "params.msa_mode must be one of"),
    ({"msa_mode": "search"}, 'msa_mode "search" needs sequence databases'),  # JSON's quotes (before: Python's)
    ({"msa_mode": "a3m"}, 'params.a3m (A3M text whose first record is the query) is required when msa_mode is "a3m"'),
    ({"msa_mode": "single_sequence", "a3m": ">q\nMK\n"}, 'params.a3m is only used with msa_mode "a3m", not "single_sequence"'),
    ({"a3m": "not an alignment"}, "must start with a FASTA header"),
    ({"a3m": ">x\nMKTAYIAK\n"}, "has 8 match columns"),
    ({"a3m": f">x\n{QUERY[::-1]}\n"}, "first record of params.a3m must be the query"),
    ({"num_recylces": 2}, "Unknown parameter(s) for AlphaFold2: num_recylces"),
])
def test_bad_params_are_400_before_credits(params: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate(params)
    assert fragment in caught.value.message


def test_sequence_longer_than_the_last_bucket_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="at most 48"):
        validate({}, sequence="A" * 49)


def test_triton_inputs_carry_the_sequence_and_the_normalised_params() -> None:
    spec = build_spec(settings_env())
    job = validate({"num_recycles": 1})
    tensors = {t.name: t for t in spec.inputs(job)}
    assert set(tensors) == {"SEQUENCE", "REQUEST"}
    assert tensors["SEQUENCE"].datatype == "BYTES" and tensors["SEQUENCE"].array.shape == (1,)
    assert json.loads(tensors["REQUEST"].array[0]) == job.params
    assert spec.formats == ("pdb", "cif", "json", "a3m", "timings", "plddt_plot", "coverage_plot", "zip")
    assert isinstance(tensors["REQUEST"].array, np.ndarray)
