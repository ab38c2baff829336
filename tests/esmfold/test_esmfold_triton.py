"""The ESMFold model through a real tritonserver (tiny weights), called as the job service calls it."""

from __future__ import annotations

import asyncio
import io
import json
import time
import zipfile

import gemmi
import numpy as np
import pytest
from phonos_models.common import result_files
from phonos_models.common.plots import PAE_SIZE
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.predict import fold

from jobservice.inference import InferenceRequest, InvalidModelInput, Tensor
from jobservice.modelspecs.esmfold import build_spec
from jobservice.triton_inference import TritonInference
from launcher.triton import SEM_PREFIX, SHM_DIR
from tests.bundle_checks import png_size
from tests.support import (
    TritonFixture,
    cancel_after,
    infer_concurrently,
    infer_through_the_port,
    reaped,
    single_instance,
)

pytestmark = pytest.mark.e2e

SEQUENCES = ["MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQ", "MKTAYIAKQRQISFVKSHFSRQ", "GSHMASMTGGQQMG", "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"]


@pytest.fixture(scope="module")
def triton(shared_triton):
    """The session's tritonserver (tests/conftest.py): tiny ESMFold, default settings."""
    return shared_triton


def inputs_for(sequence: str, num_recycles: int = 1, chunk_size: int = 0, relax: str = "none") -> tuple[Tensor, ...]:
    """Raw request tensors, as any Triton client sends them (not validated by the job service)."""
    return (
        Tensor("SEQUENCE", np.array([[sequence.encode()]], dtype=object), "BYTES"),
        Tensor("NUM_RECYCLES", np.array([[num_recycles]], dtype=np.int32), "INT32"),
        Tensor("CHUNK_SIZE", np.array([[chunk_size]], dtype=np.int32), "INT32"),
        Tensor("RELAX", np.array([[relax.encode()]], dtype=object), "BYTES"),
    )


def scores(result: result_files.ModelResult) -> dict:
    """The json file of a result: pLDDT and PAE rounded to 0.01, pTM to 1e-4."""
    return json.loads(next(f.content for f in result.files if f.format == "json"))


def send_concurrently(triton, requests: list[tuple[Tensor, ...]]) -> list:
    """Fire all requests at once so the dynamic batcher can group them; results (or typed errors) in order."""
    return infer_concurrently(triton.grpc_url, "esmfold", requests, timeout_s=60)


def test_one_request_through_the_port_as_the_job_service_sends_it(triton, tiny) -> None:
    spec = build_spec({})

    class NoOutputs:
        account_id: int | None = None  # JobOutputs.account_id: no account

        async def structure_pdb(self, job_id: str) -> bytes:
            raise AssertionError

    sequence = SEQUENCES[0]

    async def run() -> result_files.ModelResult:
        job = await spec.validate(sequence, {"num_recycles": 2, "chunk_size": 16}, NoOutputs())
        inference = TritonInference(triton.grpc_url)
        try:
            return await inference.infer(InferenceRequest("esmfold", spec.inputs(job), 60.0, "one"))
        finally:
            await inference.close()

    result = asyncio.run(run())
    assert tuple(f.format for f in result.files) == spec.formats
    chain = gemmi.read_pdb_string(result.files[0].content.decode())[0][0]
    assert gemmi.one_letter_code([r.name for r in chain]) == sequence
    b_factors = np.array([r.find_atom("CA", "*").b_iso for r in chain])
    assert b_factors.max() > 1.0 and b_factors.max() <= 100.0  # 0-100 scale
    report = json.loads(result.files[2].content)
    assert np.array(report["pae"]).shape == (len(sequence), len(sequence))
    assert result.metadata["trunk_passes"] == 3 and result.metadata["chunk_size"] == 16
    # the served model is the in-process tiny model: same weights, same numbers
    assert result.metadata["weights"]["sha256"] == tiny.weights.sha256
    (local,) = fold(tiny.model, [FoldJob(sequence, 2, 16)])
    np.testing.assert_allclose(report["plddt"], local.plddt, atol=0.006)
    assert result.metrics["ptm"] == pytest.approx(local.ptm, abs=2e-4)


