"""A job's Amber relax step, the same for every structure model (`params.relax`: none, best or all).

phonos_models.common.relax runs the minimisation; this module turns it into what a job delivers, so
AlphaFold2 and ESMFold name everything alike:

* progress: the `relax` stage, 0 of N when it starts, then how many are relaxed as each one is;
* files: `relaxed_pdb` + `relaxed_cif` for rank 1, `rank_N_relaxed_pdb` for the other ranks (`all`);
  a structure that was not relaxed has no relaxed file (its unrelaxed files are always there);
* scores JSON `relax`: mode, status, per structure the clash counts, violations, RMSD to the unrelaxed
  structure, energies and seconds (and the message when it timed out or failed);
* metadata `relax` (status, what was relaxed, platform, OpenMM version, seconds, method), metadata
  `warnings` when the step timed out or failed, or left structural violations in a relaxed structure,
  timings `relax`;
* metrics, when rank 1 was relaxed: `clashes_unrelaxed`, `clashes_relaxed`, `violations_unrelaxed`,
  `violations_relaxed`, `relax_rmsd`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from phonos_config.relax import RelaxSettings
from phonos_models.common.progress import Progress, Report, ShouldStop, ignore
from phonos_models.common.relax import (
    FAILED,
    RelaxedStructure,
    RelaxOutcome,
    failure_message,
    relax_structures,
)
from phonos_models.common.relax_check import unrelaxable
from phonos_models.common.result_files import ResultFile, text_file

PDB, CIF = "chemical/x-pdb", "chemical/x-mmcif"
DESCRIPTIONS = {
    "relaxed_pdb": "the structure after Amber relax (PDB, hydrogens added, pLDDT kept in the B-factors)",
    "relaxed_cif": "the relaxed structure as mmCIF",
}


def run(mode: str, structures: Sequence[tuple[str, str]], settings: RelaxSettings,
        should_stop: ShouldStop = lambda: False, report: Report = ignore,
        started: float | None = None) -> RelaxOutcome | None:
    """Relax the first of the ranked (name, PDB text) structures (`best`) or all of them (`all`);
    None for `none`. `started`: see `relax_structures`. Raises `Cancelled` when `should_stop()` turns
    true; nothing else."""
    if mode == "none":
        return None
    chosen = list(structures) if mode == "all" else list(structures[:1])
    report(Progress("relax", 0, len(chosen), f"Amber relax of {len(chosen)} structure{'s' * (len(chosen) > 1)}"))
    # Each structure as it is done: `all` relaxes every ranked structure, minutes each with real weights, and the
    # job read "(0/5)" until the last was.
    outcome = relax_structures(chosen, settings, should_stop, started, on_each=lambda relaxed: report(
        Progress("relax", relaxed, len(chosen), f"Amber relax: {relaxed} of {len(chosen)} structures relaxed")))
    report(Progress("relax", len(outcome.relaxed), len(chosen), f"Amber relax {outcome.status.replace('_', ' ')}"))
    return outcome


def refused(mode: str, structures: Sequence[tuple[str, str]]) -> RelaxOutcome | None:
    """The outcome `run` would reach when every structure `mode` chooses is one the relax cannot take (an X
    residue, a one-residue chain: relax_check), known from the structures alone; None when there is a relax to
    run. A model calls it before queueing for its relax (one at a time, minutes each): a relax=best job with an
    X waited 18 s behind another job's relax, and started OpenMM, to hear "not relaxed"."""
    if mode == "none":
        return None
    chosen = list(structures) if mode == "all" else list(structures[:1])
    errors = {name: reason for name, pdb in chosen if (reason := unrelaxable(pdb)) is not None}
    if not chosen or len(errors) < len(chosen):
        return None
    return RelaxOutcome(FAILED, errors=errors, message=failure_message(errors))


def note(outcome: RelaxOutcome) -> str:
    """One provenance line for a relaxed file."""
    return (f"Amber-relaxed ({outcome.metadata()['method']}, OpenMM {outcome.openmm_version}, {outcome.platform}); "
            "hydrogens added")


