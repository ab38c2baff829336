"""Amber relax (DeepMind's alphafold.relax on OpenMM, in a worker process) on structures built from geometry."""

from __future__ import annotations

import time

import gemmi
import numpy as np
import pytest
from alphafold.common import protein
from phonos_models.common import relax_step
from phonos_models.common.clashes import count_clashes, count_clashes_in_pdb
from phonos_models.common.errors import Cancelled
from phonos_models.common.progress import Progress
from phonos_models.common.relax import FAILED, TIMED_OUT, relax_structures

from phonos_config.relax import RelaxSettings
from tests.relax.structures import ideal_helix_pdb, plant_clash

SEQUENCE = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQ"  # 33 aa
ONE_THREAD = RelaxSettings(cpu_threads=1, platform="CPU")


@pytest.fixture(scope="module")
def helix() -> str:
    return ideal_helix_pdb(SEQUENCE, plddt=80.0)


@pytest.fixture(scope="module")
def clashed(helix: str) -> str:
    # Two phenylalanine side chains slid one helix turn along, into residues 18 and 23.
    return plant_clash(plant_clash(helix, mover=13, target=17), mover=18, target=22)


@pytest.mark.unit
def test_clash_counter_follows_alphafolds_criterion(helix: str, clashed: str) -> None:
    assert count_clashes_in_pdb(helix) == 0  # ideal geometry: bonded C-N pairs are exempt
    assert count_clashes_in_pdb(clashed) >= 8
    # Two atoms 1.0 Å apart in different residues clash; the same pair as the C(i)-N(i+1) peptide
    # bond does not, unless the residues sit in different chains.
    positions = np.zeros((2, 37, 3))
    mask = np.zeros((2, 37))
    mask[0, 2] = mask[1, 0] = 1  # C of residue 1, N of residue 2
    positions[1, 0] = [1.0, 0.0, 0.0]
    assert count_clashes(positions, mask, np.array([1, 2]), np.array([0, 0])) == 0
    assert count_clashes(positions, mask, np.array([1, 2]), np.array([0, 1])) == 1
    assert count_clashes(positions, mask, np.array([1, 3]), np.array([0, 0])) == 1
    sg = 10  # SG-SG: a disulfide, exempt
    mask = np.zeros((2, 37))
    mask[:, sg] = 1
    positions = np.zeros((2, 37, 3))
    positions[1, sg] = [2.0, 0.0, 0.0]
    assert count_clashes(positions, mask, np.array([1, 5]), np.array([0, 0])) == 0


@pytest.mark.integration
def test_relax_removes_a_planted_clash_and_reports_a_broken_structure(helix: str, clashed: str) -> None:
    broken = protein.from_pdb_string(helix)
    mask = broken.atom_mask.copy()
    mask[5, 5:] = 0  # residue 6 lost its side chain beyond CB: DeepMind's relax refuses non-ideal atoms
    broken_pdb = protein.to_pdb(protein.Protein(broken.atom_positions, broken.aatype, mask, broken.residue_index,
                                                broken.chain_index, broken.b_factors * mask))

    # Per-atom pLDDT in the B-factors, as ESMFold writes it: the relaxed file must keep each atom's own
    # (DeepMind's relax wrote the residue's CA value on every atom).
    varied = "".join(line[:60] + f"{50 + (index % 40):6.2f}" + line[66:]
                     if line.startswith("ATOM  ") else line
                     for index, line in enumerate(clashed.splitlines(keepends=True)))
    heard: list[int] = []
    outcome = relax_structures([("clashed", varied), ("broken", broken_pdb), ("again", varied)], ONE_THREAD,
                               on_each=heard.append)

    # Progress as each is relaxed (the job read "0 of 3" until the end); the last one is the outcome's to say.
    assert heard == [1]
    assert outcome.status == FAILED and set(outcome.relaxed) == {"clashed", "again"} and set(outcome.errors) == {"broken"}
    # bit-repeatable on one CPU thread: before, OpenMM placed the new hydrogens from Python's unseeded random,
    # so the same structure relaxed twice gave two different files
    assert outcome.relaxed["again"].pdb == outcome.relaxed["clashed"].pdb
    assert outcome.cpu_threads == 1 and outcome.metadata()["repeatable"] is True
    assert "broken" in (outcome.message or "") and "unrelaxed" in (outcome.message or "")
    assert outcome.platform == "CPU" and outcome.openmm_version
    relaxed = outcome.relaxed["clashed"]
    assert relaxed.clashes_before == count_clashes_in_pdb(clashed) >= 8
    assert relaxed.clashes_after < relaxed.clashes_before and relaxed.clashes_after == count_clashes_in_pdb(relaxed.pdb)
    assert relaxed.energy_after < relaxed.energy_before
    assert 0.0 < relaxed.rmsd < 2.0  # restrained: the fold stays where it was
    # The relaxed file parses, keeps the sequence and the pLDDT B-factors, and gained hydrogens.
    structure = gemmi.read_pdb_string(relaxed.pdb)
    residues = list(structure[0][0])
    assert gemmi.one_letter_code([r.name for r in residues]).upper() == SEQUENCE
    atoms = [a for r in residues for a in r]
    assert any(a.element.name == "H" for a in atoms)
    given = {(r.seqid.num, a.name): a.b_iso for r in gemmi.read_pdb_string(varied)[0][0] for a in r}
    assert len(set(given.values())) > 20
    for residue in residues:
        for atom in residue:
            # an atom the relax added (hydrogens) has its residue's CA value, as DeepMind's relax writes it
            expected = given.get((residue.seqid.num, atom.name), given[(residue.seqid.num, "CA")])
            assert atom.element.name == "H" or (residue.seqid.num, atom.name) in given
            assert atom.b_iso == pytest.approx(expected, abs=0.01), (residue.name, residue.seqid.num, atom.name)
    parsed = protein.from_pdb_string(relaxed.pdb)
    assert parsed.atom_mask.sum() >= protein.from_pdb_string(clashed).atom_mask.sum()


