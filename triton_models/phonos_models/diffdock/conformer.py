"""The ligand's seeded 3D conformer (RDKit ETKDGv2, the reference's three tries, then random coordinates +
MMFF), bounded in wall-clock time.

RDKit and numpy only, no torch: `embed_worker`'s child process imports this module alone (~1/3 of the
memory and start-up time a torch import costs each model instance's child)."""

from __future__ import annotations

import math
import time

import numpy as np
from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

from phonos_config.diffdock import DiffDockSettings

from .pipe_validate import LigandError

DEFAULT_EMBED_BUDGET_S = float(DiffDockSettings.ligand_embed_s)  # a drug-like ligand takes ~0.01-0.3 s
_INITIAL_COORDS = list(rdDistGeom.EmbedFailureCauses.names).index("INITIAL_COORDS")
_EXCEEDED_TIMEOUT = list(rdDistGeom.EmbedFailureCauses.names).index("EXCEEDED_TIMEOUT")


class _Budget:
    """The wall-clock bound of one ligand's embedding: every ETKDG call carries RDKit's own `timeout` (the
    budget left) and MMFF is capped at its 200 iterations. A job's cancel cannot interrupt these native
    calls in process: `featurize` runs them in an `EmbedWorker`'s child process, which a cancel kills."""

    def __init__(self, mol: Chem.Mol, seconds: float) -> None:
        self.mol = mol
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def left_s(self) -> int:
        """Whole seconds left for RDKit's `timeout` (at least 1: 0 would mean no limit)."""
        if time.monotonic() > self.deadline:
            raise self.exceeded()
        return max(1, math.ceil(self.deadline - time.monotonic()))

    def exceeded(self) -> LigandError:
        return embedding_exceeded(self.mol, self.seconds)


class EmbeddingTimedOut(LigandError):
    """The embedding ran out of its wall-clock budget: undecided, not proof that the ligand cannot be embedded
    (the submission check, `check_embeds`, lets such a ligand through to the model's larger budget)."""


class EmbeddingFailed(LigandError):
    """RDKit gave up (ETKDG three times, then random coordinates) within the budget: the same seed fails the
    same way every time, so the model would refuse this ligand too."""


def embedding_exceeded(mol: Chem.Mol, seconds: float) -> LigandError:
    """The error of a ligand (with hydrogens) not embedded within `seconds`. A ligand whose SMILES fixes stereo is
    told that its stereo may be what cannot be built: a bridged bicycle's impossible @/@@ under a long chain ran out
    the budget and was told only to dock a smaller molecule, while larger chains without it embedded in seconds
    (a chemist tester's find)."""
    stereo = specified_stereo(mol)
    cause = (f"; its SMILES fixes {stereo} stereo element(s) (@/@@, / and \\), and stereo that no 3D structure can "
             "have (a bridged or small ring's, most often) fails so too: check them, or dock it with them left "
             "open" if stereo else "")
    return EmbeddingTimedOut(
        f"ligand of {mol.GetNumHeavyAtoms()} heavy atoms ({mol.GetNumAtoms()} with hydrogens) did not get 3D "
        f"coordinates within {seconds:g} s (RDKit ETKDG); this server bounds the embedding of one ligand{cause}. "
        f"{'Otherwise d' if stereo else 'D'}ock a smaller or more rigid molecule (DiffDock is trained on drug-like "
        "ligands, mostly under 60 heavy atoms), e.g. the part that binds, or a peptide with a protein-docking tool"
    )


def specified_stereo(mol: Chem.Mol) -> int:
    """Tetrahedral centres and double bonds whose configuration the molecule specifies (on a copy)."""
    return sum(1 for info in Chem.FindPotentialStereo(Chem.Mol(mol), cleanIt=True, flagPossible=False)
               if info.specified == Chem.StereoSpecified.Specified)


