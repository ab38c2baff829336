"""The users' `phonos` command as a user runs it: a real process, in a pseudo-terminal or with --json,
against the in-process service on the inference twin (the real-Triton run is tests/e2e/test_cli_with_triton.py)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shlex
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from phonos_models.common.progress import Progress
from prometheus_client import REGISTRY

from jobservice import ratelimit
from jobservice.memory_inference import Failure, Progressing, Slow
from tests.support import REPO, InProcessService, WebhookReceiver, wait_until

pytestmark = pytest.mark.e2e

CLIENT_PATH = str(REPO / "clients" / "python")
RECEPTOR = REPO / "tests" / "diffdock" / "data" / "receptor_small.pdb"
FASTA = ">sp|P69905|HBA_HUMAN Hemoglobin alpha\nMVLSPADKTNVKAAWGKVGAHAGEYGAEALERMF\n>p2 second\nMGSSHHHHHHSSGLVPRGSH\n>p3\nMKTAYIAKQRQISFVKSHFSRQ\n"
TRANSPORTS = ("rest", "grpc")  # PHONOS_URL=http://... or grpc://host:port (the job service's gRPC port)
PASSES = tuple(Progress("recycle", i, 3, f"trunk pass {i} of 3 (recycle {i - 1} of 2)") for i in range(1, 4))


# No saved login, and the addresses that answered are noted here, not in the home of whoever runs the tests.
CONFIG = str(Path(tempfile.mkdtemp(prefix="phonos-cli-")) / "config.toml")


def env_for(service: InProcessService, key: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    env.update({"PHONOS_URL": service.base_url, "PHONOS_API_KEY": key, "PYTHONPATH": CLIENT_PATH,
                "PHONOS_CONFIG": CONFIG, **extra})
    return env


def phonos(service: InProcessService, key: str, *args: str, cwd: Path | None = None, stdin: str | None = None,
           **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phonos_client", *args], env=env_for(service, key, **extra),
                          capture_output=True, text=True, timeout=120, cwd=cwd, input=stdin)


def phonos_at_once(service: InProcessService, key: str, *commands: tuple[str, ...], cwd: Path | None = None,
                   **extra: str) -> list[subprocess.CompletedProcess[str]]:
    """`phonos(service, key, *command)` for each command, all started together (commands that neither change
    what the others read nor depend on their order): each is a Python start-up (~0.35 s), and the second core
    runs one while the first runs another."""
    processes = [(command, subprocess.Popen([sys.executable, "-m", "phonos_client", *command],
                                            env=env_for(service, key, **extra), stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE, text=True, cwd=cwd)) for command in commands]
    done = []
    for command, process in processes:
        stdout, stderr = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess([sys.executable, "-m", "phonos_client", *command], process.returncode,
                                                stdout, stderr))
    return done


def in_a_terminal(service: InProcessService, key: str, *args: str) -> tuple[int, str]:
    """Run the command with a pseudo-terminal as its stdin, stdout and stderr; what the screen got."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "phonos_client", *args], env=env_for(service, key),
                               stdin=terminal, stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    screen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            screen += chunk
        elif process.poll() is not None:
            break
    os.close(controller)
    return process.wait(30), screen.decode(errors="replace")


@pytest.fixture
def service(twin_factory: type) -> InProcessService:
    return twin_factory.start(PHONOS_MODELS="esmfold,diffdock")


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fold_a_three_record_fasta_with_json_output(service: InProcessService, tmp_path: Path, transport: str) -> None:
    key = service.new_key(credits=100)
    (tmp_path / "proteins.fasta").write_text(FASTA)
    ran = phonos(service, key, "fold", str(tmp_path / "proteins.fasta"), "--model", "esmfold", "-p", "num_recycles=2",
                 "--out", str(tmp_path / "folds"), "--formats", "pdb,json", "--json",
                 PHONOS_URL=service.url_for(transport))
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)["jobs"]  # nothing but the JSON on stdout
    assert [(j["name"], j["status"]) for j in report] == [("sp|P69905|HBA_HUMAN", "completed"), ("p2", "completed"),
                                                          ("p3", "completed")]
    assert sorted(p.name for p in (tmp_path / "folds").iterdir()) == [
        "p2.json", "p2.pdb", "p3.json", "p3.pdb", "sp_P69905_HBA_HUMAN.json", "sp_P69905_HBA_HUMAN.pdb"]
    assert report[0]["files"] == [str(tmp_path / "folds" / "sp_P69905_HBA_HUMAN.pdb"),
                                  str(tmp_path / "folds" / "sp_P69905_HBA_HUMAN.json")]
    jobs = service.client(key).get("/v1/jobs").json()["jobs"]
    assert sorted(j["name"] for j in jobs) == ["p2", "p3", "sp|P69905|HBA_HUMAN"]  # one batch, named after the ids
    assert service.client(key).balance() == 70


def test_fold_names_each_job_after_its_fasta_id_as_written(service: InProcessService, tmp_path: Path) -> None:
    """The server's job names were the ids made file names (`sp_P01308_INS_HUMAN`, `etc_evil`, `dup_2`), so
    `jobs ls --name "sp|P01308"` found nothing. Now the jobs have the ids as written and the files keep the safe,
    unique names; two jobs of one name are told apart by id and file; the run's key gets the same jobs again."""
    key = service.new_key(credits=100)
    (tmp_path / "in.fasta").write_text(">sp|P01308|INS_HUMAN Insulin\nMALWMRLLPLLALLALWGPD\n>../../etc/evil\n"
                                       "MKTAYIAKQRQISFVKSHFSRQ\n>dup\nMGSSHHHHHHSSGLVPRGSH\n>dup\nMKVLAAGIVG\n")
    argv = ("fold", str(tmp_path / "in.fasta"), "--out", str(tmp_path / "folds"), "--json", "--idempotency-key", "run1")
    ran = phonos(service, key, *argv)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)["jobs"]
    assert [(j["name"], Path(j["files"][0]).name) for j in report] == [
        ("sp|P01308|INS_HUMAN", "sp_P01308_INS_HUMAN.pdb"), ("../../etc/evil", "etc_evil.pdb"), ("dup", "dup.pdb"),
        ("dup", "dup_2.pdb")]
    assert len({j["job_id"] for j in report}) == 4
    found = phonos(service, key, "jobs", "ls", "--name", "sp|P01308", "--json")
    assert [j["job_id"] for j in json.loads(found.stdout)["jobs"]] == [report[0]["job_id"]], found.stderr
    dups = phonos(service, key, "jobs", "ls", "--name", "dup", "--json")
    assert sorted(j["job_id"] for j in json.loads(dups.stdout)["jobs"]) == sorted(j["job_id"] for j in report[2:])
    again = phonos(service, key, *argv)  # the same run's key: the server's stored answer, nothing charged again
    assert again.returncode == 0, again.stderr
    assert [(j["name"], j["job_id"]) for j in json.loads(again.stdout)["jobs"]] == [
        (j["name"], j["job_id"]) for j in report]
    assert service.client(key).balance() == 60


