"""The client as a user installs and runs it: `pip install` of clients/python alone into a fresh virtual
environment (no torch, no Triton), then `phonos fold` of a 3-record FASTA against a real job service
(`python -m jobservice`) and a real tritonserver serving tiny ESMFold (decoupled: live progress)."""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

import gemmi
import pytest

from tests.support import REPO

pytestmark = pytest.mark.e2e

FASTA = ">seq_one first\nMKTVRQERLKSIVRILERSKEPVSG\n>seq_two\nMGSSHHHHHHSSGLVPRGSHMAS\n>seq_three\nMKTAYIAKQRQISFVKSHFSRQ\n"


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding nothing but the client package and its dependencies."""
    root = tmp_path_factory.mktemp("client-venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(root)
    installed = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q",
                                str(REPO / "clients" / "python")], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]
    return root


def test_the_client_installs_alone_and_folds_a_fasta_against_real_triton(
        client_venv: Path, shared_triton: object, service_factory: type, tmp_path: Path) -> None:
    python = str(client_venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHONOS_", "PYTHON"))}  # this machine only
    heavy = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True, timeout=60, env=env,
                           cwd=tmp_path)
    assert heavy.returncode != 0  # the light install has no torch (nor Triton, nor the server)
    server_only = subprocess.run([str(client_venv / "bin" / "phonos"), "serve"], capture_output=True, text=True,
                                 timeout=60, env=env, cwd=tmp_path)
    assert server_only.returncode == 2 and "server install" in server_only.stderr

    service = service_factory.start(shared_triton.grpc_url)  # type: ignore[attr-defined]
    key = service.new_key(credits=100)
    (tmp_path / "proteins.fasta").write_text(FASTA)
    env.update({"PHONOS_URL": service.base_url, "PHONOS_API_KEY": key})
    ran = subprocess.run([str(client_venv / "bin" / "phonos"), "fold", str(tmp_path / "proteins.fasta"),
                          "--model", "esmfold", "-p", "num_recycles=2", "--out", str(tmp_path / "out"),
                          "--formats", "pdb,plddt_plot", "--json"],
                         env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    jobs = json.loads(ran.stdout)["jobs"]
    assert [(j["name"], j["status"]) for j in jobs] == [("seq_one", "completed"), ("seq_two", "completed"),
                                                        ("seq_three", "completed")]
    for job, record in zip(jobs, FASTA.split(">")[1:], strict=True):
        sequence = "".join(record.splitlines()[1:])
        chain = gemmi.read_structure(str(tmp_path / "out" / f"{job['name']}.pdb"))[0][0]
        assert gemmi.one_letter_code([r.name for r in chain]) == sequence  # a real (tiny-weights) structure
        assert 0 < job["metrics"]["mean_plddt"] <= 100
        # each file keeps the server's ending, which says what it is (not `.plddt_plot`)
        assert (tmp_path / "out" / f"{job['name']}.plddt.png").read_bytes().startswith(b"\x89PNG")
    # and it watched them live: the model's trunk passes came through the stream, in order, up to the last.
    # How many it sees depends on when its stream opened (a loaded machine may already be past the first).
    watched = subprocess.run([python, "-c", (
        "import sys\nfrom phonos_client import Client\n"
        "c = Client(sys.argv[1], sys.argv[2])\n"
        "j = c.predict('esmfold', 'MKTAYIAKQRQISFVKSHFSRQ', params={'num_recycles': 11})\n"
        "print([e.progress.step for e in c.watch(j.job_id) if e.progress])\n"),
        service.base_url, key], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr
    steps = json.loads(watched.stdout)
    # 12 trunk passes (11 recycles + the first), each reported as it starts with the passes done: 0 to 11
    assert steps and steps == list(range(steps[0], 12)), steps