def test_progress_reports_every_trunk_pass_before_the_result(triton) -> None:
    heard: list = []
    result = infer_through_the_port(triton.grpc_url, "esmfold", inputs_for(SEQUENCES[2], num_recycles=3), 60.0,
                                    progress=heard)
    # `step` counts the passes done as each one starts (a bar's fill: 0 while the first runs); the message names it
    assert [(p.stage, p.step, p.total) for p in heard] == [("recycle", i, 4) for i in range(4)]
    assert heard[1].message == "trunk pass 2 of 4 (recycle 1 of 3)"
    assert result.metadata["trunk_passes"] == 4  # and still exactly one result


def test_a_complex_amber_relaxed_through_the_public_api(triton, service_factory) -> None:
    """The one real relax of the suite: a small two-chain fold (tiny weights: badly clashing, ~10 s)."""
    service = service_factory.start(triton.grpc_url, PHONOS_MODELS="esmfold")
    client = service.client(service.new_key(credits=100))
    submitted = client.predict("MKTAYIAKQR:GSHMAS", params={"num_recycles": 1, "relax": "best"})
    assert submitted.status_code == 200, submitted.text
    job = client.wait_for(submitted.json()["job_id"], timeout_s=240)
    assert job["status"] == "completed", job
    formats = ["pdb", "cif", "json", "pae", "relaxed_pdb", "relaxed_cif", "plddt_plot", "pae_plot", "zip"]
    assert job["formats"] == formats  # the names AlphaFold2 and the dashboard's job page use
    metrics, relax = job["metrics"], job["metadata"]["relax"]
    assert metrics["clashes_relaxed"] < metrics["clashes_unrelaxed"] and metrics["relax_rmsd"] > 0
    assert relax["mode"] == "best" and relax["status"] == "completed" and relax["relaxed"] == ["esmfold"]
    assert relax["platform"] == "CPU" and relax["openmm"] and job["metadata"]["timings"]["relax"] > 0
    # Through the job service: the software that produced the result (OpenMM's too: it relaxed), the instance's
    # one-time load beside the job's own timings, not among them.
    software = job["metadata"]["software"]
    assert {"phonos", "python", "torch", "transformers", "numpy"} <= set(software) and software["openmm"] == relax["openmm"]
    assert job["metadata"]["model_instance"]["load_s"] > 0 and "model_load_s" not in job["metadata"]["timings"]
    # The tiny weights' fold may keep violations through the relax: then (and only then) a warning says so.
    assert metrics["violations_relaxed"] <= metrics["violations_unrelaxed"]
    expected = [] if metrics["violations_relaxed"] == 0 else [
        f"esmfold: {metrics['violations_relaxed']} of 16 residues"]
    warnings = job["metadata"].get("warnings", [])
    assert len(warnings) == len(expected) and all(e in w for e, w in zip(expected, warnings, strict=True)), warnings

    def download(fmt: str) -> bytes:
        response = client.get(job["download_url"], params={"format": fmt})
        assert response.status_code == 200, (fmt, response.text[:300])
        return response.content

    files = {fmt: download(fmt) for fmt in formats}
    relaxed_pdb, relaxed_cif = files["relaxed_pdb"].decode(), files["relaxed_cif"].decode()
    relaxed = gemmi.read_pdb_string(relaxed_pdb)
    assert [(c.name, gemmi.one_letter_code([r.name for r in c]).upper()) for c in relaxed[0]] == [
        ("A", "MKTAYIAKQR"), ("B", "GSHMAS")]
    assert any(atom.element.name == "H" for residue in relaxed[0]["A"] for atom in residue)
    unrelaxed = gemmi.read_pdb_string(files["pdb"].decode())  # the unrelaxed structure is still there
    assert not any(atom.element.name == "H" for residue in unrelaxed[0]["A"] for atom in residue)
    assert "REMARK 250 NOT A REAL PREDICTION" in relaxed_pdb and "Amber-relaxed" in relaxed_pdb
    cif = gemmi.cif.read_string(relaxed_cif).sole_block()
    assert sorted(set(cif.find_loop("_atom_site.auth_asym_id"))) == ["A", "B"]
    assert "Amber-relaxed" in " ".join(cif.find_loop("_phonos_provenance.value"))
    scores = json.loads(files["json"])
    assert scores["relax"]["models"]["esmfold"]["clashes_relaxed"] == metrics["clashes_relaxed"]
    assert scores["relax"]["models"]["esmfold"]["rmsd_to_unrelaxed"] == metrics["relax_rmsd"]
    with zipfile.ZipFile(io.BytesIO(files["zip"])) as archive:  # the relaxed files are in the bundle too
        assert archive.read("esmfold.relaxed.pdb") == files["relaxed_pdb"]
        assert archive.read("esmfold.relaxed.cif") == files["relaxed_cif"]
        assert "| Amber relax | completed" in archive.read("README.md").decode()


