"""Amber relax for any predicted structure: PDB text in, relaxed PDB + clash counts + RMSD + timings out.

The minimisation is DeepMind's own (`alphafold.relax.AmberRelaxation`: PDBFixer adds hydrogens,
restrained Amber99sb minimisation in OpenMM, up to three violation-informed rounds, with
run_alphafold.py's constants), run in a worker process (`relax_worker`) so the step can be bounded:
past `RelaxSettings.timeout_s` (or when the job is cancelled) the worker is killed. A relax that
times out or fails never fails the job: the caller gets a `RelaxOutcome` saying so and delivers the
unrelaxed structures. Model-agnostic: AlphaFold2 and ESMFold call `relax_structures` the same way.

    outcome = relax_structures([("model_1", pdb_text)], RelaxSettings(), should_stop)
    outcome.relaxed["model_1"].pdb, outcome.status, outcome.scores()
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from phonos_config.relax import RelaxSettings
from phonos_models.common.errors import Cancelled
from phonos_models.common.file_workers import python_executable
from phonos_models.common.progress import ShouldStop

__all__ = ["RelaxOutcome", "RelaxSettings", "RelaxedStructure", "relax_structures"]

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the directory holding phonos_models
_POLL_S = 0.1

COMPLETED, TIMED_OUT, FAILED = "completed", "timed_out", "failed"


@dataclass(frozen=True)
class RelaxedStructure:
    """One relaxed structure and what relaxing changed."""

    name: str
    pdb: str  # relaxed, hydrogens added; B-factors copied from the input (pLDDT stays pLDDT)
    clashes_before: int  # clashing heavy-atom pairs (phonos_models.common.clashes)
    clashes_after: int
    violations_before: int  # residues DeepMind's find_violations flags (bonds, angles, clashes)
    violations_after: int
    rmsd: float  # Å, heavy atoms of the relaxed vs the unrelaxed structure, no superposition
    energy_before: float  # kcal/mol, Amber99sb + restraints, after PDBFixer
    energy_after: float  # kcal/mol
    attempts: int  # minimisation attempts of the last round (DeepMind retries failed minimisations)
    seconds: float  # wall time of this structure inside the worker

    def scores(self) -> dict[str, Any]:
        return {
            "clashes_unrelaxed": self.clashes_before, "clashes_relaxed": self.clashes_after,
            "violations_unrelaxed": self.violations_before, "violations_relaxed": self.violations_after,
            "rmsd_to_unrelaxed": round(self.rmsd, 3),
            "energy_unrelaxed": round(self.energy_before, 2), "energy_relaxed": round(self.energy_after, 2),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class RelaxOutcome:
    """What the relax step of one job did. Structures missing from `relaxed` stay unrelaxed."""

    status: str  # "completed" (every structure relaxed), "timed_out" or "failed"
    relaxed: dict[str, RelaxedStructure] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # structure name -> why it was not relaxed
    message: str | None = None  # for people: what went wrong and what was delivered instead
    platform: str | None = None  # OpenMM platform that ran ("CPU", "CUDA")
    openmm_version: str | None = None
    seconds: float = 0.0  # the whole step, worker start-up included
    cpu_threads: int | None = None  # threads of OpenMM's CPU platform; None on CUDA (or when none ran)

    @property
    def repeatable(self) -> bool | None:
        """Whether relaxing the same structure again gives the same file, bit for bit: on one CPU thread, yes
        (hydrogens are placed from a fixed seed, relax_worker.HYDROGEN_SEED); on several, no: OpenMM's CPU
        platform sums forces across threads in an order that varies from run to run (its DeterministicForces
        property did not change that here, docs/alphafold2.md); on CUDA it was not measured (None)."""
        return None if self.cpu_threads is None else self.cpu_threads == 1

    def metadata(self) -> dict[str, Any]:
        data: dict[str, Any] = {"status": self.status, "relaxed": sorted(self.relaxed), "platform": self.platform,
                                "openmm": self.openmm_version, "seconds": round(self.seconds, 3),
                                "method": "DeepMind alphafold.relax (Amber99sb, OpenMM + PDBFixer)",
                                "cpu_threads": self.cpu_threads, "repeatable": self.repeatable}
        if self.message:
            data["message"] = self.message
        if self.errors:
            data["errors"] = dict(self.errors)
        return data


def failure_message(errors: dict[str, str]) -> str:
    """What a relax that failed for some structures says: their names and the first reason."""
    first = next(iter(errors.values()))
    return f"Amber relax failed for {', '.join(errors)} ({first}); those structures are delivered unrelaxed"


def relax_structures(structures: Sequence[tuple[str, str]], settings: RelaxSettings,
                     should_stop: ShouldStop = lambda: False, started: float | None = None,
                     on_each: Callable[[int], None] = lambda relaxed: None) -> RelaxOutcome:
    """Relax each (name, PDB text) in one worker process, within `settings.timeout_s` for all of them.
    `on_each(relaxed)` is called on the caller's thread with how many are relaxed so far, as each but the last is.

    `started` (a `time.perf_counter()` value) starts the clock earlier, so time the step spent waiting
    for its turn (another job's relax) counts against the limit; past it, nothing is started.
    Raises `Cancelled` when `should_stop()` turns true (the worker is killed); every other problem
    is reported in the outcome, never raised.
    """
    start = time.perf_counter() if started is None else started
    names = [name for name, _ in structures]
    if len(set(names)) != len(names):
        raise ValueError(f"structure names must be unique, got {names}")
    if should_stop():
        raise Cancelled("cancelled before Amber relax")
    if time.perf_counter() - start >= settings.timeout_s:
        limit = f"{settings.timeout_s:g} s"
        return RelaxOutcome(TIMED_OUT, errors=dict.fromkeys(names, f"not relaxed within {limit}"),
                            message=f"Amber relax did not start within {limit} (PHONOS_RELAX_TIMEOUT_S): other jobs' "
                                    "relaxes took that long; the unrelaxed files are delivered",
                            seconds=time.perf_counter() - start)
    try:
        worker = _Worker.start(settings, structures)
    except OSError as exc:
        return RelaxOutcome(FAILED, errors=dict.fromkeys(names, "relax worker did not start"),
                            message=f"Amber relax could not start ({exc}); the unrelaxed structures are delivered",
                            seconds=time.perf_counter() - start)
    with worker:
        return worker.collect(names, settings.timeout_s, should_stop, start, on_each)


class _Worker:
    """The child process, a thread feeding its stdin and one reading its stdout lines into a queue."""

    def __init__(self, process: subprocess.Popen[bytes], stderr: IO[bytes]) -> None:
        self.process = process
        self.stderr = stderr
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def start(cls, settings: RelaxSettings, structures: Sequence[tuple[str, str]]) -> _Worker:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(_PACKAGE_ROOT), *filter(None, [env.get("PYTHONPATH")])])
        # DeepMind's violation check runs a little JAX: keep it off the accelerator the model holds.
        env["JAX_PLATFORMS"] = "cpu"
        env.update(JAX_COMPILATION_CACHE_DIR=str(settings.jax_cache), JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                   JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
        if settings.cpu_threads:
            env["OPENMM_CPU_THREADS"] = str(settings.cpu_threads)
        stderr = tempfile.TemporaryFile()  # a file, not a pipe: a chatty minimiser can never block on it
        process = subprocess.Popen([python_executable(settings.python), "-m", "phonos_models.common.relax_worker"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env)
        worker = cls(process, stderr)
        request = json.dumps({"platform": settings.platform,
                              "structures": [{"name": n, "pdb": text} for n, text in structures]}).encode()
        threading.Thread(target=worker._feed, args=(request,), daemon=True).start()
        return worker

    def _feed(self, request: bytes) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(request)
            self.process.stdin.close()
        except (OSError, ValueError):  # the worker died before reading (or was killed): its exit is reported by collect()
            pass

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                continue
        self.lines.put(None)  # end of output

    def collect(self, names: list[str], timeout_s: float, should_stop: ShouldStop, start: float,
                on_each: Callable[[int], None]) -> RelaxOutcome:
        deadline = start + timeout_s
        relaxed: dict[str, RelaxedStructure] = {}
        errors: dict[str, str] = {}
        header: dict[str, Any] = {}
        while len(relaxed) + len(errors) < len(names):
            if should_stop():
                raise Cancelled("cancelled during Amber relax")
            if time.perf_counter() > deadline:
                pending = [n for n in names if n not in relaxed and n not in errors]
                errors.update(dict.fromkeys(pending, f"not relaxed within {timeout_s:g} s"))
                message = (f"Amber relax did not finish within {timeout_s:g} s (PHONOS_RELAX_TIMEOUT_S); "
                           f"{len(relaxed)} of {len(names)} structures relaxed, the unrelaxed files are delivered")
                return self._outcome(TIMED_OUT, relaxed, errors, message, header, start)
            try:
                line = self.lines.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if line is None:
                pending = [n for n in names if n not in relaxed and n not in errors]
                errors.update(dict.fromkeys(pending, "relax worker exited early"))
                return self._outcome(FAILED, relaxed, errors, f"Amber relax failed: {self._last_error()}; "
                                     "the unrelaxed structures are delivered", header, start)
            if line.get("ready"):
                header = line
            elif line.get("ok"):
                relaxed[line["name"]] = RelaxedStructure(**{k: line[k] for k in RelaxedStructure.__dataclass_fields__
                                                            if k != "name"}, name=line["name"])
            else:
                errors[line["name"]] = str(line.get("error", "unknown error"))
            if line.get("ok") and len(relaxed) + len(errors) < len(names):
                on_each(len(relaxed))  # the last one is the outcome's to say
        if errors:
            return self._outcome(FAILED, relaxed, errors, failure_message(errors), header, start)
        return self._outcome(COMPLETED, relaxed, errors, None, header, start)

    def _outcome(self, status: str, relaxed: dict[str, RelaxedStructure], errors: dict[str, str],
                 message: str | None, header: dict[str, Any], start: float) -> RelaxOutcome:
        return RelaxOutcome(status, relaxed, errors, message, header.get("platform"), header.get("openmm"),
                            time.perf_counter() - start, header.get("threads"))

    def _last_error(self) -> str:
        self.process.wait()
        self.stderr.seek(0)
        tail = self.stderr.read().decode(errors="replace").strip().splitlines()[-1:]
        return f"worker exited with status {self.process.returncode}" + (f": {tail[0][:300]}" if tail else "")

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdout, self.process.stdin):
            if stream is not None:
                stream.close()
        self.stderr.close()
