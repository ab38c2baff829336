"""AlphaFold2 through a real tritonserver (tiny weights), then through the public API.

One server for the module; the persistent XLA cache (af2_helpers.COMPILE_CACHE)
is shared with the in-process tests, so the stub's first request mostly loads
compiled programs instead of compiling them.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import gemmi
import numpy as np
import pytest
from af2_helpers import QUERY, mutate, settings_env
from phonos_models.common.result_files import ModelResult
from playwright.sync_api import expect, sync_playwright

from jobservice.inference import InvalidModelInput, Tensor
from jobservice.modelspecs.alphafold2 import build_spec
from launcher.triton import TritonProcess
from tests.dashboard.pages_helpers import CHROMIUM, CHROMIUM_ARGS, Watched, make_user, shot, sign_in
from tests.support import (
    ServiceProcess,
    TritonFixture,
    cancel_after,
    infer_through_the_port,
    reaped,
    watched_for_crashes,
)

pytestmark = pytest.mark.e2e

CHAIN_B = "PDLSKEALRQAIEEAVRNGNT"


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    log_path = Path(tmp_path_factory.mktemp("triton")) / "triton.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    env.update(settings_env())
    # Reaped as a TritonFixture: the server it holds at the end, the one started again after a crash included.
    with reaped(TritonFixture(TritonProcess.start(models=["alphafold2"], log_path=log_path, env=env))) as server:
        server.process.wait_ready(timeout_s=180)
        # Triton 2.51's gRPC crash as a stream ends (tests/support.py restarted_on_crash): started again, with the
        # same settings, and a test that failed meanwhile runs once more.
        with watched_for_crashes(server, env=env):
            yield server


@pytest.fixture(scope="module")
def service(triton: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One job service on the module's server for the tests through the public API (each with its own key): a
    start is seconds of imports on two cores."""
    process = ServiceProcess.start(Path(tmp_path_factory.mktemp("service")) / "var", triton.grpc_url,  # type: ignore[attr-defined]
                                   {"PHONOS_MODELS": "alphafold2", **settings_env()})
    yield process
    process.stop()


class NoOutputs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("not used")


def infer(triton: object, params: dict, progress: list | None = None) -> ModelResult:
    """Validate with the spec, send the spec's tensors through the real inference port: as dispatch does."""
    spec = build_spec(settings_env())
    job = asyncio.run(spec.validate(QUERY, params, NoOutputs()))
    return infer_through_the_port(triton.grpc_url, "alphafold2", spec.inputs(job),  # type: ignore[attr-defined]
                                  progress=progress)


def test_triton_serves_a_prediction_with_a_user_msa(triton: object) -> None:
    # Six rows, monomer: the program the in-process tests compiled (persistent cache).
    a3m = f">query\n{QUERY}\n" + "".join(f">hom{k}\n{mutate(QUERY, every=k)}\n" for k in (3, 4, 5, 6, 7))
    progress: list = []
    result = infer(triton, {"num_recycles": 1, "a3m": a3m}, progress)
    # model k of M, then each of its passes (num_recycles 1: 2 passes), reported while it ran; `step` of `total`
    # counts the passes of every model
    assert [(p.stage, p.step, p.total) for p in progress] == [("model", 0, 2), ("recycle", 0, 2), ("recycle", 1, 2)]
    pdb = result.files[0].content.decode()
    assert result.files[0].format == "pdb" and pdb.count(" CA ") == len(QUERY)
    assert "NOT A REAL PREDICTION" in pdb
    scores = json.loads(result.files[2].content)
    assert len(scores["plddt"]) == len(QUERY) and "pae" not in scores
    assert result.files[3].content.decode() == a3m
    assert result.metadata["msa_mode"] == "a3m" and result.metadata["real_weights"] is False


def test_a_bad_request_gets_an_error_response_and_the_model_keeps_serving(triton: object) -> None:
    tensors = tuple(Tensor(name, np.array([text.encode()], dtype=object), "BYTES")
                    for name, text in (("SEQUENCE", QUERY), ("REQUEST", json.dumps({"use_templates": True}))))
    with pytest.raises(InvalidModelInput, match="no template database"):  # the typed input-error signal
        infer_through_the_port(triton.grpc_url, "alphafold2", tensors, 60.0)  # type: ignore[attr-defined]
    assert triton.process.model_ready("alphafold2")  # type: ignore[attr-defined]