def test_a_relax_past_its_time_limit_completes_unrelaxed_through_the_public_api(tmp_path, service_factory) -> None:
    """PHONOS_RELAX_TIMEOUT_S from the server's environment: a tiny-weight complex relaxes for ~10 s, the
    limit is 0.5 s. The job completes (no refund) with every unrelaxed file, and says why nothing is relaxed."""
    limit = {"PHONOS_RELAX_TIMEOUT_S": "0.5"}
    single_instance(tmp_path / "models", "esmfold")  # one job: one instance starts sooner than the shipped two
    with reaped(TritonFixture.start(["esmfold"], tmp_path, env=limit, model_repository=tmp_path / "models")) as triton:
        service = service_factory.start(triton.grpc_url, PHONOS_MODELS="esmfold")  # the limit is the model's
        client = service.client(service.new_key(credits=100))
        submitted = client.predict("MKTAYIAKQR:GSHMAS", params={"num_recycles": 1, "relax": "all"})
        assert submitted.status_code == 200, submitted.text
        job = client.wait_for(submitted.json()["job_id"], timeout_s=120)
        assert job["status"] == "completed" and job["credits_used"] == 10 and client.balance() == 90, job
        assert job["formats"] == ["pdb", "cif", "json", "pae", "plddt_plot", "pae_plot", "zip"]
        relax = job["metadata"]["relax"]
        assert relax["mode"] == "all" and relax["status"] == "timed_out" and relax["relaxed"] == []
        assert relax["errors"] == {"esmfold": "not relaxed within 0.5 s"}
        (warning,) = job["metadata"]["warnings"]
        assert "within 0.5 s" in warning and "unrelaxed files are delivered" in warning
        assert "clashes_relaxed" not in job["metrics"] and job["metadata"]["timings"]["relax"] < 5
        structure = gemmi.read_pdb_string(client.get(job["download_url"]).text)
        assert [c.name for c in structure[0]] == ["A", "B"]
        scores = client.get(job["download_url"], params={"format": "json"}).json()
        assert scores["relax"] == {"mode": "all", "status": "timed_out", "models": {}, "message": warning}
        missing = client.get(job["download_url"], params={"format": "relaxed_pdb"})
        assert missing.status_code == 400 and '"relaxed_pdb" is not available' in missing.json()["message"], missing.text
        # Its result-file and relax workers are `spawn` pools: their queues are named semaphores in /dev/shm.
        semaphores = {name for name in triton.process.shm_files() if name.startswith(SEM_PREFIX)}
        assert semaphores, triton.process.shm_files()
    # The SIGKILLed server took the pools' resource tracker with it: the reaper removes what it left.
    assert not [name for name in semaphores if (SHM_DIR / name).exists()]


