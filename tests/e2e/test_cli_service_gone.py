"""The service going away while `phonos fold` follows the jobs it submitted: the command ends with the server error's
exit code (7) and names the jobs, by the command that follows them again, instead of ending with their ids unsaid
(the table that holds them is printed only at the end). Found walking the command against `phonos serve`, stopped
mid-watch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobservice.memory_inference import Slow
from tests.support import REPO, wait_until

pytestmark = pytest.mark.e2e

CLIENT_PATH = str(REPO / "clients" / "python")
TRANSPORTS = ("rest", "grpc")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_service_gone_mid_watch_is_said_with_the_command_that_follows_the_jobs_again(
        twin_factory: type, tmp_path: Path, transport: str) -> None:
    service = twin_factory.start(tmp_path / "var")
    key = service.new_key(credits=100)
    service.inference.script("esmfold", Slow(30))  # still running when the service stops
    out = tmp_path / "folds"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_") and k not in ("COLUMNS", "LINES")}
    # A short retry budget: the restart wait is tested elsewhere (test_cli_walk.py); here it runs out.
    env.update({"PHONOS_URL": service.url_for(transport), "PHONOS_API_KEY": key, "PYTHONPATH": CLIENT_PATH,
                "PHONOS_CONFIG": str(tmp_path / "config.toml"), "PHONOS_MAX_RETRY_WAIT": "1"})
    command = subprocess.Popen([sys.executable, "-m", "phonos_client", "fold", "MKTAYIAKQRQISFVKSHFSRQ", "--out",
                                str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        jobs = wait_until(lambda: service.client(key).get("/v1/jobs").json()["jobs"], 30)
        job_id = jobs[0]["job_id"]
        wait_until(lambda: service.client(key).get(f"/v1/jobs/{job_id}").json()["status"] == "running", 10)
        time.sleep(0.5)  # the command's watch stream is open
        service.stop()
        stdout, stderr = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 7, stderr
    # piped stderr: the progress lines, the error's one line as any other failure says it, then the jobs
    error, said, again = stderr.splitlines()[-3:]
    assert error.startswith("phonos: ") and str(service.grpc_port if transport == "grpc" else service.http_port) \
        in error, stderr
    assert said == "the jobs were submitted and may still run on the server; follow them again with:"
    assert again == f"  phonos jobs watch {job_id} --out {out}", stderr
    assert stdout == ""


def test_credits_running_out_in_a_later_batch_name_the_jobs_already_submitted(twin_factory: type,
                                                                             tmp_path: Path) -> None:
    """A FASTA of 12 records goes in two batches (10 + 2); with credits for 10 jobs the second is a 402, after the
    first ten were accepted and charged. The command said only the 402: ten running jobs, their ids unsaid. Then it
    named them in a `jobs watch` line to run; now it follows and downloads them itself, and names the two records
    it could not send, with the 402's reason (exit 5)."""
    service = twin_factory.start(tmp_path / "var")
    key = service.new_key(credits=100)  # ten ESMFold jobs
    fasta = tmp_path / "many.fasta"
    fasta.write_text("".join(f">p{i}\nMKTAYIAKQRQISFVKSHFSRQ\n" for i in range(12)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_") and k not in ("COLUMNS", "LINES")}
    env.update({"PHONOS_URL": service.url_for("rest"), "PHONOS_API_KEY": key, "PYTHONPATH": CLIENT_PATH,
                "PHONOS_CONFIG": str(tmp_path / "config.toml")})
    ran = subprocess.run([sys.executable, "-m", "phonos_client", "fold", str(fasta), "--out", str(tmp_path / "o")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 5, ran.stderr
    submitted = sorted(j["job_id"] for j in service.client(key).get("/v1/jobs").json()["jobs"])
    assert len(submitted) == 10
    rows = [line.split("\t") for line in ran.stdout.splitlines()]
    assert sorted(row[1] for row in rows if row[2] == "completed") == submitted
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(f"p{i}.pdb" for i in range(10))
    assert [row[:3] for row in rows if row[2] == "rejected"] == [["p10", "-", "rejected"], ["p11", "-", "rejected"]]
    summary, reason = ran.stderr.splitlines()[-2:]
    assert summary == "phonos: 2 of 12 records were rejected by the server (not submitted, not charged):"
    assert reason.startswith("  p10, p11: Insufficient credits: ") and "balance is 0" in reason, ran.stderr
