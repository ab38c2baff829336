"""After the forward pass: result files built in a worker process, Amber relax, and how each can end."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures.process import BrokenProcessPool

import pytest
from phonos_models.common.errors import Cancelled
from phonos_models.common.file_workers import FileWorkers
from phonos_models.common.relax import relax_structures
from phonos_models.common.relax_check import unrelaxable
from phonos_models.common.result_files import ModelResult
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.files import model_result, pdb_text
from phonos_models.esmfold.finishing import Finisher
from phonos_models.esmfold.predict import fold

from phonos_config.esmfold import EsmFoldSettings
from phonos_config.relax import RelaxSettings
from tests.bundle_checks import check_bundle
from tests.relax.structures import ideal_helix_pdb

pytestmark = pytest.mark.integration

COMPLEX = "MKTVRQERLKSIVRILERSKEPV:GSHMASMTGWQQ"


@pytest.fixture(scope="module")
def finisher(tiny) -> Iterator[Finisher]:
    """One result-file worker; relaxes stop after 0.3 s (tiny-weight structures relax for minutes)."""
    finished = Finisher(tiny.weights, tiny.instance, RelaxSettings(timeout_s=0.3, cpu_threads=1), file_workers=1)
    yield finished
    finished.close()
    assert finished.files.worker_pids() == []


@pytest.fixture(scope="module")
def folded(tiny):
    (result,) = fold(tiny.model, [FoldJob(COMPLEX, 1, None)])
    return result


def finish(finisher: Finisher, result, relax: str = "none", **kwargs) -> ModelResult | BaseException:
    answers: list[ModelResult | BaseException] = []
    answered = threading.Event()

    def done(answer: ModelResult | BaseException) -> None:
        answers.append(answer)
        answered.set()

    finisher.finish(result, relax, done, **kwargs)
    assert answered.wait(60), "the finisher never answered"
    time.sleep(0.05)
    assert len(answers) == 1, answers  # exactly one answer
    return answers[0]


def test_files_built_in_a_worker_process_are_the_files_built_in_place(finisher, folded, tiny) -> None:
    assert finisher.files.submit(os.getpid).result() != os.getpid()  # the worker is another process
    built = finish(finisher, folded)
    assert isinstance(built, ModelResult), built
    here = model_result(folded, tiny.weights, tiny.instance)
    # byte for byte: structures, scores, both PNGs and the zip
    assert [(f.format, f.extension, f.media_type, f.content) for f in built.files] == \
        [(f.format, f.extension, f.media_type, f.content) for f in here.files]
    assert built.metrics == here.metrics
    timings = built.metadata.pop("timings")
    assert timings.pop("files_s") > 0 and timings.pop("files_wait_s") >= 0
    assert {**built.metadata, "timings": timings} == here.metadata


def test_a_relax_past_its_time_limit_still_delivers_every_unrelaxed_file(finisher, folded) -> None:
    heard: list = []
    built = finish(finisher, folded, "best", report=heard.append)
    assert isinstance(built, ModelResult), built
    assert [(p.stage, p.step, p.total) for p in heard] == [("relax", 0, 1), ("relax", 0, 1)]
    assert heard[-1].message == "Amber relax timed out"
    archive = check_bundle(built, ("pdb", "cif", "json", "pae", "plddt_plot", "pae_plot", "zip"), "esmfold")
    relax = built.metadata["relax"]
    assert relax["mode"] == "best" and relax["status"] == "timed_out" and relax["relaxed"] == []
    assert relax["errors"] == {"esmfold": "not relaxed within 0.3 s"}
    warning = built.metadata["warnings"][0]
    assert "did not finish within 0.3 s" in warning and "unrelaxed files are delivered" in warning
    scores = json.loads(next(f.content for f in built.files if f.format == "json"))
    assert scores["relax"] == {"mode": "best", "status": "timed_out", "models": {}, "message": warning}
    assert "clashes_relaxed" not in built.metrics and built.metadata["timings"]["relax"] < 5
    readme = archive.read("README.md").decode()
    assert "| Amber relax | timed out" in readme and f"- {warning}" in readme


def test_a_request_cancelled_before_its_relax_is_answered_cancelled(finisher, folded) -> None:
    answer = finish(finisher, folded, "all", should_stop=lambda: True)
    assert isinstance(answer, Cancelled) and "Amber relax" in str(answer)


def test_a_worker_that_dies_fails_its_request_and_the_pool_recovers() -> None:
    workers = FileWorkers(1)
    try:
        with pytest.raises(BrokenProcessPool):
            workers.submit(os._exit, 3).result(timeout=60)  # the worker dies mid-job
        assert workers.submit(pow, 2, 5).result(timeout=60) == 32  # a new pool serves the next job
    finally:
        workers.close()


def test_no_workers_builds_in_the_caller() -> None:
    workers = FileWorkers(0)
    assert workers.submit(os.getpid).result() == os.getpid()
    with pytest.raises(ZeroDivisionError):
        workers.submit(divmod, 1, 0).result()
    with pytest.raises(ValueError, match="workers must be 0"):
        FileWorkers(-1)


def test_file_workers_are_a_setting() -> None:
    assert EsmFoldSettings.from_env({}).file_workers == 1
    assert EsmFoldSettings.from_env({"PHONOS_ESMFOLD_FILE_WORKERS": "0"}).file_workers == 0
    with pytest.raises(ValueError, match="PHONOS_ESMFOLD_FILE_WORKERS must be 0"):
        EsmFoldSettings.from_env({"PHONOS_ESMFOLD_FILE_WORKERS": "-1"})


def test_workers_exit_when_their_parent_is_killed() -> None:
    """A model process killed with SIGKILL never shuts its pool down: its workers must not linger."""
    script = ("from phonos_models.common.file_workers import FileWorkers\n"
              "import os, sys, time\n"
              "w = FileWorkers(1)\n"
              "w.submit(os.getpid).result()\n"
              "print(w.worker_pids()[0], flush=True)\n"
              "time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert parent.stdout is not None
        worker = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(worker):
            time.sleep(0.1)
        assert not _alive(worker)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(("sequence", "reason"), [
    ("G", "chain A \\(sequence chain 1\\) is a single residue"),  # before: AttributeError: 'NoneType' object has no attribute '_finalize'
    # the chain as the user typed it too; before: IndexError: boolean index did not match ...
    ("MKTAY:G", "chain B \\(sequence chain 2\\) is a single residue"),
    ("M:MKTAY:G", "chains A \\(sequence chain 1\\), C \\(sequence chain 3\\) are single residues"),
    ("MKXAY", "residues of unknown type \\(X\\) at A:3"),  # before: a many-line numpy AssertionError dump
])
def test_structures_the_relax_cannot_take_are_delivered_unrelaxed_with_the_reason(tiny, sequence: str, reason: str) -> None:
    (result,) = fold(tiny.model, [FoldJob(sequence, 1, None)])
    outcome = relax_structures([("esmfold", pdb_text(result, tiny.weights))], RelaxSettings(timeout_s=120, cpu_threads=1))
    assert outcome.status == "failed" and outcome.message is not None
    assert re.search(reason, outcome.errors["esmfold"]) and "\n" not in outcome.message


def test_a_chain_with_a_hole_is_not_relaxed_across_it() -> None:
    # AlphaFold2 writes no atoms for X: residues 3-4 missing; OpenMM would bond residue 2 to residue 5
    helix = ideal_helix_pdb("MKTAYIAK", plddt=80.0)
    holed = "\n".join(line for line in helix.splitlines() if not (line.startswith("ATOM") and line[22:26].strip() in {"3", "4"}))
    assert unrelaxable(holed) == ("not relaxed: residues A:3-4 have no atoms (given as X), and the relax would join "
                                  "the chain across the gap")
    assert unrelaxable(helix) is None


def test_a_structure_the_relax_cannot_take_does_not_wait_for_another_jobs_relax(finisher, folded, tiny,
                                                                                 monkeypatch) -> None:
    """Relaxes run one at a time per instance (minutes each with real structures); a fold with an X was queued
    behind them only to hear "not relaxed" from the worker (18 s behind one small complex's relax, through the
    API). It is answered at once now, with the worker's outcome and message."""
    from phonos_models.esmfold import files

    release, entered = threading.Event(), threading.Event()
    real_relax = files.relax

    def held_relax(*args, **kwargs):  # another job's long relax holds the instance's relax thread
        entered.set()
        assert release.wait(60)
        return None

    monkeypatch.setattr(files, "relax", held_relax)
    first: list = []
    finisher.finish(folded, "best", first.append)
    assert entered.wait(10)
    try:
        (with_x,) = fold(tiny.model, [FoldJob("MKXAYIAK", 0, None)])
        heard: list = []
        started = time.perf_counter()
        built = finish(finisher, with_x, "best", report=heard.append)
        assert time.perf_counter() - started < 10 and not first  # answered while the other relax still runs
    finally:
        release.set()
    assert isinstance(built, ModelResult), built
    assert [(p.stage, p.step, p.total, p.message) for p in heard] == [("relax", 0, 1, "Amber relax failed")]
    relax = built.metadata["relax"]
    reason = "not relaxed: residues of unknown type (X) at A:3 have no atoms beyond the CA and no force-field template"
    assert relax["status"] == "failed" and relax["relaxed"] == [] and relax["errors"] == {"esmfold": reason}
    assert relax["message"] == f"Amber relax failed for esmfold ({reason}); those structures are delivered unrelaxed"
    assert relax["message"] in built.metadata["warnings"]
    assert {f.format for f in built.files} == {"pdb", "cif", "json", "pae", "plddt_plot", "pae_plot", "zip"}
    # the same outcome the relax worker gives it
    monkeypatch.setattr(files, "relax", real_relax)
    worker = relax_structures([("esmfold", pdb_text(with_x, tiny.weights))], RelaxSettings(timeout_s=120, cpu_threads=1))
    assert (worker.status, worker.errors, worker.message) == ("failed", {"esmfold": reason}, relax["message"])
    for _ in range(100):  # the held job is answered too, once its relax ends
        if first:
            break
        time.sleep(0.05)
    assert len(first) == 1 and isinstance(first[0], ModelResult)


def test_a_fold_without_relax_leaves_the_pdb_to_the_worker(finisher, folded, monkeypatch) -> None:
    """Asking the relax whether it could take the fold writes the whole PDB: done for every job, relax or not, it
    held the model instance's thread 3-7 ms a job (60 aa) before the next batch's forward pass could start."""
    from phonos_models.esmfold import files

    def asked(*_: object) -> None:
        raise AssertionError("the relax was asked about a fold that asked for none")

    monkeypatch.setattr(files, "refused_relax", asked)
    assert isinstance(finish(finisher, folded, "none"), ModelResult)