def test_dynamic_batch_of_mixed_lengths_equals_each_alone(triton, tiny) -> None:
    answers = send_concurrently(triton, [inputs_for(s) for s in SEQUENCES * 2])
    batch_sizes = []
    for sequence, answer in zip(SEQUENCES * 2, answers, strict=True):
        assert not isinstance(answer, Exception), answer
        (alone,) = fold(tiny.model, [FoldJob(sequence, 1, None)])
        report = scores(answer)
        assert np.array(report["pae"]).shape == (len(sequence), len(sequence))
        np.testing.assert_allclose(report["plddt"], alone.plddt, atol=0.006)
        np.testing.assert_allclose(report["pae"], alone.pae, atol=0.006)
        assert report["ptm"] == pytest.approx(alone.ptm, abs=2e-4)
        batch_sizes.append(answer.metadata["batch_size"])
    assert max(batch_sizes) > 1, "concurrent requests should have shared a forward pass"


def test_bad_request_fails_alone_in_its_batch_as_an_input_error(triton) -> None:
    answers = send_concurrently(
        triton,
        [inputs_for(SEQUENCES[1]), inputs_for("MKT*B"), inputs_for("A" * 1001), inputs_for(SEQUENCES[2], 25),
         inputs_for(SEQUENCES[2], relax="yes")],
    )
    assert not isinstance(answers[0], Exception)
    assert "invalid amino-acid letters: *, B" in str(answers[1])
    assert "at most 1000" in str(answers[2])
    assert "NUM_RECYCLES must be between 0 and 24" in str(answers[3])
    assert 'RELAX must be one of none, best, all, got "yes"' in str(answers[4])  # JSON's quotes, not Python's
    assert all(isinstance(a, InvalidModelInput) for a in answers[1:])  # the typed input-error signal


def test_cancelling_stops_compute(triton) -> None:
    long_job = inputs_for("MKTAYIAKQRQISFVKSHFSRQ" * 12, num_recycles=24)  # 264 aa, 25 passes: many seconds
    instances = triton.instance_count("esmfold")
    started = time.monotonic()
    # one long job on every instance, all cancelled
    cancel_after(triton.grpc_url, "esmfold", long_job, 1.5, copies=instances)
    # an instance is free again soon: a small request does not wait for 25 passes
    infer_through_the_port(triton.grpc_url, "esmfold", inputs_for(SEQUENCES[2]), 30.0)
    assert time.monotonic() - started < 8.0


