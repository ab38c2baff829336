"""The ESMFold science code on the tiny model, in-process."""

from __future__ import annotations

import gemmi
import numpy as np
import pytest
import torch
from phonos_models.common.errors import Cancelled
from phonos_models.esmfold.batching import FoldJob, plan_batches
from phonos_models.esmfold.files import metadata, mmcif_text, pdb_text
from phonos_models.esmfold.loading import load_model
from phonos_models.esmfold.predict import fold, fold_batch
from phonos_models.esmfold.stopping import PER_PASS_ONLY

pytestmark = pytest.mark.integration

SEQ_A = "MKTVRQERLKSIVRILERSKEPVSGAQLAEELSVSRQVIVQ"  # 41 aa
SEQ_B = "MKTAYIAKQRQISFVKSHFSRQ"  # 22 aa
SEQ_C = "GSHMASMTGGQQMGRGSWLVEQ"  # 22 aa


def job(sequence: str, recycles: int = 1, chunk: int | None = None) -> FoldJob:
    return FoldJob(sequence=sequence, num_recycles=recycles, chunk_size=chunk)


def assert_same(a, b, atol: float = 1e-4) -> None:
    assert a.sequence == b.sequence
    np.testing.assert_allclose(a.atom_positions, b.atom_positions, atol=atol)
    np.testing.assert_allclose(a.plddt, b.plddt, atol=atol)
    np.testing.assert_allclose(a.pae, b.pae, atol=atol)
    assert a.ptm == pytest.approx(b.ptm, abs=1e-5)


def test_outputs_have_per_sequence_shapes_and_scales(tiny) -> None:
    (result,) = fold(tiny.model, [job(SEQ_A)])
    length = len(SEQ_A)
    assert result.atom_positions.shape == (length, 37, 3)
    assert result.pae.shape == (length, length)
    assert result.plddt.shape == (length,)
    assert 0.0 <= result.plddt.min() and result.plddt.max() <= 100.0
    assert result.plddt.max() > 1.0, "pLDDT must be on the 0-100 scale, not transformers' 0-1"
    assert result.plddt.std() > 0.0, "tiny heads must depend on the input (re-initialised weights)"
    assert 0.0 < result.ptm < 1.0
    assert np.isfinite(result.atom_positions).all()


def test_mixed_length_batch_equals_each_alone(tiny) -> None:
    jobs = [job(SEQ_A), job(SEQ_B), job(SEQ_C)]
    batched = fold_batch(tiny.model, jobs)
    assert {r.batch_size for r in batched} == {3}
    for together, single in zip(batched, [fold_batch(tiny.model, [j])[0] for j in jobs], strict=True):
        assert_same(together, single)


def test_ptm_is_per_sequence_not_per_batch(tiny) -> None:
    batched = fold_batch(tiny.model, [job(SEQ_A), job(SEQ_B)])
    # transformers' forward returns one pTM for the whole batch; ours differ per sequence
    assert batched[0].ptm != pytest.approx(batched[1].ptm, abs=1e-4)
    assert batched[1].ptm == pytest.approx(fold_batch(tiny.model, [job(SEQ_B)])[0].ptm, abs=1e-5)


@pytest.mark.parametrize("recycles", [1, 3])
def test_num_recycles_n_runs_n_plus_one_trunk_passes(tiny, recycles: int) -> None:
    calls = 0

    def count(_module, _args) -> None:
        nonlocal calls
        calls += 1

    # the structure module runs once at the end of every trunk pass
    hook = tiny.model.trunk.structure_module.register_forward_pre_hook(count)
    try:
        (result,) = fold(tiny.model, [job(SEQ_B, recycles=recycles)])
    finally:
        hook.remove()
    assert calls == recycles + 1
    assert result.trunk_passes == recycles + 1


def test_recycling_changes_the_structure(tiny) -> None:
    one, four = fold(tiny.model, [job(SEQ_B, recycles=1), job(SEQ_B, recycles=4)])
    assert not np.allclose(one.atom_positions, four.atom_positions, atol=1e-3)


