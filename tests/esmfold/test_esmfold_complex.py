"""Complexes (`:` chain breaks), per-atom pLDDT and unknown residues on the tiny model, in process."""

from __future__ import annotations

import json

import gemmi
import numpy as np
import pytest
import torch
from phonos_models.common.structure import CA_INDEX
from phonos_models.esmfold import files
from phonos_models.esmfold.batching import FoldJob
from phonos_models.esmfold.chains import RESIDUE_INDEX_OFFSET, ChainError, ChainLayout, parse_chains
from phonos_models.esmfold.confidence import complex_confidence
from phonos_models.esmfold.files import mmcif_text, model_result, pdb_text
from phonos_models.esmfold.predict import fold, fold_batch
from transformers.models.esm.openfold_utils.loss import compute_tm

pytestmark = pytest.mark.integration

CHAIN_A = "MKTVRQERLKSIVRILERSKEPV"  # 23 aa
CHAIN_B = "GSHMASMTGWQQ"  # 12 aa
DIMER = f"{CHAIN_A}:{CHAIN_B}"


@pytest.fixture(scope="module")
def dimer(tiny):
    (result,) = fold(tiny.model, [FoldJob(DIMER, 1, None)])
    return result


def test_layout_follows_fair_esm_linker_and_residue_index() -> None:
    layout = ChainLayout((CHAIN_A, CHAIN_B))
    assert layout.folded_sequence == CHAIN_A + "G" * 25 + CHAIN_B
    assert layout.folded_length == 23 + 25 + 12 and layout.residues == 35
    index = layout.residue_index()
    # chain A and its trailing linker count 0..47; chain B starts one offset later
    assert index[: 23 + 25] == list(range(48))
    assert index[48:] == [48 + k + RESIDUE_INDEX_OFFSET for k in range(12)]
    assert layout.real_positions() == list(range(23)) + list(range(48, 60))
    assert layout.chain_of_residue() == [0] * 23 + [1] * 12


def test_two_chains_are_labelled_numbered_and_have_no_linker(tiny, dimer) -> None:
    assert dimer.atom_positions.shape == (35, 37, 3) and dimer.pae.shape == (35, 35) and dimer.plddt.shape == (35,)
    structure = gemmi.read_pdb_string(pdb_text(dimer, tiny.weights))
    chains = {chain.name: chain for chain in structure[0]}
    assert list(chains) == ["A", "B"]
    for chain, sequence in ((chains["A"], CHAIN_A), (chains["B"], CHAIN_B)):
        assert gemmi.one_letter_code([r.name for r in chain]) == sequence  # the 25 glycines are gone
        assert [r.seqid.num for r in chain] == list(range(1, len(sequence) + 1))
    cif = gemmi.make_structure_from_block(gemmi.cif.read_string(mmcif_text(dimer, tiny.weights)).sole_block())
    assert [(c.name, len(c)) for c in cif[0]] == [("A", 23), ("B", 12)]
    # the chains are placed in one frame, not on top of each other
    ca_a = np.array([r["CA"][0].pos.tolist() for r in chains["A"]])
    ca_b = np.array([r["CA"][0].pos.tolist() for r in chains["B"]])
    assert np.linalg.norm(ca_a.mean(0) - ca_b.mean(0)) > 1.0


def test_complex_scores_per_chain_and_interface(tiny, dimer) -> None:
    result = model_result(dimer, tiny.weights, tiny.instance)
    report = json.loads(next(f.content for f in result.files if f.format == "json"))
    assert [(c["id"], c["length"], c["first_index"]) for c in report["chains"]] == [("A", 23, 0), ("B", 12, 23)]
    assert report["sequence"] == DIMER and len(report["plddt"]) == 35
    assert 0 < report["iptm"] < 1 and np.array(report["chain_pair_iptm"]).shape == (2, 2)
    assert report["chain_pair_iptm"][0][1] == report["chain_pair_iptm"][1][0]
    assert result.metrics["iptm"] == report["iptm"] and result.metrics["num_chains"] == 2
    assert [c["id"] for c in result.metadata["chains"]] == ["A", "B"] and "25-glycine linker" in result.metadata["complex"]


def test_complex_alone_equals_complex_in_a_batch_with_a_monomer(tiny, dimer) -> None:
    together = fold_batch(tiny.model, [FoldJob(DIMER, 1, None), FoldJob(CHAIN_A, 1, None)])
    assert together[0].batch_size == 2
    np.testing.assert_allclose(together[0].atom_positions, dimer.atom_positions, atol=1e-4)
    np.testing.assert_allclose(together[0].pae, dimer.pae, atol=1e-4)
    assert together[0].iptm == pytest.approx(dimer.iptm, abs=1e-5)
    # the monomer is not a complex
    assert together[1].iptm is None and together[1].chain_ptm == (pytest.approx(together[1].ptm),)


