"""DiffDock through a real tritonserver (tiny weights) and fold-then-dock end to end through the REST gateway
(an ESMFold job's id as the receptor of a DiffDock job: on the session's tritonserver, tests/conftest.py, which
serves ESMFold and DiffDock as shipped)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemmi
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from phonos_models.common import result_files
from rdkit import Chem
from test_diffdock_spec import ASPIRIN, PDB, validate

from jobservice.inference import InvalidModelInput, Tensor
from jobservice.modelspecs.diffdock import build_spec
from launcher.triton import DEFAULT_MODEL_REPOSITORY, TritonProcess
from tests.bundle_checks import check_bundle
from tests.support import (
    ServiceProcess,
    TritonFixture,
    cancel_after,
    infer_through_the_port,
    reaped,
    wait_until,
    watched_for_crashes,
)

pytestmark = pytest.mark.e2e


def model_repository(root: Path) -> Path:
    """The project's models, with `diffdock` configured to get ESM-2 from the `esm2` Triton model. No `esmfold`:
    the one fold of the module (fold-then-dock) runs on the session's server, which a run of the suite starts on
    each worker anyway (the dashboard, contract and e2e files use it); each stub here is seconds of start-up on
    two cores (it imports torch).

    Its config is the shipped config.pbtxt with one parameter changed, and model.py is the shipped
    one, so every test on this server also covers the in-process defaults except where ESM-2 runs; the
    in-process ESM-2 path is compared against this one in `test_esm2_served_...`.
    """
    source = DEFAULT_MODEL_REPOSITORY
    repo = root / "models"
    repo.mkdir()
    (repo / "esm2").symlink_to(source / "esm2", target_is_directory=True)
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
def triton(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TritonFixture]:
    root = Path(tmp_path_factory.mktemp("triton_diffdock"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    env["PHONOS_DIFFDOCK_BATCH_SIZE"] = "3"
    repository = model_repository(root)
    # Reaped as a TritonFixture: the server it holds at the end, the one started again after a crash included.
    with reaped(TritonFixture(TritonProcess.start(
        repository, models=["esm2", "diffdock"], log_path=root / "triton.log", env=env
    ))) as server:
        server.process.wait_ready(timeout_s=180)
        # Triton 2.51's gRPC crash as a stream ends (tests/support.py restarted_on_crash; this module cancels
        # streams): started again with the same models and settings, and a test that failed meanwhile runs once
        # more. Unwatched, one crash failed every later test of the module (CI: 11 tests, "connection refused").
        with watched_for_crashes(server, env=env, model_repository=repository):
            yield server


@pytest.fixture(scope="module")
def client(triton) -> Any:
    """Raw requests to the served diffdock model go through the real inference port (a decoupled stream)."""
    return triton


def infer(client: Any, tensors: list[tuple[str, np.ndarray]], progress: list | None = None) -> result_files.ModelResult:
    inputs = tuple(Tensor(name, array, "BYTES") for name, array in tensors)
    return infer_through_the_port(client.grpc_url, "diffdock", inputs, progress=progress)


def _bytes(text: str) -> np.ndarray:
    return np.array([[text.encode()]], dtype=object)


def test_triton_docks_and_sends_the_ranked_files(triton: Any) -> None:
    spec = build_spec({})
    job = validate(ASPIRIN, {"protein_pdb": PDB, "random_seed": 3, "inference_steps": 10, "samples_per_complex": 4})
    result = infer_through_the_port(triton.grpc_url, "diffdock", spec.inputs(job))
    check_bundle(result, spec.formats, "diffdock")  # formats, the zip and the plot survive Triton's BYTES tensors
    pdb, sdf, report = (f.content.decode() for f in result.files[:3])
    structure = gemmi.read_pdb_string(pdb)
    assert [len(r) for ch in structure[0] for r in ch if r.name == "LIG"] == [13]
    mols = list(Chem.ForwardSDMolSupplier(io.BytesIO(sdf.encode())))
    assert len(mols) == 4 and all(m is not None and m.GetNumBonds() == 13 for m in mols)
    conf = [float(m.GetProp("confidence")) for m in mols]
    assert conf == sorted(conf, reverse=True) and all(np.isfinite(m.GetConformer().GetPositions()).all() for m in mols)
    assert result.metrics["num_poses"] == 4 and result.metrics["top_confidence"] == pytest.approx(conf[0], abs=1e-4)
    assert result.metadata["real_prediction"] is False and "not a real prediction" in result.metadata["note"]
    assert result.metadata["sampling"]["random_seed"] == 3 and result.metadata["sampling"]["steps_run"] == 9
    assert json.loads(report)["poses"][0]["rank"] == 1
    # same seed through Triton again: the same poses
    again = infer_through_the_port(triton.grpc_url, "diffdock", spec.inputs(job))
    assert again.files[1].content.split(b"score_weights")[0] == result.files[1].content.split(b"score_weights")[0]


def test_triton_docks_into_a_pocket_and_reports_distances(triton: Any) -> None:
    spec = build_spec({})
    job = validate(ASPIRIN, {"protein_pdb": PDB, "random_seed": 3, "inference_steps": 10, "samples_per_complex": 3,
                             "pocket": {"center": [6.3, 3.5, -4.0], "radius": 6}})  # fmt: skip
    result = infer_through_the_port(triton.grpc_url, "diffdock", spec.inputs(job))
    sdf, report = result.files[1].content.decode(), json.loads(result.files[2].content)
    assert report["pocket"]["radius"] == 6.0 and result.metadata["pocket"]["center"] == [6.3, 3.5, -4.0]
    for mol, pose in zip(Chem.ForwardSDMolSupplier(io.BytesIO(sdf.encode())), report["poses"], strict=True):
        measured = float(np.linalg.norm(mol.GetConformer().GetPositions().mean(0) - np.array([6.3, 3.5, -4.0])))
        assert float(mol.GetProp("pocket_distance")) == pytest.approx(measured, abs=2e-3)
        assert pose["initial_pocket_distance"] <= 6.0


@pytest.mark.parametrize(
    ("pdb", "smiles", "request_json", "message"),
    [
        (PDB, "C1CC", "{}", "could not be parsed"),
        ("REMARK nothing here\nEND\n", ASPIRIN, "{}", "no amino-acid residues"),
        (PDB, ASPIRIN, '{"samples_per_complex": 0}', "samples_per_complex"),
        (PDB, ASPIRIN, "not json", "not JSON"),
        (PDB, ASPIRIN, '{"pocket": {"residues": ["A:404"]}}', "A:404 are not protein residues"),
        (PDB, "[Na+]", "{}", "single heavy atom"),
        ("data_x\nloop_\n_atom_site.id\nATOM 1\n", ASPIRIN, "{}", "looks like mmCIF"),
    ],
)
def test_bad_requests_get_an_error_response_and_the_model_keeps_serving(
    client: Any, pdb: str, smiles: str, request_json: str, message: str
) -> None:
    with pytest.raises(InvalidModelInput, match=message):  # the typed input-error signal
        infer(client, [("PROTEIN_PDB", _bytes(pdb)), ("LIGAND_SMILES", _bytes(smiles)), ("REQUEST", _bytes(request_json))])
    ok = infer(client, [("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes("CCO")),
                        ("REQUEST", _bytes('{"inference_steps": 10, "samples_per_complex": 1}'))])  # fmt: skip
    assert b"LIG" in ok.files[0].content


def test_a_real_world_receptor_file_docks_and_the_result_says_how_it_was_read(client: Any) -> None:
    # CRLF, two NMR models, Amber's HIE for histidine, a bound ligand: through Triton's BYTES tensors
    atoms = [line[:17] + "HIE" + line[20:] if line[17:20] == "HIS" else line
             for line in PDB.splitlines() if line.startswith("ATOM")]
    ligand_line = "HETATM 9001  C1  LIG A 101       1.000   1.000   1.000  1.00  0.00           C"
    text = "\r\n".join(["MODEL        1", *atoms, ligand_line, "ENDMDL", "MODEL        2", *atoms, "ENDMDL", "END"])
    result = infer(client, [("PROTEIN_PDB", _bytes(text)), ("LIGAND_SMILES", _bytes("CCO")),
                            ("REQUEST", _bytes('{"inference_steps": 10, "samples_per_complex": 1}'))])  # fmt: skip
    preparation = result.metadata["receptor"]["preparation"]
    assert preparation["models_in_file"] == 2 and preparation["mapped_residues"] == {"HIE": "H"}
    assert result.metadata["receptor"]["residues"] == 30
    assert any("HIE->H" in w for w in result.metadata["warnings"])
    assert json.loads(result.files[2].content)["receptor"]["preparation"] == preparation


# ---------------------------------------------------------------------------------------------- public API


def test_fold_then_dock_through_the_public_api(shared_triton: TritonFixture, tmp_path: Path) -> None:
    service = ServiceProcess.start(tmp_path / "var", shared_triton.grpc_url, {"PHONOS_MODELS": "esmfold,diffdock"})
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


def test_cancelling_a_request_stops_the_compute(client: Any) -> None:
    import time

    def inputs(request: dict[str, int]) -> tuple[Tensor, ...]:
        return tuple(Tensor(name, array, "BYTES") for name, array in (
            ("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes(ASPIRIN)), ("REQUEST", _bytes(json.dumps(request)))))

    # ~minutes of work on this machine; one model instance, so anything after it waits for it
    cancel_after(client.grpc_url, "diffdock", inputs({"inference_steps": 40, "samples_per_complex": 40}), 1.0)
    start = time.monotonic()
    quick = infer_through_the_port(client.grpc_url, "diffdock", inputs({"inference_steps": 10, "samples_per_complex": 1}))
    assert quick.files
    assert time.monotonic() - start < 30  # the cancelled request stopped within a diffusion step


def _embed_processes(server: TritonFixture) -> dict[int, float]:
    """pid -> CPU seconds of each ligand-embedding child (embed_worker) of this server's diffdock stub."""
    def stat(pid: str) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # [state, ppid, ...]

    found: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or b"spawn_main" not in (proc / "cmdline").read_bytes():
                continue
            fields = stat(proc.name)
            stub = Path(f"/proc/{fields[1]}/cmdline").read_bytes()
            ours = int(stat(fields[1])[1]) == server.process.process.pid
        except (OSError, IndexError):
            continue  # gone meanwhile
        if ours and b"triton_python_backend_stub" in stub and b"/diffdock/" in stub:
            found[int(proc.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return found


def test_cancelling_during_the_ligand_embedding_frees_the_core(client: Any) -> None:
    peg48 = "C" + "COC" * 48 + "O"  # ~7 s of RDKit embedding on this machine (random coordinates + MMFF)
    before = _embed_processes(client)
    assert len(before) == 1  # started with the model
    tensors = tuple(Tensor(name, array, "BYTES") for name, array in (
        ("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes(peg48)), ("REQUEST", _bytes("{}"))))
    cancel_after(client.grpc_url, "diffdock", tensors, 1.5)
    # Killed within a second of the cancel. Before: the RDKit call went on in an abandoned thread of the stub until
    # RDKit's own timeout.
    wait_until(lambda: not set(before) & set(_embed_processes(client)), timeout_s=1.0, interval_s=0.05)
    quick = infer(client, [("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes(ASPIRIN)),
                           ("REQUEST", _bytes(json.dumps({"inference_steps": 10, "samples_per_complex": 1})))])
    assert quick.files and len(_embed_processes(client)) == 1  # a new one embedded the next ligand


def test_progress_reports_each_diffusion_step_and_confidence_scoring(client: Any) -> None:
    progress: list = []
    request = [("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes(ASPIRIN)),
               ("REQUEST", _bytes('{"inference_steps": 10, "samples_per_complex": 4, "random_seed": 2}'))]  # fmt: skip
    assert infer(client, request, progress).metrics["num_poses"] == 4
    diffusion = [(p.step, p.total) for p in progress if p.stage == "diffusion"]
    # 9 steps run (the last jumps to t = 0) for each of the 2 batches of 3 and 1 samples (PHONOS_DIFFDOCK_BATCH_SIZE=3)
    assert diffusion == [(i, 18) for i in range(18)]  # step: the steps done as each one starts
    assert [(p.step, p.total) for p in progress if p.stage == "confidence"] == [(0, 2), (1, 2)]
    assert progress[-1].stage == "confidence"


def test_esm2_served_by_its_own_triton_model_matches_the_in_process_one(client: Any) -> None:
    from phonos_models.diffdock.esm_embedding import EsmEmbedder, TinyEsmShape
    from phonos_models.diffdock.pipeline import TINY_ESM_WIDTH

    request = [("PROTEIN_PDB", _bytes(PDB)), ("LIGAND_SMILES", _bytes(ASPIRIN)),
               ("REQUEST", _bytes('{"inference_steps": 10, "samples_per_complex": 1, "random_seed": 4}'))]  # fmt: skip
    meta = infer(client, request).metadata
    # what DiffDock builds in process by default (no ESM dir: seeded tiny random at the score width)
    local = EsmEmbedder.tiny_random(TinyEsmShape(hidden_size=TINY_ESM_WIDTH))
    assert meta["weights"]["esm"] == local.weights.as_json()  # provenance comes from the served model
    esm2 = grpcclient.InferenceServerClient(client.grpc_url)  # esm2 is not decoupled: one plain call
    seq = grpcclient.InferInput("SEQUENCE", [1], "BYTES")
    seq.set_data_from_numpy(np.array([b"MKTAYIAK"], dtype=object))
    embedding = esm2.infer("esm2", [seq]).as_numpy("EMBEDDING")
    esm2.close()
    assert embedding.shape == (8, TINY_ESM_WIDTH)
    np.testing.assert_array_equal(embedding, local.embed("MKTAYIAK").numpy())  # bit-identical: same poses