def test_fold_in_a_terminal_draws_one_progress_bar_per_job(service: InProcessService, tmp_path: Path) -> None:
    key = service.new_key()
    # 0.3 s apart: the command watches after submitting, and a watcher that joins late gets only the latest pass;
    # p2's first pass must still be drawn: joined after its second pass (0.3 s into its run at 0.15 s apart), it is not.
    for _ in range(3):
        service.inference.script("esmfold", Progressing(PASSES, 0.3))
    (tmp_path / "proteins.fasta").write_text(FASTA)
    code, screen = in_a_terminal(service, key, "fold", str(tmp_path / "proteins.fasta"), "--out", str(tmp_path))
    assert code == 0, screen
    assert "\x1b[2K" in screen and "\x1b[3F" in screen  # three rows, redrawn in place
    assert re.search(r"p2 +\[#{8}-{16}\]  33% running +trunk pass 1 of 3", screen), screen
    assert re.search(r"p3 +\[#{24}\] 100% completed +p3\.pdb", screen), screen
    report = screen.replace("\r\n", "\n").splitlines()[-4:]  # on a terminal the outcome is a table too
    assert re.fullmatch(r"NAME {17}JOB ID {32}STATUS +FILES / ERROR", report[0]), report
    assert {line.index(str(tmp_path)) for line in report[1:]} == {report[0].index("FILES")}, report
    assert (tmp_path / "p3.pdb").exists()


def test_jobs_ls_in_a_terminal_is_a_table_with_a_header_and_piped_the_rows_alone(service: InProcessService) -> None:
    key = service.new_key()
    api = service.client(key)
    names = ["タンパク質の折りたたみ", "plain"]  # wide characters: two terminal cells each
    ids = [api.post("/v1/predict", json={"model": "esmfold", "sequence": "MKTAYIAKQR", "name": n}).json()["job_id"]
           for n in names]
    for job_id in ids:
        api.wait_for(job_id)
    code, screen = in_a_terminal(service, key, "jobs", "ls")
    assert code == 0, screen
    lines = screen.replace("\r\n", "\n").splitlines()
    assert re.fullmatch(r"JOB ID {32}MODEL {4}STATUS {5}CREATED {19}NAME", lines[0]), lines
    assert [line.split()[0] for line in lines[1:]] == ids[::-1]
    assert {line.index("completed") for line in lines[1:]} == {lines[0].index("STATUS")}  # columns line up
    assert lines[2].endswith("  タンパク質の折りたたみ")
    piped = phonos(service, key, "jobs", "ls").stdout.splitlines()  # for cut and awk: as it always was
    assert [line.split("\t")[::4] for line in piped] == [[ids[1], "plain"], [ids[0], names[0]]]