def test_chunked_agrees_with_unchunked(tiny) -> None:
    before = tiny.model.trunk.chunk_size
    unchunked, chunked = fold(tiny.model, [job(SEQ_A, chunk=None), job(SEQ_A, chunk=4)])
    assert chunked.chunk_size == 4 and unchunked.chunk_size is None
    assert_same(unchunked, chunked)
    assert tiny.model.trunk.chunk_size == before, "the model's chunk setting must be restored"


def test_fold_keeps_input_order_across_groups(tiny) -> None:
    jobs = [job(SEQ_B, recycles=2), job(SEQ_A), job(SEQ_C, recycles=2), job(SEQ_B)]
    results = fold(tiny.model, jobs)
    assert [r.sequence for r in results] == [j.sequence for j in jobs]
    assert [r.num_recycles for r in results] == [2, 1, 2, 1]


def test_should_stop_cancels_between_passes(tiny) -> None:
    checks = 0

    def stop_after_two_checks() -> bool:
        nonlocal checks
        checks += 1
        return checks > 2

    # per-pass checks only: a loaded machine must not add a throttled check inside a pass (test_esmfold_stopping)
    with pytest.raises(Cancelled, match="after 2 of 5 trunk passes"):
        fold(tiny.model, [job(SEQ_B, recycles=4)], should_stop=stop_after_two_checks, check_interval_s=PER_PASS_ONLY)


def test_plan_batches_groups_by_settings_and_bounds_padding() -> None:
    jobs = [job("A" * 100), job("A" * 95), job("A" * 20), job("A" * 98, recycles=2), job("A" * 99, chunk=64)]
    batches = plan_batches(jobs)
    assert sorted(i for b in batches for i in b) == [0, 1, 2, 3, 4]
    assert [0, 1] in batches  # similar lengths share a pass
    assert [2] in batches  # 20 aa padded to 100 would waste ~25x the work
    assert [3] in batches and [4] in batches  # other recycles / chunking never mix
    assert plan_batches([job("A" * 600), job("A" * 600)], max_pair_cells=600**2) == [[0], [1]]


def test_tiny_model_is_deterministic_and_hash_names_it() -> None:
    first, second = load_model(None, tiny_seed=0), load_model(None, tiny_seed=0)
    other = load_model(None, tiny_seed=1)
    assert first.weights.sha256 == second.weights.sha256 != other.weights.sha256
    assert first.weights.name == "esmfold-tiny-random-seed0" and not first.weights.real
    assert_same(fold(first.model, [job(SEQ_B)])[0], fold(second.model, [job(SEQ_B)])[0], atol=0)


def test_pdb_round_trips_through_gemmi_with_provenance(tiny) -> None:
    sequence = "MKTXAYIAKQ"  # X: an unknown residue still gets a residue (its CA)
    (result,) = fold(tiny.model, [job(sequence)])
    text = pdb_text(result, tiny.weights)
    structure = gemmi.read_pdb_string(text)
    chain = structure[0][0]
    assert len(chain) == len(sequence)
    assert gemmi.one_letter_code([r.name for r in chain]) == sequence
    ca = [residue.find_atom("CA", "*") for residue in chain]
    np.testing.assert_allclose([a.b_iso for a in ca], result.plddt, atol=0.01)  # PDB has 2 decimals
    assert "NOT A REAL PREDICTION" in text and tiny.weights.sha256 in text.replace("\nREMARK 250 ", "")
    assert "not a real prediction" not in text.split("NOT A REAL PREDICTION", 1)[1][:200]  # said once, not twice
    cif = gemmi.cif.read_string(mmcif_text(result, tiny.weights)).sole_block()
    assert len(gemmi.make_structure_from_block(cif)[0][0]) == len(sequence)
    meta = metadata(result, tiny.weights, tiny.instance)
    assert meta["real_weights"] is False and "not a real prediction" in meta["note"]
    # A job's timings are its own: the instance's one-time load is provenance (it was `timings.model_load_s`,
    # repeated in every job and shown by the dashboard as one of its stages).
    assert set(meta["timings"]) == {"fold_s"}
    assert meta["model_instance"] == {"load_s": round(tiny.load_s, 3)}
    # The software that produced the result, read once at the load.
    assert set(meta["software"]) == {"phonos", "python", "torch", "transformers", "numpy"}
    assert meta["software"]["torch"] == torch.__version__ and meta["software"]["phonos"] != "unknown"