@pytest.mark.integration
def test_relax_all_says_its_progress_as_each_structure_is_relaxed(clashed: str) -> None:
    """A job's `relax` stage read "(0/2)" until every structure was relaxed (minutes each with real weights)."""
    heard: list[Progress] = []
    outcome = relax_step.run("all", [("model_1", clashed), ("model_2", clashed)], ONE_THREAD, report=heard.append)
    assert outcome is not None and set(outcome.relaxed) == {"model_1", "model_2"}
    assert [(p.stage, p.step, p.total) for p in heard] == [("relax", 0, 2), ("relax", 1, 2), ("relax", 2, 2)]
    assert heard[1].message == "Amber relax: 1 of 2 structures relaxed"


@pytest.mark.integration
def test_a_relax_past_its_time_limit_stops_cleanly(clashed: str) -> None:
    tick = time.perf_counter()
    outcome = relax_structures([("a", clashed), ("b", clashed)], RelaxSettings(timeout_s=0.5, cpu_threads=1))
    elapsed = time.perf_counter() - tick
    assert outcome.status == TIMED_OUT and outcome.relaxed == {}
    assert set(outcome.errors) == {"a", "b"} and "PHONOS_RELAX_TIMEOUT_S" in (outcome.message or "")
    assert elapsed < 5  # the worker was killed, not waited for
    assert outcome.metadata()["status"] == TIMED_OUT


@pytest.mark.integration
def test_cancelling_stops_the_worker(clashed: str) -> None:
    tick = time.perf_counter()
    with pytest.raises(Cancelled, match="Amber relax"):
        relax_structures([("a", clashed)], ONE_THREAD, should_stop=lambda: time.perf_counter() - tick > 0.5)
    assert time.perf_counter() - tick < 5


@pytest.mark.integration
def test_a_worker_that_cannot_start_is_a_failed_relax_not_an_error(clashed: str) -> None:
    outcome = relax_structures([("a", clashed)], RelaxSettings(python="/nonexistent/python3"))
    assert outcome.status == FAILED and outcome.errors == {"a": "relax worker did not start"}
    outcome = relax_structures([("a", clashed)], RelaxSettings(python="/bin/false"))
    assert outcome.status == FAILED and "exited with status 1" in (outcome.message or "")


@pytest.mark.unit
def test_relax_settings_come_from_phonos_relax_variables(tmp_path) -> None:
    settings = RelaxSettings.from_env({"PHONOS_RELAX_TIMEOUT_S": "30", "PHONOS_RELAX_PLATFORM": "CUDA",
                                       "PHONOS_RELAX_CPU_THREADS": "2", "PHONOS_RELAX_COMPILE_CACHE_DIR": str(tmp_path)})
    assert (settings.timeout_s, settings.platform, settings.cpu_threads, settings.jax_cache) == (30.0, "CUDA", 2, tmp_path)
    assert RelaxSettings.from_env({}) == RelaxSettings()
    for name, value in (("TIMEOUT_S", "0"), ("PLATFORM", "OpenCL"), ("CPU_THREADS", "-1")):
        with pytest.raises(ValueError, match=f"PHONOS_RELAX_{name}"):
            RelaxSettings.from_env({f"PHONOS_RELAX_{name}": value})


@pytest.mark.integration
def test_time_spent_waiting_for_a_turn_counts_against_the_limit(clashed: str) -> None:
    tick = time.perf_counter()
    outcome = relax_structures([("a", clashed)], RelaxSettings(timeout_s=5), started=tick - 6)  # waited 6 s already
    assert outcome.status == TIMED_OUT and outcome.relaxed == {} and outcome.errors == {"a": "not relaxed within 5 s"}
    assert "did not start within 5 s" in (outcome.message or "") and "unrelaxed files are delivered" in (outcome.message or "")
    assert time.perf_counter() - tick < 1  # no worker was started
    with pytest.raises(Cancelled, match="before Amber relax"):
        relax_structures([("a", clashed)], ONE_THREAD, should_stop=lambda: True)


@pytest.mark.unit
def test_a_relax_refused_from_the_structures_alone_only_when_every_chosen_one_is_unrelaxable() -> None:
    """relax_step.refused answers before any queue or worker, with the worker's own outcome and words, only when
    nothing chosen could be relaxed; otherwise the relax runs (and reports the others' reasons itself)."""
    from phonos_models.common import relax_step
    from phonos_models.common.relax import FAILED

    good, unknown = ideal_helix_pdb("MKTAYIAKQR"), ideal_helix_pdb("M")  # a one-residue chain: unrelaxable
    assert relax_step.refused("none", [("a", unknown)]) is None
    assert relax_step.refused("best", [("a", good), ("b", unknown)]) is None  # only the first is chosen
    assert relax_step.refused("all", [("a", good), ("b", unknown)]) is None  # one to relax
    outcome = relax_step.refused("best", [("a", unknown), ("b", good)])
    assert outcome is not None and outcome.status == FAILED and list(outcome.errors) == ["a"]
    assert outcome.message is not None and outcome.message.startswith("Amber relax failed for a (")
    assert outcome.message.endswith("); those structures are delivered unrelaxed")
