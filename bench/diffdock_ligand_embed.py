"""DiffDock ligand embedding: the reference's three ETKDG tries vs ours, side by side, and cancel latency.

    PYTHONPATH=.:triton_models .venv/bin/python bench/diffdock_ligand_embed.py [--reps 1]

For each ligand (drug-like ones and two very flexible ones near the 150-heavy-atom cap) it times, in one
process and interleaved, (a) the reference's recipe as phonos ran it before (ETKDGv2 three times, then random
coordinates + MMFF) and (b) `ligand.embed_conformer` (the same, but the two further tries are skipped when the
first failed only at RDKit's initial coordinates). Then, per drug-like ligand, what running the embedding
out of process costs (`EmbedWorker`, the long-lived child a cancel kills, against a fresh process per
ligand and the plain thread), and how long a core stays busy after a cancel 0.3 s into PEG-48: the RDKit
call in a thread (before) runs on to RDKit's timeout; the killed process stops at once. Wall seconds
(minimum over --reps) unless the key says ms.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from phonos_models.common.errors import Cancelled
from phonos_models.diffdock import ligand
from phonos_models.diffdock.embed_worker import EmbedWorker
from rdkit import Chem
from rdkit.Chem import rdDistGeom, rdForceFieldHelpers

LIGANDS = {
    "aspirin (13 heavy atoms)": "CC(=O)Oc1ccccc1C(=O)O",
    "imatinib (37)": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "PEG-48 (146)": "C" + "COC" * 48 + "O",
    "stereo polyol-amine (142)": "C" + "".join("[C@@H](O)" if i % 2 else "[C@H](N)" for i in range(70)) + "C",
}


def reference_embed(mol: Chem.Mol, seed: int) -> bool:
    """The recipe phonos ran before (the reference's): three ETKDGv2 tries, then random coordinates + MMFF."""
    with_h = Chem.AddHs(mol)
    params = rdDistGeom.ETKDGv2()
    seeds = np.random.default_rng(seed).integers(1, 2**31 - 1, size=4)
    for attempt in range(3):
        params.randomSeed = int(seeds[attempt])
        if rdDistGeom.EmbedMolecule(with_h, params) != -1:
            return False
    params.randomSeed = int(seeds[3])
    params.useRandomCoords = True
    rdDistGeom.EmbedMolecule(with_h, params)
    rdForceFieldHelpers.MMFFOptimizeMolecule(with_h, confId=0)
    return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    for name, smiles in LIGANDS.items():
        mol = Chem.MolFromSmiles(smiles)
        before, after = [], []
        for _ in range(args.reps):
            t = time.perf_counter()
            random_before = reference_embed(mol, 0)
            before.append(time.perf_counter() - t)
            t = time.perf_counter()
            _, random_after = ligand.embed_conformer(mol, 0)
            after.append(time.perf_counter() - t)
        print(json.dumps({"ligand": name, "before_s": round(min(before), 3), "after_s": round(min(after), 3),
                          "after/before": round(min(after) / min(before), 3),
                          "random_coords": [random_before, random_after]}), flush=True)
    worker = EmbedWorker()
    try:
        process_costs(worker, args.reps)
        cancel_latency(worker)
    finally:
        worker.close()


def _in_fresh_process(smiles: str, seed: int) -> None:
    ligand.embed_conformer(Chem.MolFromSmiles(smiles), seed)


def process_costs(worker: EmbedWorker, reps: int) -> None:
    """Per ligand: in this thread vs in the long-lived EmbedWorker process vs a fresh process per ligand."""
    t = time.perf_counter()
    ligand.featurize("CC", should_stop=lambda: False, worker=worker)
    print(json.dumps({"embed_worker_start_s": round(time.perf_counter() - t, 3)}), flush=True)
    context = multiprocessing.get_context("spawn")
    for name in ("aspirin (13 heavy atoms)", "imatinib (37)"):
        mol = Chem.MolFromSmiles(LIGANDS[name])
        here, worker_s, fresh = [], [], []
        for _ in range(max(reps, 5)):
            t = time.perf_counter()
            ligand.embed_conformer(mol, 0)
            here.append(time.perf_counter() - t)
            t = time.perf_counter()
            worker.embed(mol, 0, 30, lambda: False, RuntimeError)
            worker_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            process = context.Process(target=_in_fresh_process, args=(LIGANDS[name], 0))
            process.start()
            process.join()
            fresh.append(time.perf_counter() - t)
        print(json.dumps({"ligand": name, "in_thread_ms": round(min(here) * 1e3, 1),
                          "embed_worker_ms": round(min(worker_s) * 1e3, 1),
                          "fresh_process_per_ligand_ms": round(min(fresh) * 1e3, 1)}), flush=True)


def cancel_latency(worker: EmbedWorker) -> None:
    """Cancel PEG-48 0.3 s in (budget 30 s). Before: the job stopped waiting, but the RDKit call went on in its
    thread (a core busy) until RDKit's timeout; now the process is killed. Prints both: when the job saw
    the cancel, and when the core was free again."""
    mol = Chem.MolFromSmiles(LIGANDS["PEG-48 (146)"])
    # before (the thread the job used to abandon): how long the RDKit call keeps the core after the cancel
    thread = threading.Thread(target=lambda: _quietly(ligand.embed_conformer, mol, 0, budget_s=30))
    start = time.monotonic()
    thread.start()
    thread.join(0.3)
    cancelled = time.monotonic()
    thread.join()
    print(json.dumps({"cancel": "PEG-48 0.3 s in, budget 30 s", "in_thread_core_busy_after_cancel_s":
                      round(time.monotonic() - cancelled, 3)}), flush=True)
    worker.embed(Chem.MolFromSmiles("CC"), 0, 30, lambda: False, RuntimeError)  # the process is up
    pid = worker.pid()
    start = time.monotonic()
    stop_at: list[float] = []

    def should_stop() -> bool:
        if time.monotonic() - start > 0.3:
            stop_at.append(time.monotonic())
            return True
        return False

    try:
        worker.embed(mol, 0, 30, should_stop, RuntimeError)
    except Cancelled:
        seen = time.monotonic()
        gone = pid is not None and not Path(f"/proc/{pid}").exists()
        print(json.dumps({"cancel": "PEG-48 0.3 s in, budget 30 s", "embed_worker_cancel_seen_s":
                          round(seen - stop_at[0], 3), "process_gone_when_seen": gone}), flush=True)


def _quietly(call: Callable[..., object], *args: object, **kwargs: object) -> None:
    try:
        call(*args, **kwargs)
    except ligand.LigandError:
        pass

if __name__ == "__main__":
    main()