def test_atom37_order_matches_transformers() -> None:
    from phonos_models.common.structure import ATOM37_NAMES
    from transformers.models.esm.openfold_utils.residue_constants import atom_types

    assert list(ATOM37_NAMES) == atom_types


def test_load_uses_one_thread() -> None:
    assert torch.get_num_threads() == 1


def test_make_job_guards_direct_triton_clients_and_forces_chunking_when_long() -> None:
    from phonos_models.common.errors import BadInput
    from phonos_models.esmfold.batching import make_job

    limits = {"max_length": 600, "auto_chunk_length": 512, "auto_chunk_size": 128, "max_chains": 2}
    assert make_job(" mkt\nay ", 4, 0, **limits) == FoldJob("MKTAY", 4, None)
    assert make_job("A" * 513, 4, 0, **limits).chunk_size == 128  # long: chunked even when asked off
    assert make_job("A" * 513, 4, 32, **limits).chunk_size == 32
    for sequence, recycles, chunk, message in (
        ("", 1, 0, "empty"),
        ("MKZ1", 1, 0, "invalid amino-acid letters: 1, Z"),
        ("MKT:AAA:GGG", 1, 0, "at most 2"),
        ("MKT::AAA", 1, 0, "SEQUENCE chain 2 is empty"),
        ("A" * 601, 1, 0, "at most 600"),
        ("MKT", 25, 0, "between 0 and 24"),
        ("MKT", 1, -1, "CHUNK_SIZE"),
    ):
        with pytest.raises(BadInput, match=message):
            make_job(sequence, recycles, chunk, **limits)
    with pytest.raises(BadInput, match='^RELAX must be one of none, best, all, got "yes"$'):  # JSON's quotes
        make_job("MKT", 1, 0, **limits, relax="yes")


def test_pdb_is_what_transformers_output_to_pdb_writes_with_plddt_on_the_0_to_100_scale(tiny) -> None:
    """The same fold written by transformers' own `EsmForProteinFolding.output_to_pdb`: the same atoms (names,
    elements, order of residues), the same coordinates, B-factors 100 × theirs (they write pLDDT 0-1 to two
    decimals); the one difference is the CA we write for an X, which they leave out (no atom exists for it)."""
    from phonos_models.common.transformers_esm import restype_order_with_x

    sequence = "MKTAYIAKQRXSFVKSHFSRQW"
    (result,) = fold(tiny.model, [job(sequence, recycles=2)])
    with torch.inference_mode():
        out = tiny.model(torch.tensor([[restype_order_with_x[c] for c in sequence]]), num_recycles=2)
    theirs = gemmi.read_pdb_string(tiny.model.output_to_pdb(out)[0])[0]
    ours = gemmi.read_pdb_string(pdb_text(result, tiny.weights))[0]

    def atoms(model: gemmi.Model) -> dict[tuple[str, int, str, str], gemmi.Atom]:
        return {(chain.name, residue.seqid.num, residue.name, atom.name): atom
                for chain in model for residue in chain for atom in residue}

    mine, reference = atoms(ours), atoms(theirs)
    assert set(mine) - set(reference) == {("A", 11, "UNK", "CA")}
    assert set(reference) <= set(mine) and len(reference) > 150
    for key, atom in reference.items():
        assert mine[key].pos.dist(atom.pos) < 0.002, key
        assert mine[key].b_iso == pytest.approx(100 * atom.b_iso, abs=0.51), key
        assert (mine[key].element.name, mine[key].occ) == (atom.element.name, atom.occ), key
    # they skip the X's residue altogether (keeping the numbers of the rest); we keep one residue per letter
    assert [(r.seqid.num, r.name) for r in ours["A"] if r.name != "UNK"] == [(r.seqid.num, r.name) for r in theirs["A"]]