def test_end_to_end_through_the_public_api(service: ServiceProcess) -> None:
    client = service.client(service.new_key(credits=170))

    bad = client.post("/v1/predict", json={"model": "alphafold2", "sequence": QUERY, "params": {"model_preset": "multimer_v2"}})
    assert bad.status_code == 400 and "model_preset" in bad.json()["message"]
    bad_a3m = client.post("/v1/predict", json={"model": "alphafold2", "sequence": QUERY, "params": {"a3m": ">x\nMKT\n"}})
    assert bad_a3m.status_code == 400 and "match columns" in bad_a3m.json()["message"]
    bad_complex = client.post("/v1/predict", json={"model": "alphafold2", "sequence": f"{QUERY[:20]}::{CHAIN_B}"})
    assert bad_complex.status_code == 400 and "sequence chain 2 is empty" in bad_complex.json()["message"]
    assert client.balance() == 170  # nothing charged for refused jobs

    # A two-chain complex, Amber-relaxed: submitted first, so it runs while the monomer below waits.
    dimer = client.post("/v1/predict", json={"model": "alphafold2", "sequence": f"{QUERY[:20]}:{CHAIN_B}",
                                             "params": {"num_recycles": 1, "relax": "best"}})
    assert dimer.status_code == 200, dimer.text

    submitted = client.post("/v1/predict", json={"model": "alphafold2", "sequence": QUERY, "name": "af2 e2e",
                                                 "params": {"model_preset": "monomer_ptm", "num_recycles": 0}})
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["credits_used"] == 50 and client.balance() == 70
    job = client.wait_for(submitted.json()["job_id"], timeout_s=420)
    assert job["status"] == "completed", job
    pdb = client.get(job["download_url"])
    assert pdb.status_code == 200 and pdb.text.count(" CA ") == len(QUERY)
    scores = client.get(job["download_url"], params={"format": "json"}).json()
    assert len(scores["plddt"]) == len(QUERY) and scores["real_prediction"] is False
    assert np.array(scores["pae"]).shape == (len(QUERY), len(QUERY)) and 0 < scores["ptm"] < 1
    status = client.get(f"/v1/jobs/{job['job_id']}").json()
    assert status["status"] == "completed"

    complex_job = client.wait_for(dimer.json()["job_id"], timeout_s=300)
    assert complex_job["status"] == "completed", complex_job
    assert {"pdb", "cif", "json", "relaxed_pdb", "relaxed_cif"} <= set(complex_job["formats"])
    pdb = gemmi.read_pdb_string(client.get(complex_job["download_url"]).text)
    assert [(chain.name, len(chain)) for chain in pdb[0]] == [("A", 20), ("B", len(CHAIN_B))]
    scores = client.get(complex_job["download_url"], params={"format": "json"}).json()
    assert [(c["id"], c["length"]) for c in scores["chains"]] == [("A", 20), ("B", len(CHAIN_B))]
    assert 0 < scores["iptm"] < 1 and scores["interfaces"][0]["chains"] == ["A", "B"]
    assert scores["relax"]["status"] == "completed", scores["relax"]
    metrics, metadata = complex_job["metrics"], complex_job["metadata"]
    assert metrics["iptm"] == round(scores["iptm"], 4) and metadata["model_preset"] == "multimer"
    # The relax worker ran inside Triton's stub and removed the tiny model's clashes.
    assert metrics["clashes_relaxed"] < metrics["clashes_unrelaxed"] and metrics["relax_rmsd"] > 0
    assert metadata["relax"]["platform"] == "CPU" and metadata["relax"]["relaxed"] == ["model_1_multimer_v3"]
    # The software that produced it, through the job service (OpenMM's too: it relaxed)
    assert metadata["software"]["openmm"] == metadata["relax"]["openmm"] and "alphafold-colabfold" in metadata["software"]
    relaxed_text = client.get(complex_job["download_url"], params={"format": "relaxed_pdb"}).text
    assert "REMARK 250 NOT A REAL PREDICTION" in relaxed_text and "Amber-relaxed" in relaxed_text
    assert "REMARK 250 this structure: rank 1, model_1_multimer_v3" in relaxed_text.splitlines()
    relaxed = gemmi.read_pdb_string(relaxed_text)
    assert [chain.name for chain in relaxed[0]] == ["A", "B"]
    assert any(atom.element.name == "H" for residue in relaxed[0]["A"] for atom in residue)
    relaxed_cif = gemmi.cif.read_string(client.get(complex_job["download_url"], params={"format": "relaxed_cif"}).text)
    assert sorted(set(relaxed_cif.sole_block().find_loop("_atom_site.auth_asym_id"))) == ["A", "B"]
    assert client.balance() == 70


