"""One meaning per key: a chain's `mean_plddt` is the top-level one's (all built atoms) over that chain's atoms, and its
`mean_plddt_ca` the top-level one's (per-residue CA values) over its residues (tiny model, in process).

Before: each chain's `mean_plddt` was the mean of its CA values, so a one-chain job said two different numbers
under one key (top level 49.94, chains[0] 57.78 for the same chain)."""

from __future__ import annotations

import io
import json
import zipfile

import gemmi
import numpy as np
import pytest
from phonos_models.esmfold import files
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.predict import fold

pytestmark = pytest.mark.integration

MONOMER = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDA"  # 65 aa, as the tester's
CHAIN_A = "MKTVRQXRLKSIVRILERSKEPV"  # 23 aa, one X (no atom the model builds; we write its CA)
CHAIN_B = "GSHMASXXGWQQ"  # 12 aa, two X


def _outputs(result, tiny) -> tuple[dict, str, str]:
    built = files.build(result, tiny.weights, tiny.instance)
    by_format = {f.format: f.content for f in built.files}
    with zipfile.ZipFile(io.BytesIO(by_format["zip"])) as archive:
        readme = archive.read("README.md").decode()
    return json.loads(by_format["json"]), by_format["pdb"].decode(), readme


def test_a_one_chain_jobs_chain_means_are_the_top_level_ones(tiny) -> None:
    (result,) = fold(tiny.model, [FoldJob(MONOMER, 1, None)])
    scores, _, readme = _outputs(result, tiny)
    (chain,) = scores["chains"]
    assert scores["mean_plddt"] != scores["mean_plddt_ca"]  # the two means differ, so one key cannot hold both
    assert chain["mean_plddt"] == scores["mean_plddt"]  # before: the CA mean under this key
    assert chain["mean_plddt_ca"] == scores["mean_plddt_ca"]
    assert f"| A | 65 | {scores['mean_plddt']:.2f} | {scores['mean_plddt_ca']:.2f} |" in readme
    assert "| chain | residues | mean pLDDT (all atoms) | mean pLDDT (CA) | pTM |" in readme


def test_a_complexs_chain_means_cover_their_own_built_atoms_and_residues(tiny) -> None:
    (result,) = fold(tiny.model, [FoldJob(f"{CHAIN_A}:{CHAIN_B}", 1, None)])
    scores, pdb, readme = _outputs(result, tiny)
    structure = gemmi.read_pdb_string(pdb)[0]
    counts = []
    for chain, written in zip(scores["chains"], structure, strict=True):
        # the atoms the model builds: every written atom but the CA we write for an X (UNK)
        b_factors = [a.b_iso for residue in written if residue.name != "UNK" for a in residue]
        counts.append(len(b_factors))
        assert chain["mean_plddt"] == pytest.approx(np.mean(b_factors), abs=0.01)
        part = slice(chain["first_index"], chain["first_index"] + chain["length"])
        assert chain["mean_plddt_ca"] == pytest.approx(np.mean(scores["plddt"][part]), abs=0.01)
        assert f"| {chain['id']} | {chain['length']} | {chain['mean_plddt']:.2f} | {chain['mean_plddt_ca']:.2f} |" \
            in readme
    assert counts == [int(result.built_atoms[:23].sum()), int(result.built_atoms[23:].sum())]
    # weighted by their atom counts, the chains' all-atom means average to the job's
    weighted = sum(c["mean_plddt"] * n for c, n in zip(scores["chains"], counts, strict=True)) / sum(counts)
    assert weighted == pytest.approx(scores["mean_plddt"], abs=0.01)
    # and the chains' CA means, weighted by their residues, to the job's mean_plddt_ca
    per_residue = sum(c["mean_plddt_ca"] * c["length"] for c in scores["chains"]) / result.layout.residues
    assert per_residue == pytest.approx(scores["mean_plddt_ca"], abs=0.01)
    # unrounded: the X residues' written CAs are left out of the chain means, as of the job's
    exact = [result.chain_mean_plddt(k) for k in range(2)]
    assert np.average(exact, weights=counts) == pytest.approx(result.mean_plddt, abs=1e-3)
