"""The job-service spec (validation before credits, tensors) and the result files the model builds."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import gemmi
import numpy as np
import pytest
from phonos_models.common import result_files
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.files import model_result
from phonos_models.esmfold.predict import fold

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.esmfold import build_spec

pytestmark = pytest.mark.integration

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQ"


class NoOutputs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("esmfold reads no other job")


def validate(sequence: str, params: dict[str, Any], env: dict[str, str] | None = None):
    return asyncio.run(build_spec(env or {}).validate(sequence, params, NoOutputs()))


def test_info_matches_the_seed() -> None:
    spec = build_spec({})
    assert (spec.info.id, spec.info.name, spec.info.type, spec.info.cost_credits) == (
        "esmfold", "ESMFold", "structure_prediction", 10,
    )
    assert spec.info.description == "Fast protein structure prediction from Meta AI"
    assert spec.triton_model == "esmfold"
    # the forward pass's compute limit; a relax has its own in the model and never fails the job
    assert spec.timeout_s == 600
    assert build_spec({"PHONOS_ESMFOLD_TIMEOUT_S": "30", "PHONOS_RELAX_TIMEOUT_S": "12.5"}).timeout_s == 30


def test_defaults_are_filled_in() -> None:
    job = validate(" mktay iakq\n", {})
    assert job.sequence == "MKTAYIAKQ"
    assert job.params == {"num_recycles": 4, "chunk_size": 128, "relax": "none"}
    assert validate(SEQUENCE, {"relax": "best"}).params["relax"] == "best"
    assert validate(SEQUENCE, {"relax": "all"}).params["relax"] == "all"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"num_recycles": 0}, "between 1 and 24"),
        ({"num_recycles": 25}, "between 1 and 24"),
        ({"num_recycles": 2.5}, "must be an integer"),
        ({"num_recycles": "4"}, "must be an integer"),
        ({"chunk_size": -1}, "between 0 and 4096"),
        ({"num_recylces": 3}, "Unknown parameter"),
        ({"relax": "amber"}, 'params.relax must be one of all, best, none for ESMFold, got "amber"'),
        ({"relax": True}, "params.relax must be a string"),
    ],
)
def test_bad_params_are_rejected(params: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate(SEQUENCE, params)


def test_length_limit_is_a_setting_and_named_in_the_message() -> None:
    validate("A" * 50, {}, {"PHONOS_ESMFOLD_MAX_LENGTH": "50"})
    with pytest.raises(InvalidArgument, match="at most 50"):
        validate("A" * 51, {}, {"PHONOS_ESMFOLD_MAX_LENGTH": "50"})
    with pytest.raises(InvalidArgument, match="invalid amino-acid letters: B, J"):
        validate("MKBJ", {})


def test_complexes_are_validated_before_credits() -> None:
    job = validate(" mkta : gshm\n", {})
    assert job.sequence == "MKTA:GSHM"
    # 2 × 20 residues + one 25-glycine linker = 65 folded residues
    validate("A" * 20 + ":" + "C" * 20, {}, {"PHONOS_ESMFOLD_MAX_LENGTH": "65"})
    with pytest.raises(InvalidArgument, match=r"folds as 66 residues \(41 in 2 chains plus 1 linker"):
        validate("A" * 21 + ":" + "C" * 20, {}, {"PHONOS_ESMFOLD_MAX_LENGTH": "65"})
    for sequence, message in (("MKT::AAA", "sequence chain 2 is empty"), (":MKT", "sequence chain 1 is empty"),
                              ("MKT:", "sequence chain 2 is empty"), ("A:C:D", "3 chains; ESMFold on this server folds at most 2"),
                              ("mkt:xx", "sequence chain 2 is only X"),
                              (">sp|P69905|HBA_HUMAN\nMVLSPADKTNVKAAWG", "looks like FASTA"),
                              ("MKTUAYB", "invalid amino-acid letters: B, U.*Write B -> D or N; U -> C \\(selenocysteine\\)")):
        with pytest.raises(InvalidArgument, match=message):
            validate(sequence, {}, {"PHONOS_ESMFOLD_MAX_CHAINS": "2"})
    with pytest.raises(ValueError, match="MAX_CHAINS must be between 1 and 26"):
        build_spec({"PHONOS_ESMFOLD_MAX_CHAINS": "27"})


def test_triton_inputs_are_typed_with_batch_dimension() -> None:
    spec = build_spec({})
    job = validate(SEQUENCE, {"num_recycles": 3, "chunk_size": 0})
    tensors = {t.name: t for t in spec.inputs(job)}
    assert tensors["SEQUENCE"].datatype == "BYTES" and tensors["SEQUENCE"].array.shape == (1, 1)
    assert tensors["SEQUENCE"].array[0, 0] == SEQUENCE.encode()
    assert tensors["NUM_RECYCLES"].array.dtype == np.int32 and tensors["NUM_RECYCLES"].array[0, 0] == 3
    assert tensors["CHUNK_SIZE"].datatype == "INT32" and tensors["CHUNK_SIZE"].array[0, 0] == 0
    assert tensors["RELAX"].datatype == "BYTES" and tensors["RELAX"].array[0, 0] == b"none"
    relaxed = validate(SEQUENCE, {"relax": "best"})
    assert {t.name: t for t in spec.inputs(relaxed)}["RELAX"].array[0, 0] == b"best"
    # a job stored before relax existed replays unrelaxed
    stored = validate(SEQUENCE, {})
    del stored.params["relax"]
    assert {t.name: t for t in spec.inputs(stored)}["RELAX"].array[0, 0] == b"none"


def test_the_model_builds_pdb_cif_json_metrics_and_provenance(tiny) -> None:
    (result,) = fold(tiny.model, [FoldJob(SEQUENCE, 2, 128)])
    # Through the tensors of a batched response and back, as the job service receives it.
    decoded = result_files.decode(result_files.encode(model_result(result, tiny.weights, tiny.instance), batched=True))
    assert tuple(f.format for f in decoded.files) == build_spec({}).formats
    assert [f.media_type for f in decoded.files] == ["chemical/x-pdb", "chemical/x-mmcif", "application/json",
                                                     "application/json", "image/png", "image/png", "application/zip"]
    pdb, cif, report = (f.content.decode() for f in decoded.files[:3])
    chain = gemmi.read_pdb_string(pdb)[0][0]
    assert gemmi.one_letter_code([r.name for r in chain]) == SEQUENCE
    cif_chain = gemmi.make_structure_from_block(gemmi.cif.read_string(cif).sole_block())[0][0]
    assert len(cif_chain) == len(SEQUENCE)
    # the PDB column holds 2 decimals, mmCIF the full value
    assert [r[0].b_iso for r in cif_chain] == pytest.approx([r[0].b_iso for r in chain], abs=0.006)
    assert "not a real prediction" in cif
    data = json.loads(report)
    assert len(data["plddt"]) == len(SEQUENCE)
    assert np.array(data["pae"]).shape == (len(SEQUENCE), len(SEQUENCE))
    assert data["ptm"] == pytest.approx(result.ptm, abs=1e-4)
    assert data["weights"]["sha256"] == tiny.weights.sha256 and data["real_weights"] is False
    assert decoded.metrics == {"mean_plddt": round(result.mean_plddt, 2), "ptm": round(result.ptm, 4)}
    assert data["iptm"] is None and data["chains"] == [
        {"id": "A", "length": len(SEQUENCE), "first_index": 0, "mean_plddt": round(result.mean_plddt, 2),
         "mean_plddt_ca": round(result.mean_plddt_ca, 2), "ptm": round(result.ptm, 4)}]
    meta = decoded.metadata
    assert meta["real_weights"] is False and "not a real prediction" in meta["note"]
    assert meta["num_recycles"] == 2 and meta["trunk_passes"] == 3 and meta["chunk_size"] == 128
    assert meta["timings"]["fold_s"] > 0
