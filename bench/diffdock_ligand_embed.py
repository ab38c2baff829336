"""DiffDock ligand embedding: the reference's three ETKDG tries vs ours, side by side, and cancel latency.

    PYTHONPATH=.:triton_models .venv/bin/python bench/diffdock_ligand_embed.py [--reps 1]

For each ligand (drug-like ones and two very flexible ones near the 150-heavy-atom cap) it times, in one
process and interleaved, (a) the reference's recipe as phonos ran it before (ETKDGv2 three times, then random
coordinates + MMFF) and (b) `ligand.embed_conformer` (the same, but the two further tries are skipped when the
first failed only at RDKit's initial coordinates). Then it cancels an embedding 0.3 s in and prints how long
the cancel took to take effect (before: the embedding ran to its end). Wall seconds; minimum over --reps.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from phonos_models.common.errors import Cancelled
from phonos_models.diffdock import ligand
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
    mol = Chem.MolFromSmiles(LIGANDS["PEG-48 (146)"])
    start = time.monotonic()
    stopped_at: list[float] = []

    def should_stop() -> bool:
        if time.monotonic() - start > 0.3:
            stopped_at.append(stopped_at[0] if stopped_at else time.monotonic())
            return True
        return False

    try:
        ligand.embed_conformer(mol, 0, budget_s=30, should_stop=should_stop)
    except Cancelled:
        print(json.dumps({"cancel": "PEG-48 cancelled 0.3 s in",
                          "latency_s": round(time.monotonic() - stopped_at[0], 3)}))


if __name__ == "__main__":
    main()