def files(ranked: Sequence[str], outcome: RelaxOutcome, pdb: Callable[[RelaxedStructure, int], str],
          cif: Callable[[RelaxedStructure, int], str]) -> list[ResultFile]:
    """The relaxed files, in rank order of the structure names `ranked`. `pdb` and `cif` turn a relaxed
    structure and its rank into the model's files (its provenance added, the way its other files carry it,
    and which ranked structure this is: a rank_N file downloaded on its own must still say so)."""
    out: list[ResultFile] = []
    for rank, name in enumerate(ranked, start=1):
        relaxed = outcome.relaxed.get(name)
        if relaxed is None:
            continue
        if rank == 1:
            out.append(text_file("relaxed_pdb", PDB, pdb(relaxed, rank), extension="relaxed.pdb"))
            out.append(text_file("relaxed_cif", CIF, cif(relaxed, rank), extension="relaxed.cif"))
        else:
            out.append(text_file(f"rank_{rank}_relaxed_pdb", PDB, pdb(relaxed, rank),
                                 extension=f"rank_{rank}.relaxed.pdb"))
    return out


@dataclass(frozen=True)
class RelaxReport:
    """What the relax step adds to a job's scores, metrics and metadata."""

    scores: dict[str, Any]  # the scores JSON's `relax`
    metadata: dict[str, Any]  # metadata `relax`
    metrics: dict[str, float | int | str]  # rank 1's clash and violation counts and RMSD; empty when not relaxed
    warnings: tuple[str, ...]  # for people: why something was delivered unrelaxed, or relaxed with violations
    seconds: float  # the whole step, worker start-up included
    openmm: str | None = None  # OpenMM's version when a structure was relaxed: the job's `software` gains it

    def add_to(self, scores: dict[str, Any], metrics: dict[str, float | int | str], metadata: dict[str, Any],
               timings: dict[str, Any]) -> None:
        scores["relax"] = self.scores
        metrics.update(self.metrics)
        metadata["relax"] = self.metadata
        if self.warnings:
            metadata["warnings"] = [*metadata.get("warnings", []), *self.warnings]
        timings["relax"] = round(self.seconds, 3)
        if self.openmm:
            metadata["software"] = {**metadata.get("software", {}), "openmm": self.openmm}


def report(mode: str, outcome: RelaxOutcome, best: str) -> RelaxReport:
    """The report of `outcome`; `best` names the rank-1 structure."""
    scores: dict[str, Any] = {"mode": mode, "status": outcome.status,
                              "models": {name: relaxed.scores() for name, relaxed in outcome.relaxed.items()}}
    if outcome.message:
        scores["message"] = outcome.message
    top = outcome.relaxed.get(best)
    # The violations beside the clashes: a relaxed structure can have 0 clashing pairs and still broken bonds
    # (a tiny-weight AlphaFold2 model: 13 of 17 residues, a 2.37 Å peptide C–N), which only this count shows.
    metrics: dict[str, float | int | str] = {} if top is None else {
        "clashes_unrelaxed": top.clashes_before, "clashes_relaxed": top.clashes_after,
        "violations_unrelaxed": top.violations_before, "violations_relaxed": top.violations_after,
        "relax_rmsd": round(top.rmsd, 3)}
    warnings = ((outcome.message,) if outcome.message else ()) + violations_left(outcome)
    return RelaxReport(scores, {"mode": mode, **outcome.metadata()}, metrics, warnings, outcome.seconds,
                       outcome.openmm_version if outcome.relaxed else None)


def violations_left(outcome: RelaxOutcome) -> tuple[str, ...]:
    """A warning naming each relaxed structure that still has violations (none: no warning). DeepMind's relax
    stops after its rounds whatever remains, so "completed" and 0 clashes do not mean a sound structure."""
    left = [f"{name}: {relaxed.violations_after} of {residue_count(relaxed.pdb)} residues "
            f"(Amber energy {relaxed.energy_after:+.1f} kcal/mol)"
            for name, relaxed in outcome.relaxed.items() if relaxed.violations_after > 0]
    if not left:
        return ()
    return ("Amber relax left structural violations (DeepMind's find_violations: bond lengths, angles or clashes "
            f"outside tolerance) in {'; '.join(left)}: such a relaxed structure is not physically sound, whatever "
            "its clash count; the counts per structure are in the scores JSON's relax.models",)


def residue_count(pdb_text: str) -> int:
    """Residues of a PDB text's ATOM/HETATM records (chain, number, insertion code)."""
    return len({(line[21], line[22:27]) for line in pdb_text.splitlines() if line.startswith(("ATOM  ", "HETATM"))})