def test_number_columns_in_a_terminal_are_right_aligned(service: InProcessService) -> None:
    key = service.new_key(credits=1000)
    service.client(key).wait_for(service.client(key).predict().json()["job_id"])
    code, screen = in_a_terminal(service, key, "account", "credits")
    assert code == 0, screen
    lines = screen.replace("\r\n", "\n").splitlines()
    assert re.fullmatch(r"WHEN +CHANGE  BALANCE  WHY", lines[0]), lines
    change_end, balance_end = lines[0].index("CHANGE") + 6, lines[0].index("BALANCE") + 7
    # each number ends where its header ends, then the gap
    assert [(line[change_end - 5:change_end + 2], line[balance_end - 5:balance_end + 2]) for line in lines[1:]] == [
        ("  -10  ", "  990  "), ("+1000  ", " 1000  ")], lines
    code, screen = in_a_terminal(service, key, "account", "credits", "--limit", "1")
    newest = service.client(key).get("/v1/account/credits", params={"limit": 1}).json()["entries"][0]["id"]
    assert code == 0 and screen.replace("\r\n", "\n").splitlines()[-1] == (  # the rest is not nothing
        f"(1 of 2: --all for every one, --starting-after {newest} for the next page)"), screen
    code, screen = in_a_terminal(service, key, "account", "credits", "--limit", "1", "--starting-after", str(newest))
    lines = screen.replace("\r\n", "\n").splitlines()
    assert code == 0 and len(lines) == 2 and "+1000" in lines[1], screen  # the grant, and no hint: the last page
    code, screen = in_a_terminal(service, key, "models")
    costs = screen.replace("\r\n", "\n").splitlines()
    cost_end = costs[0].index("COST") + 4
    assert code == 0 and {line[:cost_end].endswith(" credits") for line in costs[1:]} == {True}, costs


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_fold_reads_standard_input_as_the_dashboard_form_does(service: InProcessService, transport: str) -> None:
    """A sequence with no header, or before the first one, is a job named seq1 (the form's name for it);
    text with no sequence is refused before anything is sent."""
    key = service.new_key(credits=100)

    def fold(text: str) -> subprocess.CompletedProcess[str]:
        return phonos(service, key, "fold", "-", "--no-wait", "--json", stdin=text, PHONOS_URL=service.url_for(transport))

    ran = fold("MKTAYIAKQRQISFVKSHFSRQ\n")
    assert ran.returncode == 0, ran.stderr
    ran = fold("MKTAYIAKQR\nQISFVKSHFS\n>p2 second\nMGSSHHHHHHSSGLVPRGSH\n")
    assert ran.returncode == 0, ran.stderr
    refused = fold(">only a header\n")
    assert (refused.returncode, refused.stderr.strip()) == (2, 'phonos: FASTA record "only a header" has no sequence')
    jobs = service.client(key).get("/v1/jobs").json()["jobs"][::-1]
    sent = [service.client(key).get(f"/v1/jobs/{j['job_id']}/input").json() for j in jobs]
    assert [(j["name"], s["sequence"]) for j, s in zip(jobs, sent, strict=True)] == [
        ("seq1", "MKTAYIAKQRQISFVKSHFSRQ"), ("seq1", "MKTAYIAKQRQISFVKSHFS"), ("p2", "MGSSHHHHHHSSGLVPRGSH")]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_list_verbs_page_with_starting_after(service: InProcessService, transport: str) -> None:
    key = service.new_key(credits=100)
    client = service.client(key)
    ids = [client.predict(name=f"job {n}").json()["job_id"] for n in range(4)][::-1]  # newest first

    history = client.get("/v1/account/credits").json()["entries"]
    # Reads only: started together (phonos_at_once).
    *pages, ran = phonos_at_once(
        service, key, *(("jobs", "ls", "--json", *args) for args in (
            ("--limit", "2"), ("--limit", "2", "--starting-after", ids[1]), ("--all", "--starting-after", ids[0]),
            ("--starting-after", ids[3]))),
        ("account", "credits", "--json", "--starting-after", str(history[1]["id"])), PHONOS_URL=service.url_for(transport))
    assert [page.returncode for page in pages] == [0] * 4, [page.stderr for page in pages]
    documents = [json.loads(page.stdout) for page in pages]  # the API's answer: {"jobs": [...], "pagination": {...}}
    listed = [[j["job_id"] for j in document["jobs"]] for document in documents]
    assert listed == [ids[:2], ids[2:], ids[1:], []]
    assert documents[0]["pagination"] == {"total": 4, "limit": 2, "offset": 0, "has_more": True,
                                          "next_starting_after": ids[1]}  # a script pages by it
    assert documents[2]["pagination"] == {"total": 3, "limit": 3, "offset": 0, "has_more": False}  # --all: all
    assert ran.returncode == 0 and json.loads(ran.stdout)["entries"] == history[2:], ran.stderr
    code, screen = in_a_terminal(service, key, "jobs", "ls", "--limit", "1", "--starting-after", ids[1])
    assert code == 0 and screen.replace("\r\n", "\n").splitlines()[-1] == (
        f"(1 of 4: --all for every one, --starting-after {ids[2]} for the next page)"), screen


def test_watching_a_finished_job_in_a_terminal_shows_it_finished(service: InProcessService) -> None:
    key = service.new_key()
    job_id = service.client(key).predict().json()["job_id"]
    service.client(key).wait_for(job_id)
    code, screen = in_a_terminal(service, key, "jobs", "watch", job_id)
    assert code == 0, screen
    assert re.search(r"\[#{24}\] 100% completed", screen) and "pending" not in screen, screen


def test_fold_dash_on_a_terminal_says_what_it_waits_for_and_folds_what_is_pasted(service: InProcessService,
                                                                                 tmp_path: Path) -> None:
    """`phonos fold -` typed with nothing piped in waited in silence; it says it reads the terminal and how to end."""
    key = service.new_key()
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "phonos_client", "fold", "-", "--out", str(tmp_path / "out")],
                               env=env_for(service, key), stdin=terminal, stdout=terminal, stderr=terminal,
                               close_fds=True)
    os.close(terminal)
    screen = b""
    try:
        deadline = time.monotonic() + 60
        while b"Ctrl-D" not in screen and time.monotonic() < deadline and process.poll() is None:
            if select.select([controller], [], [], 0.2)[0]:
                screen += os.read(controller, 65536)
        assert b"phonos: reading FASTA or a sequence from the terminal: paste it, then press Ctrl-D" in screen, screen
        os.write(controller, b">pasted\nMKTVRQERLKSIVRILERSKEPV\n\x04")  # Ctrl-D at a line's start: the end
        while process.poll() is None and time.monotonic() < deadline + 60:
            if select.select([controller], [], [], 0.2)[0]:
                try:
                    screen += os.read(controller, 65536)
                except OSError:
                    break
        assert process.wait(30) == 0, screen.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    assert (tmp_path / "out" / "pasted.pdb").is_file(), screen.decode(errors="replace")