def test_confidence_matches_transformers_ptm_and_multimer_iptm() -> None:
    torch.manual_seed(0)
    logits = torch.randn(30, 30, 64) * 3
    single = complex_confidence(logits, [0] * 30)
    assert single.ptm == pytest.approx(float(compute_tm(logits, max_bin=31, no_bins=64)), abs=1e-6)
    assert single.iptm is None and single.chain_ptm[0] == pytest.approx(single.ptm)
    chains = [0] * 18 + [1] * 12
    paired = complex_confidence(logits, chains)
    # ipTM by hand: AlphaFold-Multimer's interface mask, d0 from all 30 residues
    centers = torch.cat([torch.linspace(0, 31, 63) + 31 / 62 / 2, torch.tensor([31 + 31 / 62 / 2])])
    d0 = 1.24 * (30 - 15) ** (1 / 3) - 1.8
    terms = (torch.softmax(logits, -1) / (1 + (centers / d0) ** 2)).sum(-1)
    mask = torch.tensor([[float(a != b) for b in chains] for a in chains])
    expected = ((terms * mask).sum(-1) / mask.sum(-1)).max()
    assert paired.iptm == pytest.approx(float(expected), abs=1e-5)
    assert paired.chain_ptm[1] == pytest.approx(float(compute_tm(logits[18:, 18:], max_bin=31, no_bins=64)), abs=1e-6)


def test_b_factors_are_per_atom_and_mean_plddt_follows_esm_fold(tiny, dimer) -> None:
    structure = gemmi.read_pdb_string(pdb_text(dimer, tiny.weights))
    per_residue_spread = [np.ptp([a.b_iso for a in residue]) for chain in structure[0] for residue in chain]
    assert max(per_residue_spread) > 0.1, "B-factors must be each atom's own pLDDT"
    all_atoms = [a.b_iso for chain in structure[0] for residue in chain for a in residue]
    # esm-fold's mean_plddt: the mean over every atom the model builds (no X here, so every written atom)
    assert np.mean(all_atoms) == pytest.approx(dimer.mean_plddt, abs=0.01)
    ca = [residue["CA"][0].b_iso for chain in structure[0] for residue in chain]
    np.testing.assert_allclose(ca, dimer.plddt, atol=0.006)


def test_unknown_residue_ca_comes_from_its_backbone_frame(tiny) -> None:
    sequence = "MKTAYXIAKQRQ"
    captured: dict = {}
    hook = tiny.model.register_forward_hook(lambda _m, _a, out: captured.update(frames=out["frames"][-1][0]))
    try:
        (result,) = fold(tiny.model, [FoldJob(sequence, 1, None)])
    finally:
        hook.remove()
    translations = captured["frames"][:, 4:].numpy()
    # for known residues the frame's origin is the CA the model builds: the rule we apply to X
    known = [i for i, c in enumerate(sequence) if c != "X"]
    np.testing.assert_allclose(result.atom_positions[known, CA_INDEX], translations[known], atol=1e-4)
    unknown = sequence.index("X")
    assert result.atom_mask[unknown].sum() == 1 and result.atom_mask[unknown, CA_INDEX] == 1
    np.testing.assert_allclose(result.atom_positions[unknown, CA_INDEX], translations[unknown], atol=1e-5)
    assert np.linalg.norm(result.atom_positions[unknown, CA_INDEX]) > 0.1, "not at (0, 0, 0)"
    chain = gemmi.read_pdb_string(pdb_text(result, tiny.weights))[0][0]
    assert chain[unknown].name == "UNK" and [a.name for a in chain[unknown]] == ["CA"]



def test_residues_given_as_x_are_reported_in_metadata_and_scores(tiny) -> None:
    (result,) = fold(tiny.model, [FoldJob("MKXAYI:GSXXK", 1, None)])
    built = files.build(result, tiny.weights, tiny.instance)
    unknown = {"count": 3, "residues": ["A:3", "B:3", "B:4"]}
    assert built.metadata["unknown_residues"] == unknown  # before: nothing said X had no side chain
    assert "3 residue(s) given as X" in built.metadata["warnings"][0]
    scores = json.loads(next(f for f in built.files if f.format == "json").content)
    assert scores["unknown_residues"] == unknown
    (plain,) = fold(tiny.model, [FoldJob("MKTAYI", 1, None)])
    assert "unknown_residues" not in files.build(plain, tiny.weights, tiny.instance).metadata


@pytest.mark.parametrize(("sequence", "message"), [("XXXX", "sequence is only X"),
                                                     ("MKTAY:XX", "sequence chain 2 is only X")])
def test_a_chain_of_only_unknown_residues_is_refused(sequence: str, message: str) -> None:
    # before: folded into a chain of lone CAs with mean_plddt 0.0 (no atom the model builds)
    with pytest.raises(ChainError, match=message):
        parse_chains(sequence, max_length=100, max_chains=4)