def test_the_job_page_superposes_the_jobs_second_ranked_model_on_the_first(service: ServiceProcess) -> None:
    """The dashboard's Compare card offers an AlphaFold2 job's other ranked models; `?compare=rank_2_pdb` opens
    with rank 2 superposed on rank 1, and the Cα RMSD shown is numpy's Kabsch over the two downloaded files."""
    user = make_user(service, "rae")
    client = service.client(user.api_key)
    submitted = client.post("/v1/predict", json={"model": "alphafold2", "sequence": QUERY, "name": "two models",
                                                 "params": {"num_models": 2, "num_recycles": 0}})
    assert submitted.status_code == 200, submitted.text
    job = client.wait_for(submitted.json()["job_id"], timeout_s=420)
    assert job["status"] == "completed" and "rank_2_pdb" in job["formats"], job
    first, second = (np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])]
                               for line in client.get(job["download_url"], params={"format": fmt}).text.splitlines()
                               if line.startswith("ATOM") and line[12:16].strip() == "CA"])
                     for fmt in ("pdb", "rank_2_pdb"))
    p, q = second - second.mean(0), first - first.mean(0)
    u, _, vt = np.linalg.svd(p.T @ q)
    rmsd = float(np.sqrt(((p @ (u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt) - q) ** 2).sum(1).mean()))

    watched = Watched()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = sign_in(browser, service, user, watched)
            page.goto(f"{service.base_url}/jobs/{job['job_id']}?compare=rank_2_pdb")
            expect(page.locator("#compare-rmsd .value")).to_have_text(f"{rmsd:.2f} Å", timeout=60_000)
            expect(page.locator("#compare-legend")).to_contain_text("Compared: Rank 2 of this job")
            expect(page.locator("#compare-legend")).to_contain_text("This job’s rank 1 model: coloured by pLDDT")
            expect(page.locator("#compare-with optgroup").first.locator("option")).to_have_text(["Rank 2 of this job"])
            assert 0 < float(page.locator("#compare-tm .value").inner_text()) <= 1
            expect(page.locator("#compare-identity .value")).to_have_text("Same")
            shot(page, "40-job-compare-ranks")
        finally:
            browser.close()
    assert watched.problems() == [], watched.problems()


def test_cancelling_a_running_request_stops_its_compute(triton: object) -> None:
    """A long job (monomer_casp14, 5 models x 25 passes) is cancelled; the next request does not wait for it."""
    import time

    spec = build_spec(settings_env())
    url = triton.grpc_url  # type: ignore[attr-defined]

    def tensors(params: dict) -> tuple[Tensor, ...]:
        job = asyncio.run(spec.validate(QUERY, params, NoOutputs()))
        return spec.inputs(job)

    def timed(params: dict) -> float:
        tick = time.perf_counter()
        infer_through_the_port(url, "alphafold2", tensors(params), 240.0)
        return time.perf_counter() - tick

    long_params = {"model_preset": "monomer_casp14", "num_recycles": 24, "num_models": 5}
    quick_params = {"num_recycles": 0}
    # Warm both programs so the timings below are compute, not compile.
    timed({"model_preset": "monomer_casp14", "num_recycles": 0})
    timed(quick_params)
    one_pass = timed({"model_preset": "monomer_casp14", "num_recycles": 0})
    quick = timed(quick_params)
    cancel_after(url, "alphafold2", tensors(long_params), max(2.0, 4 * one_pass))
    waited = timed(quick_params)
    print(f"casp14 pass {one_pass:.2f} s, quick request {quick:.2f} s, quick request right after the cancel {waited:.2f} s")
    # Uncancelled, the long job would hold the only instance for 125 passes more.
    assert waited < quick + 15 * one_pass + 3, (waited, quick, one_pass)