def test_end_to_end_through_the_public_api(triton, service_factory) -> None:
    service = service_factory.start(triton.grpc_url, PHONOS_MODELS="esmfold")
    client = service.client(service.new_key(credits=100))
    for params, message in (({"num_recycles": 0}, "between 1 and 24"), ({"chunk": 64}, "Unknown parameter"),
                            ({"relax": "fast"}, "params.relax must be one of all, best, none")):
        refused = client.predict(SEQUENCES[0], params=params)
        assert refused.status_code == 400 and message in refused.json()["message"], refused.text
    too_long = client.predict("A" * 1001)
    assert too_long.status_code == 400 and "at most 1000" in too_long.json()["message"]
    assert client.balance() == 100  # refused before any credit was taken

    sequence = SEQUENCES[0]
    submitted = client.predict(sequence, name="esmfold e2e", params={"num_recycles": 2, "chunk_size": 16})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["credits_used"] == 10 and client.balance() == 90
    job = client.wait_for(submitted.json()["job_id"], timeout_s=60)
    assert job["status"] == "completed", job
    assert 0 < job["metrics"]["mean_plddt"] <= 100 and 0 < job["metrics"]["ptm"] < 1
    assert job["metadata"]["real_weights"] is False and job["metadata"]["trunk_passes"] == 3
    assert "relax" not in job["metadata"] and "relaxed_pdb" not in job["formats"]  # relax: none by default
    timings = job["metadata"]["timings"]  # the model's stages beside the service's
    assert timings["fold_s"] > 0 and timings["files_s"] > 0 and timings["files_wait_s"] >= 0
    assert timings["triton_call_s"] >= timings["fold_s"] + timings["files_s"] + timings["files_wait_s"]

    pdb = client.get(job["download_url"])
    assert pdb.status_code == 200 and pdb.text.startswith("TITLE     ESMFold prediction"), (pdb.headers, pdb.text[:300])
    chain = gemmi.read_pdb_string(pdb.text)[0][0]
    assert gemmi.one_letter_code([r.name for r in chain]) == sequence
    b_factors = np.array([atom.b_iso for residue in chain for atom in residue])  # per-atom pLDDT
    assert b_factors.max() > 1.0 and b_factors.mean() == pytest.approx(job["metrics"]["mean_plddt"], abs=0.02)
    assert "NOT A REAL PREDICTION" in pdb.text
    cif = client.get(job["download_url"], params={"format": "cif"})
    assert len(gemmi.make_structure_from_block(gemmi.cif.read_string(cif.text).sole_block())[0][0]) == len(sequence)
    scores = client.get(job["download_url"], params={"format": "json"}).json()
    assert np.array(scores["pae"]).shape == (len(sequence), len(sequence))
    assert scores["ptm"] == pytest.approx(job["metrics"]["ptm"], abs=1e-4)


def test_two_chain_complex_through_the_public_api(triton, service_factory) -> None:
    service = service_factory.start(triton.grpc_url, PHONOS_MODELS="esmfold", PHONOS_ESMFOLD_MAX_CHAINS="2")
    client = service.client(service.new_key(credits=100))
    refused = client.predict("MKT:GSH:AAA")
    assert refused.status_code == 400 and "at most 2" in refused.json()["message"], refused.text
    chains = ("MKTAYIAKQRQISFVKSHFSRQ", "GSHMASMTGGQQMG")
    submitted = client.predict(":".join(chains), params={"num_recycles": 1})
    assert submitted.status_code == 200, submitted.text
    job = client.wait_for(submitted.json()["job_id"], timeout_s=60)
    assert job["status"] == "completed", job
    assert job["formats"] == ["pdb", "cif", "json", "pae", "plddt_plot", "pae_plot", "zip"]
    assert 0 < job["metrics"]["iptm"] < 1 and job["metrics"]["num_chains"] == 2
    assert [(c["id"], c["length"]) for c in job["metadata"]["chains"]] == [("A", 22), ("B", 14)]
    structure = gemmi.read_pdb_string(client.get(job["download_url"]).text)
    assert [(c.name, gemmi.one_letter_code([r.name for r in c])) for c in structure[0]] == [("A", chains[0]), ("B", chains[1])]
    bundle = client.get(job["download_url"], params={"format": "zip"})
    assert bundle.status_code == 200 and bundle.headers["Content-Type"].startswith("application/zip")
    with zipfile.ZipFile(io.BytesIO(bundle.content)) as archive:
        assert "README.md" in archive.namelist() and archive.testzip() is None
    plot = client.get(job["download_url"], params={"format": "pae_plot"})
    assert plot.headers["Content-Type"].startswith("image/png") and png_size(plot.content) == PAE_SIZE
    # The AFDB PAE JSON through the real model server: 36 x 36 (no linker), the scores' matrix to 0.1 Angstrom.
    pae = client.get(job["download_url"], params={"format": "pae"})
    assert pae.headers["Content-Type"].startswith("application/json")
    [document] = pae.json()
    scores = client.get(job["download_url"], params={"format": "json"}).json()
    assert document["predicted_aligned_error"] == np.round(np.asarray(scores["pae"], np.float64), 1).tolist()
    assert np.array(document["predicted_aligned_error"]).shape == (36, 36)
    assert document["max_predicted_aligned_error"] == 31.75
