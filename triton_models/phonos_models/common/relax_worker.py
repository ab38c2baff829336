"""The Amber relax worker process: DeepMind's `alphafold.relax` on OpenMM, one structure after another.

Run by phonos_models.common.relax as `python -m phonos_models.common.relax_worker`, so a relax that
runs past its time limit (or a cancelled job) is stopped by killing this process: OpenMM's minimiser
is native code that no Python thread can interrupt.

Protocol: one JSON object on stdin, `{"platform": "auto"|"CPU"|"CUDA", "structures": [{"name", "pdb"}]}`.
On stdout, one JSON line first (`{"ready": true, "platform", "openmm"}`), then one per structure in
input order: `{"name", "ok": true, "pdb", "clashes_before", ...}` or `{"name", "ok": false, "error"}`.
Library output goes to stderr so stdout carries nothing but these lines.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from typing import IO, Any

from phonos_models.common.relax_check import short_error, unrelaxable

# AlphaFold's run_alphafold.py (and ColabFold's defaults): L-BFGS until converged, 2.39 kcal/mol
# tolerance, 10 kcal/mol/Å² restraints on heavy atoms, up to 3 violation-informed rounds.
MAX_ITERATIONS = 0
TOLERANCE = 2.39
STIFFNESS = 10.0
MAX_OUTER_ITERATIONS = 3
# OpenMM's Modeller.addHydrogens (PDBFixer's addMissingHydrogens, called by DeepMind's cleanup) starts new
# hydrogens at positions drawn from Python's global, unseeded `random` and minimises them from there: the
# same structure relaxed twice gave different files (energies -350 to -438 kcal/mol for the 33-aa test helix).
# Seeded before every structure, a relax on one CPU thread is bit-repeatable, whatever ran before it.
HYDROGEN_SEED = 0


def _cpu_threads(platform: str) -> int | None:
    """Threads of OpenMM's CPU platform (OPENMM_CPU_THREADS, else all cores); None on another platform."""
    import openmm

    if platform != "CPU":
        return None
    return int(openmm.Platform.getPlatformByName("CPU").getPropertyDefaultValue("Threads"))


def _platform(requested: str) -> str:
    import openmm

    if requested != "auto":
        return requested
    names = {openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())}
    return "CUDA" if "CUDA" in names else "CPU"


def relax_one(pdb_text: str, use_gpu: bool) -> dict[str, Any]:
    """DeepMind's AmberRelaxation on one structure, with clash counts and violations before and after."""
    import numpy as np
    from alphafold.common import protein
    from alphafold.relax import amber_minimize, relax

    from phonos_models.common.clashes import count_clashes_in

    start = time.perf_counter()
    random.seed(HYDROGEN_SEED)
    unrelaxed = protein.from_pdb_string(pdb_text)
    violations_before = int(amber_minimize.get_violation_metrics(unrelaxed)["num_residue_violations"])
    relaxer = relax.AmberRelaxation(max_iterations=MAX_ITERATIONS, tolerance=TOLERANCE, stiffness=STIFFNESS,
                                    exclude_residues=[], max_outer_iterations=MAX_OUTER_ITERATIONS,
                                    use_gpu=use_gpu)
    relaxed_pdb, debug, violations = relaxer.process(prot=unrelaxed)
    relaxed_pdb = keep_atom_b_factors(relaxed_pdb, pdb_text)
    relaxed = protein.from_pdb_string(relaxed_pdb)
    # Heavy atoms only (the relaxed file adds hydrogens), matched position by position; no
    # superposition: restraints keep the structure in its frame.
    both = (unrelaxed.atom_mask > 0.5) & (relaxed.atom_mask > 0.5)
    deviation = (relaxed.atom_positions - unrelaxed.atom_positions)[both]
    rmsd = float(np.sqrt((deviation ** 2).sum(-1).mean())) if deviation.size else 0.0
    return {
        "ok": True,
        "pdb": relaxed_pdb,
        "clashes_before": count_clashes_in(unrelaxed),
        "clashes_after": count_clashes_in(relaxed),
        "violations_before": violations_before,
        "violations_after": int(np.sum(violations)),
        "rmsd": rmsd,
        "energy_before": float(debug["initial_energy"]),
        "energy_after": float(debug["final_energy"]),
        "attempts": int(debug["attempts"]),
        "seconds": time.perf_counter() - start,
    }


def _atom_key(line: str) -> tuple[str, str, str]:
    """(chain, residue number + insertion code, atom name) of a PDB ATOM/HETATM record."""
    return line[21], line[22:27], line[12:16].strip()


def keep_atom_b_factors(relaxed_pdb: str, unrelaxed_pdb: str) -> str:
    """The relaxed PDB with every atom's own B-factor (pLDDT) from the unrelaxed one, and each atom the relax
    added (hydrogens, OXT) its residue's CA value, the residue found by chain, number and insertion code.

    DeepMind's relax writes the residue's CA value on every atom (`relax.utils.overwrite_b_factors`): right for
    AlphaFold, whose pLDDT is per residue, but it flattened ESMFold's per-atom pLDDT. And it walks the residues
    by (hetero flag, number, insertion code) without the chain, so a one-residue chain numbered 1 followed by a
    chain starting at 1 reads as one residue, and every later residue's added atoms got the value of the residue
    before it. (Our relax refuses one-residue chains for PDBFixer's sake, so no job met that; the added atoms
    no longer depend on it.)
    """
    own: dict[tuple[str, str, str], str] = {}
    ca: dict[tuple[str, str], str] = {}
    for line in unrelaxed_pdb.splitlines():
        if line.startswith(("ATOM  ", "HETATM")) and len(line) >= 66:
            key = _atom_key(line)
            own[key] = line[60:66]
            if key[2] == "CA":
                ca[key[:2]] = line[60:66]
    out = []
    for line in relaxed_pdb.splitlines(keepends=True):
        if line.startswith(("ATOM  ", "HETATM")) and len(line) >= 66:
            key = _atom_key(line)
            b_factor = own.get(key) or ca.get(key[:2])
            if b_factor is not None:
                line = line[:60] + b_factor + line[66:]
        out.append(_within_80_columns(line))
    return "".join(out)


def _within_80_columns(line: str) -> str:
    """`line` cut to the PDB's 80 columns where what lies beyond is blank: Biopython's PDBIO, which DeepMind's
    relax writes with, pads its TER records to 81, past what fixed-column readers take."""
    text = line.rstrip("\r\n")
    if len(text) <= 80 or text[80:].strip():
        return line
    return text[:80] + line[len(text):]


def _emit(out: IO[str], message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def main() -> int:
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    request = json.load(sys.stdin)
    import openmm

    platform = _platform(str(request.get("platform", "auto")))
    _emit(out, {"ready": True, "platform": platform, "openmm": openmm.__version__, "threads": _cpu_threads(platform)})
    for item in request["structures"]:
        reason = unrelaxable(item["pdb"])
        if reason is not None:
            _emit(out, {"name": item["name"], "ok": False, "error": reason})
            continue
        try:
            result = relax_one(item["pdb"], use_gpu=platform == "CUDA")
        except Exception as exc:  # one structure failing does not stop the others
            result = {"ok": False, "error": short_error(exc)}
        _emit(out, {"name": item["name"], **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
