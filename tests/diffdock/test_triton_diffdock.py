"""DiffDock as the job service sees it: the spec's 400s, the real tritonserver, the public API.

Three tiers: spec validation/decoding (fast, in-process), the Triton model through a real
`tritonserver` with tiny weights, and fold-then-dock end to end through the REST gateway
(an ESMFold job's id as the receptor of a DiffDock job).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemmi
import numpy as np
import pytest
from rdkit import Chem

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.diffdock import build_spec

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
ASPIRIN_OTHER_WRITING = "OC(=O)c1ccccc1OC(C)=O"
JOB_ID = "0b6f7a3e-8c1d-4e59-9a4e-2f1d7c3b5a60"


class Outputs:
    """In-memory `JobOutputs` twin: one completed structure job of this account."""

    def __init__(self, jobs: dict[str, bytes]) -> None:
        self.jobs = jobs
        self.asked: list[str] = []

    async def structure_pdb(self, job_id: str) -> bytes:
        self.asked.append(job_id)
        if job_id not in self.jobs:
            raise InvalidArgument(f"protein_pdb refers to job {job_id}, which does not exist in this account")
        return self.jobs[job_id]


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
        ("C1CC", {"protein_pdb": PDB}, "invalid ligand: .*could not be parsed"),
        ("CCO.[Na+]", {"protein_pdb": PDB}, "disconnected fragments"),
        ("", {"protein_pdb": PDB}, "needs a ligand"),
        (ASPIRIN, {}, "needs a receptor"),
        (ASPIRIN, {"protein_pdb": "/data/receptor.pdb"}, "paths and URLs are not accepted"),
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
    with pytest.raises(InvalidArgument, match="does not exist in this account"):
        validate(ASPIRIN, {"protein_pdb": "1b6f7a3e-8c1d-4e59-9a4e-2f1d7c3b5a60"}, outputs)


def test_triton_inputs_are_typed_with_batch_dimension() -> None:
    job = validate(ASPIRIN, {"protein_pdb": PDB, "random_seed": 9, "inference_steps": 12, "samples_per_complex": 2})
    tensors = {t.name: t for t in build_spec({}).triton_inputs(job)}
    assert {t.datatype for t in tensors.values()} == {"BYTES"}
    assert all(t.array.shape == (1, 1) for t in tensors.values())
    assert tensors["PROTEIN_PDB"].array[0, 0] == PDB.encode()
    assert json.loads(tensors["REQUEST"].array[0, 0]) == {"inference_steps": 12, "samples_per_complex": 2, "random_seed": 9}


# ---------------------------------------------------------------------------------------------- Triton

grpcclient = pytest.importorskip("tritonclient.grpc")
triton_launcher = pytest.importorskip("launcher.triton")


def model_repository(root: Path) -> Path:
    """The project's models, with `diffdock` configured to get ESM-2 from the `esm2` Triton model.

    Its config is the shipped config.pbtxt with one parameter changed, and model.py is the shipped
    one, so every test below also covers the in-process defaults except where ESM-2 runs; the
    in-process ESM-2 path is compared against this one in `test_esm2_served_...`.
    """
    source = triton_launcher.DEFAULT_MODEL_REPOSITORY
    repo = root / "models"
    repo.mkdir()
    for name in ("esmfold", "esm2"):
        (repo / name).symlink_to(source / name, target_is_directory=True)
    diffdock = repo / "diffdock"
    (diffdock / "1").mkdir(parents=True)
    (diffdock / "1" / "model.py").symlink_to(source / "diffdock" / "1" / "model.py")
    config = (source / "diffdock" / "config.pbtxt").read_text().replace(
        'key: "PHONOS_DIFFDOCK_ESM_TRITON_MODEL" value: { string_value: "" }',
        'key: "PHONOS_DIFFDOCK_ESM_TRITON_MODEL" value: { string_value: "esm2" }',
    )
    assert '"esm2"' in config
    (diffdock / "config.pbtxt").write_text(config)
    return repo


@pytest.fixture(scope="module")
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = Path(tmp_path_factory.mktemp("triton_diffdock"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    env["PHONOS_DIFFDOCK_BATCH_SIZE"] = "3"
    with triton_launcher.TritonProcess.start(
        model_repository(root), models=["esmfold", "esm2", "diffdock"], log_path=root / "triton.log", env=env
    ) as server:
        server.wait_ready(timeout_s=180)
        yield server


@pytest.fixture(scope="module")
def client(triton) -> Iterator[Any]:
    client = grpcclient.InferenceServerClient(triton.grpc_url)
    yield client
    client.close()


def infer(client: Any, tensors: list[tuple[str, np.ndarray]]) -> Any:
    inputs = []
    for name, array in tensors:
        tensor = grpcclient.InferInput(name, list(array.shape), "BYTES")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    names = build_spec({}).output_names
    result = client.infer("diffdock", inputs, outputs=[grpcclient.InferRequestedOutput(n) for n in names])
    return {n: result.as_numpy(n) for n in names}


def _bytes(text: str) -> np.ndarray:
    return np.array([[text.encode()]], dtype=object)


@pytest.mark.slow
@pytest.mark.triton
def test_triton_docks_and_the_spec_decodes_ranked_files(client: Any) -> None:
    spec = build_spec({})
    job = validate(ASPIRIN, {"protein_pdb": PDB, "random_seed": 3, "inference_steps": 10, "samples_per_complex": 4})
    outputs = infer(client, [(t.name, t.array) for t in spec.triton_inputs(job)])
    result = spec.decode(job, outputs)
    assert [a.format for a in result.artifacts] == ["pdb", "sdf", "json"]
    pdb, sdf, report = (a.content.decode() for a in result.artifacts)
    structure = gemmi.read_pdb_string(pdb)
    assert [len(r) for ch in structure[0] for r in ch if r.name == "LIG"] == [13]
    mols = list(Chem.ForwardSDMolSupplier(io.BytesIO(sdf.encode())))
    assert len(mols) == 4 and all(m is not None and m.GetNumBonds() == 13 for m in mols)
    conf = [float(m.GetProp("confidence")) for m in mols]
    assert conf == sorted(conf, reverse=True) and all(np.isfinite(m.GetConformer().GetPositions()).all() for m in mols)
    assert result.metrics["num_poses"] == 4 and result.metrics["top_confidence"] == pytest.approx(conf[0], abs=1e-4)
    assert result.metadata["real_prediction"] is False and "not a real prediction" in result.metadata["note"]
    assert result.metadata["random_seed"] == 3 and result.metadata["sampling"]["steps_run"] == 9
    assert json.loads(report)["poses"][0]["rank"] == 1
    # same seed through Triton again: the same poses
    again = spec.decode(job, infer(client, [(t.name, t.array) for t in spec.triton_inputs(job)]))
    assert again.artifacts[1].content.split(b"score_weights")[0] == result.artifacts[1].content.split(b"score_weights")[0]


@pytest.mark.slow
@pytest.mark.triton
@pytest.mark.parametrize(
    ("pdb", "smiles", "request_json", "message"),
    [
        (PDB, "C1CC", "{}", "could not be parsed"),
        ("REMARK nothing here\nEND\n", ASPIRIN, "{}", "no amino-acid residues"),
        (PDB, ASPIRIN, '{"samples_per_complex": 0}', "samples_per_complex"),
        (PDB, ASPIRIN, "not json", "not JSON"),
    ],
)
def test_bad_requests_get_an_error_response_and_the_model_keeps_serving(
    client: Any, pdb: str, smiles: str, request_json: str, message: str
) -> None:
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match=message):
        infer(client, [("PROTEIN_PDB", _bytes(pdb)), ("LIGAND_SMILES", _bytes(smiles)), ("REQUEST", _bytes(request_json))])
    ok = infer(client, [("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes("CCO")),
                        ("REQUEST", _bytes('{"inference_steps": 10, "samples_per_complex": 1}'))])  # fmt: skip
    assert b"LIG" in ok["COMPLEX_PDB"].reshape(-1)[0]


# ---------------------------------------------------------------------------------------------- public API


@pytest.mark.slow
@pytest.mark.triton
def test_fold_then_dock_through_the_public_api(triton: Any, tmp_path: Path) -> None:
    from tests.support import ServiceProcess

    service = ServiceProcess.start(tmp_path / "var", triton.grpc_url, {"PHONOS_MODELS": "esmfold,diffdock"})
    try:
        api = service.client(service.new_key(credits=100))
        fold = api.predict("MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ").json()
        assert api.wait_for(fold["job_id"])["status"] == "completed"
        bad = api.post("/v1/predict", json={"model": "diffdock", "sequence": "C1CC", "params": {"protein_pdb": fold["job_id"]}})
        assert bad.status_code == 400 and "could not be parsed" in bad.json()["message"]
        assert api.balance() == 90  # the 400 took no credits
        submitted = api.post("/v1/predict", json={
            "model": "diffdock", "sequence": ASPIRIN, "name": "dock",
            "params": {"protein_pdb": fold["job_id"], "inference_steps": 10, "samples_per_complex": 3, "random_seed": 1},
        })  # fmt: skip
        assert submitted.status_code == 200, submitted.text
        body = submitted.json()
        assert body["credits_used"] == 30 and api.balance() == 60
        job = api.wait_for(body["job_id"], timeout_s=180)
        assert job["status"] == "completed", job
        complex_pdb = api.get(f"/v1/jobs/{body['job_id']}/download")
        assert complex_pdb.status_code == 200
        structure = gemmi.read_pdb_string(complex_pdb.text)
        names = [r.name for ch in structure[0] for r in ch]
        assert names.count("LIG") == 1 and len(names) == 34  # 33 folded residues + the ligand
        sdf = api.get(f"/v1/jobs/{body['job_id']}/download", params={"format": "sdf"})
        mols = list(Chem.ForwardSDMolSupplier(io.BytesIO(sdf.content)))
        assert [m.GetIntProp("rank") for m in mols] == [1, 2, 3]
        report = api.get(f"/v1/jobs/{body['job_id']}/download", params={"format": "json"}).json()
        assert report["real_prediction"] is False and len(report["poses"]) == 3
    finally:
        service.stop()


@pytest.mark.slow
@pytest.mark.triton
def test_cancelling_a_request_stops_the_compute(client: Any) -> None:
    import queue
    import time

    def inputs(request: dict[str, int]) -> list[Any]:
        out = []
        for name, array in (("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes(ASPIRIN)),
                            ("REQUEST", _bytes(json.dumps(request)))):  # fmt: skip
            tensor = grpcclient.InferInput(name, [1, 1], "BYTES")
            tensor.set_data_from_numpy(array)
            out.append(tensor)
        return out

    done: queue.Queue = queue.Queue()
    # ~minutes of work on this machine; one model instance, so anything after it waits for it
    context = client.async_infer(
        "diffdock", inputs({"inference_steps": 40, "samples_per_complex": 40}),
        callback=lambda result, error: done.put(error),
    )  # fmt: skip
    time.sleep(1.0)
    context.cancel()
    assert "CANCELLED" in str(done.get(timeout=30)).upper()
    start = time.monotonic()
    quick = client.infer("diffdock", inputs({"inference_steps": 10, "samples_per_complex": 1}))
    assert quick.as_numpy("POSES_SDF") is not None
    assert time.monotonic() - start < 30  # the cancelled request stopped within a diffusion step


def test_spec_names_the_esm2_model_as_a_dependency_when_configured() -> None:
    assert build_spec({}).triton_dependencies == ()
    assert build_spec({"PHONOS_DIFFDOCK_ESM_TRITON_MODEL": "esm2"}).triton_dependencies == ("esm2",)


@pytest.mark.slow
@pytest.mark.triton
def test_esm2_served_by_its_own_triton_model_matches_the_in_process_one(client: Any) -> None:
    from phonos_models.diffdock.esm_embedding import EsmEmbedder, TinyEsmShape
    from phonos_models.diffdock.pipeline import TINY_ESM_WIDTH

    request = [("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes(ASPIRIN)),
               ("REQUEST", _bytes('{"inference_steps": 10, "samples_per_complex": 1, "random_seed": 4}'))]  # fmt: skip
    meta = json.loads(infer(client, request)["METADATA"].reshape(-1)[0])
    # what DiffDock builds in process by default (no ESM dir: seeded tiny random at the score width)
    local = EsmEmbedder.tiny_random(TinyEsmShape(hidden_size=TINY_ESM_WIDTH))
    assert meta["weights"]["esm"] == local.weights.as_json()  # provenance comes from the served model
    seq = grpcclient.InferInput("SEQUENCE", [1], "BYTES")
    seq.set_data_from_numpy(np.array([b"MKTAYIAK"], dtype=object))
    embedding = client.infer("esm2", [seq]).as_numpy("EMBEDDING")
    assert embedding.shape == (8, TINY_ESM_WIDTH)
    np.testing.assert_array_equal(embedding, local.embed("MKTAYIAK").numpy())  # bit-identical: same poses