def test_watching_every_job_names_each_one_until_ctrl_c(service: InProcessService) -> None:
    key = service.new_key()
    # Runs until the service stops: active whenever the command starts (a 3 s call could end before a loaded host
    # had started the command, and a finished job is in no opening snapshot: no line came).
    service.inference.script("esmfold", Slow(60))
    # active: in the opening snapshot. (A name with an escape sequence is a 400 now, jobservice/labels.py; one kept
    # from before is shown, not run: tests/unit/test_client_cli_text.py.)
    job_id = service.client(key).predict(name="kinase 1").json()["job_id"]
    watching = subprocess.Popen([sys.executable, "-m", "phonos_client", "jobs", "watch"], env=env_for(service, key),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert watching.stdout is not None
        assert select.select([watching.stdout], [], [], 60)[0], "no line from `phonos jobs watch` in 60 s"
        first = watching.stdout.readline()
    finally:
        watching.send_signal(signal.SIGINT)
        watching.communicate(timeout=30)
    assert first.startswith(f"{job_id} (kinase 1): ")  # which job, by its name too


def test_without_a_terminal_progress_is_plain_lines(service: InProcessService, tmp_path: Path) -> None:
    key = service.new_key()
    # 0.3 s apart: the first pass's line needs the command's watch open before the second (0.05 s was a race).
    service.inference.script("esmfold", Progressing(PASSES, 0.3))
    ran = phonos(service, key, "fold", "MKTAYIAKQRQISFVKSHFSRQ", "--out", str(tmp_path))
    assert ran.returncode == 0, ran.stderr
    lines = ran.stderr.splitlines()
    assert "\x1b" not in ran.stderr and "sequence: running" in lines
    assert any(line.startswith("sequence: [recycle] trunk pass 1 of 3") for line in lines)
    assert lines[-1] == "sequence: completed - sequence.pdb"
    # Its own folder: a second sequence.pdb in the same one is named by its job id (tests/service/test_cli_small_fixes.py).
    # A file only some jobs make (relax's), which this job lacks: said on its line, and exit 4 (not found) as
    # `jobs download --format relaxed_pdb` of it would be, so a script does not go on without it. (A typo, no
    # job's format, is refused before the job is sent: tests/unit/test_cli_daily_use.py.)
    lacking = phonos(service, key, "fold", "MKTAYIAKQRQISFVKSHFSRQ", "--out", str(tmp_path / "typo"),
                     "--formats", "pdb,relaxed_pdb")
    assert lacking.returncode == 4, lacking.stderr
    assert lacking.stderr.splitlines()[-1].startswith("sequence: completed - sequence.pdb; no relaxed_pdb (this job "
                                                      "has pdb, ")
    assert ran.stdout.split("\t")[0] == "sequence" and "completed" in ran.stdout


def test_dock_a_ligand_file(service: InProcessService, tmp_path: Path) -> None:
    key = service.new_key(credits=1000)
    (tmp_path / "ligands.smi").write_text("CC(=O)Oc1ccccc1C(=O)O aspirin\nCCO ethanol\n")
    (tmp_path / "ligands.csv").write_text("complex_name,protein_path,ligand_description,protein_sequence\n"
                                          "caffeine,,Cn1cnc2c1c(=O)n(C)c(=O)n2C,\n")
    (tmp_path / "ligands.sdf").write_text("phenol\n  made by hand\n\n  0  0  0  0  0  0            999 V2000\nM  END\n"
                                          ">  <SMILES>\nOc1ccccc1\n\n$$$$\n")
    for name, expected in (("ligands.smi", ["aspirin", "ethanol"]), ("ligands.csv", ["caffeine"]),
                           ("ligands.sdf", ["phenol"])):
        ran = phonos(service, key, "dock", "--protein", str(RECEPTOR), "--ligands", str(tmp_path / name),
                     "--samples", "2", "--steps", "10", "--out", str(tmp_path / "docked"), "--json")
        assert ran.returncode == 0, ran.stderr
        report = json.loads(ran.stdout)["jobs"]
        assert [(j["name"], j["status"]) for j in report] == [(n, "completed") for n in expected]
        for ligand in expected:
            assert (tmp_path / "docked" / f"{ligand}.pdb").exists() and (tmp_path / "docked" / f"{ligand}.sdf").exists()
    # --no-wait says how to follow them later and fetch what dock would have: the poses (sdf) too
    unfollowed = phonos(service, key, "dock", "--protein", str(RECEPTOR), "--ligand", "CCO", "--samples", "2",
                        "--no-wait", "--out", "later docked", cwd=tmp_path)
    later = unfollowed.stdout.split("\t")[1]
    hint = unfollowed.stderr.splitlines()[-1].strip()
    assert hint == f"phonos jobs watch {later} --out 'later docked' --formats pdb,sdf", unfollowed.stderr
    followed = phonos(service, key, *shlex.split(hint)[1:], cwd=tmp_path)
    assert followed.returncode == 0, followed.stderr
    assert sorted(p.name for p in (tmp_path / "later docked").iterdir()) == ["ligand.pdb", "ligand.sdf"]
    jobs = service.client(key).get("/v1/jobs", params={"model": "diffdock"}).json()["jobs"]
    assert len(jobs) == 5
    service.inference.script("esmfold", Failure.MODEL_ERROR)  # a fold that failed has nothing to dock into, ever
    failed = service.client(key).predict().json()["job_id"]
    service.client(key).wait_for(failed)
    refused = phonos(service, key, "dock", "--protein", failed, "--ligand", "CCO", "--no-wait")
    assert refused.returncode == 8 and f"protein_pdb job {failed} is failed: it has no structure to dock into; " \
        "fold the protein again, or give a completed job" in refused.stderr, refused.stderr


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_ctrl_c_leaves_the_jobs_running_and_says_how_to_resume(service: InProcessService, tmp_path: Path,
                                                                 transport: str) -> None:
    key = service.new_key()
    service.inference.script("esmfold", Slow(30))
    process = subprocess.Popen([sys.executable, "-m", "phonos_client", "fold", "MKTAYIAKQRQISFVKSHFSRQ", "--out",
                                str(tmp_path)], env=env_for(service, key, PHONOS_URL=service.url_for(transport)),
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    jobs = wait_until(lambda: service.client(key).get("/v1/jobs").json()["jobs"], 30)
    wait_until(lambda: service.client(key).get(f"/v1/jobs/{jobs[0]['job_id']}").json()["status"] == "running", 10)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    # the command to follow them again fetches the files this one would have
    assert f"phonos jobs watch {jobs[0]['job_id']} --out {tmp_path}\n" in stderr and "keep running" in stderr
    assert service.client(key).get(f"/v1/jobs/{jobs[0]['job_id']}").json()["status"] == "running"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_exit_codes_say_what_failed(service: InProcessService, tmp_path: Path, transport: str) -> None:
    key = service.new_key(credits=5)
    url = service.url_for(transport)
    wrong = phonos(service, "pk_wrong", "account", PHONOS_URL=url)
    assert wrong.returncode == 3 and "'phonos" not in wrong.stderr  # said as a person reads it, not Python-quoted
    assert "`phonos keys add --username NAME`). (the key came from PHONOS_API_KEY; `phonos login` stores another)" \
        in wrong.stderr
    missing, poor, no_file, too_many = phonos_at_once(  # none changes anything: started together
        service, key, ("jobs", "show", "no-such-job"), ("fold", "MKTAYIAKQRQ"), ("fold", str(tmp_path / "missing.fasta")),
        ("jobs", "ls", "--limit", "500"), PHONOS_URL=url)
    assert missing.returncode == 4
    assert poor.returncode == 5 and "Insufficient credits" in poor.stderr
    assert no_file.returncode == 2
    assert too_many.returncode == 2  # out of the API's range: a usage error, before any request


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_records_the_server_rejects_exit_with_the_invalid_request_code_and_are_named(
        service: InProcessService, tmp_path: Path, transport: str) -> None:
    """A batch's items are refused one by one (a model this server does not serve, a bad sequence): all refused
    is exit 8 (invalid request), not 1 (a job failed); some refused is 8 too, once the others have completed,
    and stderr names each refused record and why."""
    key = service.new_key(credits=100)
    (tmp_path / "proteins.fasta").write_text(FASTA)
    url = service.url_for(transport)
    unserved = phonos(service, key, "fold", str(tmp_path / "proteins.fasta"), "--model", "alphafold2",
                      "--out", str(tmp_path), PHONOS_URL=url)
    assert unserved.returncode == 8, unserved.stderr
    assert "phonos: 3 of 3 records were rejected by the server (not submitted, not charged):" in unserved.stderr
    # one line a reason, naming its records: not the same message three times
    assert re.search(r"^  sp\|P69905\|HBA_HUMAN, p2, p3: Invalid request: Model \"alphafold2\" is not served here \(the "
                     r"server's PHONOS_MODELS\)\. Available models: esmfold, diffdock$", unserved.stderr,
                     re.M), unserved.stderr
    assert service.client(key).balance() == 100
    (tmp_path / "mixed.fasta").write_text(">good\nMKTAYIAKQRQ\n>bad\nMKV*J1\n>fine\nMGSSHHHHHH\n")
    mixed = phonos(service, key, "fold", str(tmp_path / "mixed.fasta"), "--out", str(tmp_path), "--json",
                   PHONOS_URL=url)
    assert mixed.returncode == 8, mixed.stderr
    report = json.loads(mixed.stdout)["jobs"]
    assert [(j["name"], j["status"]) for j in report] == [("good", "completed"), ("bad", "rejected"),
                                                          ("fine", "completed")]
    assert "phonos: 1 of 3 records were rejected by the server (not submitted, not charged):\n  bad: Invalid request: " \
        in mixed.stderr and "invalid amino-acid" in mixed.stderr
    assert (tmp_path / "good.pdb").exists() and (tmp_path / "fine.pdb").exists()


def test_a_failed_job_exits_1(service: InProcessService, tmp_path: Path) -> None:
    from jobservice.memory_inference import Failure

    key = service.new_key()
    service.inference.script("esmfold", Failure.MODEL_ERROR)
    ran = phonos(service, key, "fold", "MKTAYIAKQRQ", "--json", "--out", str(tmp_path))
    assert ran.returncode == 1
    assert json.loads(ran.stdout)["jobs"][0]["status"] == "failed"


def test_login_writes_a_private_config_that_later_commands_use(service: InProcessService, tmp_path: Path) -> None:
    key = service.new_key(username="ada")
    config = tmp_path / "phonos.toml"
    login = subprocess.run([sys.executable, "-m", "phonos_client", "login", "--url", service.base_url],
                           input=key + "\n", capture_output=True, text=True, timeout=60,
                           env={**env_for(service, key), "PHONOS_CONFIG": str(config), "PHONOS_API_KEY": ""})
    assert login.returncode == 0, login.stderr
    assert "as ada" in login.stdout and stat.S_IMODE(config.stat().st_mode) == 0o600
    env = {**env_for(service, key), "PHONOS_CONFIG": str(config), "PHONOS_API_KEY": "", "PHONOS_URL": ""}
    account = subprocess.run([sys.executable, "-m", "phonos_client", "account", "--json"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert account.returncode == 0 and json.loads(account.stdout)["account"]["username"] == "ada"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_jobs_usage_and_webhooks_verbs(service: InProcessService, tmp_path: Path, transport: str) -> None:
    key = service.new_key()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return phonos(service, key, *args, PHONOS_URL=service.url_for(transport))

    submitted = json.loads(run("fold", "MKTAYIAKQRQ", "--no-wait", "--json").stdout)["jobs"][0]
    job_id = submitted["job_id"]
    service.client(key).wait_for(job_id)
    # Reads of the finished job and the account (and a download, a refused cancel): none changes what another reads.
    (listed, unnamed, none, every, shown_json, shown, got, watched, cancelled_done, account, credits, one_credit,
     refused) = phonos_at_once(
        service, key, ("jobs", "ls", "--json"), ("jobs", "ls", "--name", "no job is called this", "--json"),
        ("jobs", "ls", "--name", "no job is called this"), ("jobs", "ls", "--status", "all", "--model", "all", "--json"),
        ("jobs", "show", job_id, "--json"), ("jobs", "show", job_id),
        ("jobs", "download", job_id, "--format", "cif", "--out", str(tmp_path)), ("jobs", "watch", job_id, "--json"),
        ("jobs", "cancel", job_id), ("account",), ("account", "credits", "--json"),
        ("account", "credits", "--limit", "1"), ("account", "credits", "--limit", "0"),
        PHONOS_URL=service.url_for(transport))
    listed = json.loads(listed.stdout)
    assert [j["job_id"] for j in listed["jobs"]] == [job_id]
    assert json.loads(unnamed.stdout)["jobs"] == []
    # piped: no rows, so nothing (a script's loop sees none)
    assert (none.returncode, none.stdout, none.stderr) == (0, "", "no jobs\n")
    assert json.loads(every.stdout) == listed  # the API's
    assert json.loads(shown_json.stdout)["status"] == "completed"
    shown = shown.stdout  # values in JSON's words, as --json and the API write them
    assert re.search(r'^formats: +\["pdb", "cif", ', shown, re.M) and re.search("^metrics: +{", shown, re.M)
    assert "'" not in shown and len({len(re.match(r"\w+: +", line)[0]) for line in shown.splitlines()}) == 1  # a column
    assert got.returncode == 0 and (tmp_path / f"{job_id}.cif").exists()
    assert watched.returncode == 0 and json.loads(watched.stdout)["jobs"][0]["status"] == "completed"
    assert cancelled_done.returncode == 8  # completed: nothing to cancel
    assert account.stdout.endswith(": 9990 credits; jobs: 1 total, 1 completed, 0 active, 0 failed, 0 cancelled\n")
    history = json.loads(credits.stdout)["entries"]  # newest first
    assert [(e["kind"], e.get("job_id")) for e in history] == [("charge", job_id), ("grant", None)]
    assert history[0]["balance_after"] == history[1]["amount"] + history[0]["amount"]
    assert one_credit.stdout.split("\t")[1:] == [
        str(history[0]["amount"]), str(history[0]["balance_after"]), f"charge: esmfold job submitted {job_id}\n"]
    # out of the API's range: a usage error, before any request, in the flag's words
    assert refused.returncode == 2 and "--limit must be between 1 and 100, got 0" in refused.stderr
    entries = service.client(key).get("/v1/account/credits").json()["entries"]
    assert history == entries  # the API's entries, field for field
    service.inference.script("esmfold", Slow(30))
    slow = json.loads(run("fold", "MKTAYIAKQRQ", "--no-wait", "--json").stdout)["jobs"][0]["job_id"]
    # Running, so that it took the slow call: cancelled while still pending (a loaded host), it left the call to
    # the "to delete" fold below, which then took 30 s.
    wait_until(lambda: service.client(key).get(f"/v1/jobs/{slow}").json()["status"] == "running", 30)
    cancelled = json.loads(run("jobs", "cancel", slow, "--json").stdout)  # the API's answer, as the seed shows it
    assert cancelled.pop("credits_refunded") == 0  # it ran: what it computed stays charged
    assert cancelled == {"success": True, "job_id": slow, "status": "cancelled", "message": "Job cancelled successfully"}
    api = service.client(key)
    account, usage, usage_line = phonos_at_once(service, key, ("account", "--json"),
                                                ("usage", "--days", "1", "--json"), ("usage", "--days", "1"),
                                                PHONOS_URL=service.url_for(transport))
    assert json.loads(account.stdout) == api.get("/v1/account").json()  # the seed's shape
    assert json.loads(usage.stdout)["totals"]["requests"] >= 4
    assert usage_line.stdout.startswith("last day: ")  # was "last 1 days"
    created, said = phonos_at_once(  # two webhooks made together: neither reads the other
        service, key, ("webhooks", "create", "http://127.0.0.1:9/h", "--event", "job.failed", "--json"),
        ("webhooks", "create", "http://127.0.0.1:9/other"), PHONOS_URL=service.url_for(transport))
    created = json.loads(created.stdout)
    assert set(created) == {"success", "webhook", "secret", "message"} and created["secret"]  # POST /v1/webhooks's
    hook = created["webhook"]
    assert hook["events"] == ["job.failed"]
    # piped: one line, the id and the secret (shown this once) tab-separated; on a terminal each on a line of its own
    hook_id, secret = said.stdout.removesuffix("\n").split("\t")
    assert hook_id.startswith("wh_") and secret.startswith("whsec_") and said.stderr == ""
    assert run("webhooks", "delete", hook_id).returncode == 0
    hooks, tested, unanswered = phonos_at_once(
        service, key, ("webhooks", "ls", "--json"), ("webhooks", "test", hook["webhook_id"], "--json"),
        ("webhooks", "test", hook["webhook_id"]), PHONOS_URL=service.url_for(transport))
    assert json.loads(hooks.stdout) == api.get("/v1/webhooks").json() == {"webhooks": [hook]}  # the API's answer
    assert tested.returncode == 1  # nobody listens on :9
    assert set(json.loads(tested.stdout)) == {"success", "webhook_id", "status_code", "message"}
    assert unanswered.stdout.startswith("The receiver could not be reached")  # not "receiver answered 0"
    # (Commands started together below touch different webhooks and jobs: none reads what another changes.)
    deleted_hook, named = phonos_at_once(
        service, key, ("webhooks", "delete", hook["webhook_id"], "--json"),
        ("fold", "MKTAYIAKQRQ", "--name", "to delete", "--out", str(tmp_path), "--json"),
        PHONOS_URL=service.url_for(transport))
    # Deletes print the API's answer with --json too, as every other verb does (not a shape of the command's own).
    assert json.loads(deleted_hook.stdout) == {
        "success": True, "webhook_id": hook["webhook_id"], "message": "Webhook deleted"}
    named = json.loads(named.stdout)
    kept = named["jobs"][0]["job_id"]
    assert named["jobs"][0]["files"] == [str(tmp_path / "to_delete.pdb")]  # --name: the files' made safe
    assert api.get(f"/v1/jobs/{kept}").json()["name"] == "to delete"  # the job's as typed
    removed_kept, removed = phonos_at_once(service, key, ("jobs", "rm", kept, "--json"), ("jobs", "rm", job_id),
                                           PHONOS_URL=service.url_for(transport))
    assert json.loads(removed_kept.stdout) == [  # one answer a job
        {"success": True, "job_id": kept, "message": "Job deleted: its results and inputs are gone"}]
    assert removed.returncode == 0 and removed.stdout.strip() == f"{job_id} deleted"
    gone_shown, gone_removed, unfollowed = phonos_at_once(
        service, key, ("jobs", "show", job_id), ("jobs", "rm", job_id),
        ("fold", "MKTAYIAKQRQ", "--no-wait", "--name", "later", "--out", "folds"),  # says how to follow
        PHONOS_URL=service.url_for(transport))
    assert gone_shown.returncode == 4 and gone_removed.returncode == 4  # gone
    later = unfollowed.stdout.split("\t")[1]
    assert unfollowed.stdout == f"later\t{later}\tpending\t\n"  # piped: the row alone, as it always was
    assert unfollowed.stderr.endswith(f"  phonos jobs watch {later} --out folds\n"), unfollowed.stderr
    # Several ids: one not found is said, and the ones after it are still deleted (was: stopped there, unsaid).
    wait_until(lambda: api.get(f"/v1/jobs/{later}").json()["status"] not in ("pending", "running"), 60)
    several = phonos(service, key, "jobs", "rm", job_id, later, PHONOS_URL=service.url_for(transport))
    assert several.returncode == 4 and several.stdout == f"{later} deleted\n", several
    assert f"not found: job {job_id}" in several.stderr and "not tried" not in several.stderr
    assert api.get(f"/v1/jobs/{later}").status_code == 404


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_jobs_rerun_submits_a_jobs_request_again(service: InProcessService, transport: str) -> None:
    key = service.new_key()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return phonos(service, key, *args, PHONOS_URL=service.url_for(transport))

    api = service.client(key)
    first = api.post("/v1/predict", json={"model": "esmfold", "sequence": "MKTAYIAKQRQ", "name": "try 1",
                                          "params": {"num_recycles": 2}}).json()["job_id"]
    again = run("jobs", "rerun", first, "--json")
    assert again.returncode == 0, again.stderr
    submitted = json.loads(again.stdout)
    assert submitted["job_id"] != first and submitted["credits_used"] == 10  # the API's answer to the submission
    copy = api.get(f"/v1/jobs/{submitted['job_id']}/input").json()
    original = api.get(f"/v1/jobs/{first}/input").json()
    assert (copy["name"], copy["sequence"], copy["params"]) == (original["name"], original["sequence"],
                                                               original["params"])
    renamed = run("jobs", "rerun", first, "--name", "try 2")
    assert renamed.returncode == 0 and f"(the request of {first})" in renamed.stdout
    assert api.get(f"/v1/jobs/{renamed.stdout.split()[0]}").json()["name"] == "try 2"
    assert run("jobs", "rerun", "no-such-job").returncode == 4


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_webhook_deliveries_and_redelivery(service: InProcessService, transport: str) -> None:
    key = service.new_key()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return phonos(service, key, *args, PHONOS_URL=service.url_for(transport))

    with WebhookReceiver() as receiver:
        hook = service.client(key).post("/v1/webhooks", json={"url": receiver.url, "events": ["job.completed"]}).json()
        hook_id = hook["webhook"]["webhook_id"]
        job_id = service.client(key).wait_for(service.client(key).predict().json()["job_id"])["job_id"]
        wait_until(lambda: len(receiver.requests) == 1, 15)
        page, human = phonos_at_once(service, key, ("webhooks", "deliveries", hook_id, "--json"),  # reads only
                                     ("webhooks", "deliveries", hook_id), PHONOS_URL=service.url_for(transport))
        page = json.loads(page.stdout)
        listed = page["deliveries"]
        assert [(d["event"], d["status"], d["job_id"], d["last_status_code"]) for d in listed] == [
            ("job.completed", "delivered", job_id, 200)]
        assert page == service.client(key).get(f"/v1/webhooks/{hook_id}/deliveries").json()  # the API's
        assert human.returncode == 0 and "\tjob.completed\t" in human.stdout and "HTTP 200" in human.stdout
        again = run("webhooks", "redeliver", hook_id, listed[0]["delivery_id"])
        assert again.returncode == 0 and again.stdout.startswith("queued again as delivery ")
        wait_until(lambda: len(receiver.requests) == 2, 15)
        tested = run("webhooks", "test", hook_id)  # the server's words, not "receiver answered 200: ... 200"
        assert (tested.returncode, tested.stdout) == (0, "Receiver answered HTTP 200\n")
    assert receiver.requests[1]["body"] == receiver.requests[0]["body"]
    # recorded as delivered a moment after the receiver answered
    wait_until(lambda: run("webhooks", "deliveries", hook_id, "--status", "pending").stderr == "no deliveries\n", 15)
    every = json.loads(run("webhooks", "deliveries", hook_id, "--all", "--json").stdout)["deliveries"]  # every page
    assert [d["delivery_id"] for d in every] == [d["delivery_id"] for d in service.client(key).get(
        f"/v1/webhooks/{hook_id}/deliveries").json()["deliveries"]]
    # The test event is in the log too, newest (kept there since the dashboard's "Last test" reads it).
    assert [d["event"] for d in every] == ["webhook.test", "job.completed", "job.completed"]
    older, unknown, refused = phonos_at_once(  # none changes what another reads: started together
        service, key, ("webhooks", "deliveries", hook_id, "--starting-after", every[0]["delivery_id"], "--json"),
        ("webhooks", "redeliver", hook_id, "12345678"), ("webhooks", "deliveries", hook_id, "--limit", "0"),
        PHONOS_URL=service.url_for(transport))
    assert json.loads(older.stdout)["deliveries"] == every[1:]  # the page after the newest
    assert unknown.returncode == 4  # no such delivery
    assert refused.returncode == 2  # --limit 0: a usage error, before any request


def test_one_phonos_command_for_users_and_operators() -> None:
    from phonos_models.alphafold2 import build_db

    from launcher.cli import build_parser

    parser = build_parser()
    db_build = parser._subparsers._group_actions[0].choices["db"]._subparsers._group_actions[0].choices["build"]  # type: ignore[union-attr]
    assert tuple(next(a for a in db_build._actions if a.dest == "name").choices) == build_db.DATABASE_NAMES
    verbs = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert {"serve", "keys", "db", "login", "fold", "dock", "jobs", "usage", "webhooks"} <= verbs
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'triton_models'}:{CLIENT_PATH}"}
    helped = subprocess.run([sys.executable, "-m", "launcher.cli", "fold", "--help"], env=env, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "--model" in helped.stdout  # the server's phonos runs the users' verbs


def test_input_files_it_cannot_use_are_usage_errors_before_any_request(service: InProcessService,
                                                                       tmp_path: Path) -> None:
    key = service.new_key(credits=100)
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00binary")
    (tmp_path / "image.smi").write_bytes(b"\x89PNG\r\n\x1a\n\x00binary")
    (tmp_path / "empty.fasta").write_text("\n")
    (tmp_path / "a_file").write_text("in the way\n")
    cases = [(("fold", "image.png"), "image.png: not a text file"),
             (("fold", "empty.fasta"), "empty.fasta: the file is empty"),
             (("dock", "--protein", "image.png", "--ligand", "CCO"), "image.png: not a text file"),
             (("dock", "--protein", str(RECEPTOR), "--ligands", "image.smi"), "image.smi: not a text file"),
             # --out in the flag's words, not "[Errno 17] File exists: 'a_file'"
             (("fold", "MKTAYIAKQR", "--out", "a_file"),
              "--out a_file: a file is there, not a folder; give a folder for the result files"),
             (("jobs", "watch", "x", "--out", "a_file"), "--out a_file: a file is there, not a folder"),
             (("fold", "MKTAYIAKQR", "--out", "/proc/phonos/folds"),
              "--out /proc/phonos/folds: cannot make the folder (No such file or directory)"),
             (("jobs", "download", "x", "--out", "nowhere/x.pdb"),  # said before the download
              "--out nowhere/x.pdb: there is no folder nowhere (end --out with / to make it a new folder)")]
    # Each is refused before any request: started together (phonos_at_once).
    runs = phonos_at_once(service, key, *(args for args, _ in cases), cwd=tmp_path)
    no_scheme = phonos(service, key, "jobs", "download", "x", "--out", "dl", cwd=tmp_path, PHONOS_URL="127.0.0.1:1")
    for ran, message in [*zip(runs, (message for _, message in cases), strict=True), (no_scheme, "")]:
        assert ran.returncode == 2 and "Traceback" not in ran.stderr, ran.stderr
        assert message in ran.stderr and "Errno" not in ran.stderr, ran.stderr
    assert "is not a server URL: give http(s)://host:port" in no_scheme.stderr
    assert no_scheme.stderr.rstrip().endswith("; it came from PHONOS_URL")  # where to fix it, as other URL errors say
    assert service.client(key).get("/v1/jobs").json()["jobs"] == []


def test_watched_jobs_files_are_named_safely_and_keep_their_extensions(service: InProcessService,
                                                                      tmp_path: Path) -> None:
    key = service.new_key()
    api = service.client(key)
    ids = [api.post("/v1/predict", json={"model": "esmfold", "sequence": "MKTAYIAKQR", "name": name}).json()["job_id"]
           for name in ("../../escape", "a/b c", "a/b c")]
    for job_id in ids:
        api.wait_for(job_id)
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    ran = phonos(service, key, "jobs", "watch", *ids, "--out", "out", "--formats", "all", cwd=work)
    assert ran.returncode == 0, ran.stderr
    names = sorted(p.name for p in (work / "out").iterdir())
    assert sorted(tmp_path.rglob("escape*")) == [work / "out" / n for n in names if n.startswith("escape")]
    formats = api.get(f"/v1/jobs/{ids[0]}").json()["formats"]
    endings = sorted(api.get(f"/v1/jobs/{ids[0]}/download", params={"format": f}).headers["content-disposition"]
                     .split(ids[0], 1)[1].rstrip('"') for f in formats)
    assert names == sorted(f"{stem}{ending}" for stem in ("a_b_c", "a_b_c_2", "escape") for ending in endings)
    # A --out ending in / is a folder (made if missing); a place that cannot be written is a usage error.
    got = phonos(service, key, "jobs", "download", ids[0], "--out", "new/", cwd=work)
    assert got.returncode == 0 and (work / "new" / f"{ids[0]}.pdb").is_file(), got.stderr
    cannot = phonos(service, key, "jobs", "download", ids[0], "--out", str(tmp_path / "missing" / "x.pdb"))
    assert cannot.returncode == 2 and "Traceback" not in cannot.stderr
    assert f"there is no folder {tmp_path / 'missing'}" in cannot.stderr


def refused() -> float:
    """Requests the in-process service has refused for a key's rate limit so far, over REST."""
    return REGISTRY.get_sample_value("phonos_rate_limit_rejections_total", {"transport": "rest"}) or 0.0


def test_a_bulk_download_over_the_keys_rate_limit_waits_its_turns_and_completes(
        service: InProcessService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`jobs watch` of eight finished jobs with a key allowed 2 requests a window: the downloads are refused
    (429) more times than two retries cover, and wait their turns (Retry-After) instead of ending the run
    with exit 6. The window is 1 s here instead of the API's 60, so the same refusals come in seconds."""
    monkeypatch.setattr(ratelimit, "WINDOW_S", 1.0)
    key = service.new_key(rate_limit=2)
    (tmp_path / "many.fasta").write_text("".join(f">p{i}\nMKTAYIAKQRQISFVKSHFSRQ\n" for i in range(8)))
    submitted = phonos(service, key, "fold", "many.fasta", "--no-wait", "--json", cwd=tmp_path)
    ids = [job["job_id"] for job in json.loads(submitted.stdout)["jobs"]]
    wait_until(lambda: all(service.sql("SELECT status FROM jobs WHERE id = ?", i)[0][0] == "completed" for i in ids),
               30)
    before = refused()
    watched = phonos(service, key, "jobs", "watch", *ids, "--out", "out", "--json", cwd=tmp_path)
    assert watched.returncode == 0, watched.stderr
    jobs = json.loads(watched.stdout)["jobs"]
    assert [(job["status"], len(job["files"])) for job in jobs] == [("completed", 1)] * 8
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"p{i}.pdb" for i in range(8)]
    assert refused() - before >= 6  # the run did go well over the limit
    said = [line for line in watched.stderr.splitlines() if line.startswith("phonos: rate limited")]
    assert said and said[0].startswith("phonos: rate limited (You have exceeded the rate limit of 2 requests per minute): "
                                       "trying again in ")  # why nothing moved for a while