def embed_conformer(mol: Chem.Mol, seed: int, *, budget_s: float = DEFAULT_EMBED_BUDGET_S) -> tuple[Chem.Mol, bool]:
    """Heavy-atom molecule with one seeded ETKDGv2 conformer, and whether random coordinates were needed.

    Bounded by `budget_s` of wall clock (`LigandError` past it), in this thread (see `_Budget`).
    One difference from the reference's three tries: when the first try failed only at RDKit's initial
    coordinates (the eigen-embedding of the distance bounds, which fails for large flexible molecules
    whatever the seed: 10 x atoms tries, all failed), the two other tries are skipped and random coordinates
    used at once; every ligand whose first try succeeds is embedded exactly as before."""
    with_h = Chem.AddHs(mol)
    budget = _Budget(with_h, budget_s)
    params = rdDistGeom.ETKDGv2()
    params.trackFailures = True  # type: ignore[assignment]
    # RDKit gives seeds 0 and 1 the same stream; derive well-spread positive seeds from the user's.
    rdkit_seeds = np.random.default_rng(seed).integers(1, 2**31 - 1, size=4)
    conf_id = -1
    for attempt in range(3):  # the reference retries three times before falling back
        params.randomSeed = int(rdkit_seeds[attempt])  # type: ignore[assignment]
        params.timeout = budget.left_s()  # type: ignore[assignment]
        conf_id = rdDistGeom.EmbedMolecule(with_h, params)
        failures = params.GetFailureCounts()
        if failures[_EXCEEDED_TIMEOUT]:
            raise budget.exceeded()
        if conf_id != -1 or (failures[_INITIAL_COORDS] and sum(failures) == failures[_INITIAL_COORDS]):
            break
    used_random = conf_id == -1
    if used_random:
        params.randomSeed = int(rdkit_seeds[3])  # type: ignore[assignment]
        params.useRandomCoords = True  # type: ignore[assignment]
        params.timeout = budget.left_s()  # type: ignore[assignment]
        if rdDistGeom.EmbedMolecule(with_h, params) == -1:
            if params.GetFailureCounts()[_EXCEEDED_TIMEOUT]:
                raise budget.exceeded()
            raise EmbeddingFailed(
                "RDKit could not generate 3D coordinates for the ligand (ETKDG three times, then random "
                "coordinates): the SMILES may describe a geometry that cannot exist, e.g. stereo a bridged ring "
                "cannot take or a triple bond in a small ring; check it (an SDF drawn from it in 3D shows where)"
            )
        if time.monotonic() > budget.deadline:
            raise budget.exceeded()
        rdForceFieldHelpers.MMFFOptimizeMolecule(with_h, confId=0)
    return without_hydrogens(with_h), used_random


def without_hydrogens(mol: Chem.Mol) -> Chem.Mol:
    """`mol` without its hydrogen atoms, deuterium and tritium ([2H], [3H]) included. RDKit's default RemoveHs
    keeps isotope-labelled hydrogens, so a deuterated drug (a CD3 group) was docked with its D atoms as nodes of
    the heavy-atom graph (element 1, which the model never saw: the reference trains on heavy atoms only), counted
    as heavy atoms and written into the poses. Now D and T go exactly as H does; the heavy atoms keep them as
    hydrogen counts (a CD3 carbon is featurised as a CH3 carbon)."""
    params = Chem.RemoveHsParameters()
    params.removeIsotopes = True  # type: ignore[assignment]
    return Chem.RemoveHs(mol, params)


def check_embeds(mol: Chem.Mol, seed: int, budget_s: float) -> None:
    """Raise `EmbeddingFailed` when the model's embedding of `mol` with `seed` would fail: the same function
    and seed as the model's (`ligand.featurize`), so the outcome is the same; a ligand that needs more than
    `budget_s` passes (undecided here; the model's own, larger budget applies to it)."""
    try:
        embed_conformer(mol, seed, budget_s=budget_s)
    except EmbeddingTimedOut:
        return
