"""The job page's structure comparison maths (gateway/static/js/superpose.js), run in Chromium on coordinates whose
answers numpy knows: a moved copy, a noisy copy (RMSD against numpy's Kabsch), a hinge motion (the TM-score at
least that of superposing the fixed domain), a point mutant missing its first residues (paired by alignment).
A job service on the inference twin serves the page's scripts, in this module alone."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Browser, Page

from tests.dashboard.pages_helpers import Watched, in_process_service, open_page
from tests.support import InProcessService

pytestmark = pytest.mark.e2e

AMINO = "ACDEFGHIKLMNPQRSTVWY"
THREE = {"A": "ALA", "C": "CYS", "D": "ASP", "E": "GLU", "F": "PHE", "G": "GLY", "H": "HIS", "I": "ILE", "K": "LYS",
         "L": "LEU", "M": "MET", "N": "ASN", "P": "PRO", "Q": "GLN", "R": "ARG", "S": "SER", "T": "THR", "V": "VAL",
         "W": "TRP", "Y": "TYR"}


service = in_process_service("superpose", {"PHONOS_MODELS": "esmfold"})


@pytest.fixture(scope="module")
def page(browser: Browser, service: InProcessService) -> Iterator[Page]:
    watched = Watched()
    opened = open_page(browser, watched)
    opened.goto(f"{service.base_url}/signin")  # any page of the dashboard's origin, to import its modules
    opened.wait_for_selector("#signin-form, form")  # the app has drawn the page (and stopped navigating)
    opened.wait_for_load_state("networkidle")
    yield opened
    opened.context.close()
    assert watched.problems() == [], watched.problems()


def two_helices(length: int = 80) -> np.ndarray:
    """Cα-like coordinates: two ideal helices joined end to end at an angle (a two-domain protein)."""
    k = np.arange(length)
    helix = np.stack([2.3 * np.cos(np.radians(100 * k)), 2.3 * np.sin(np.radians(100 * k)), 1.5 * k], axis=1)
    half = length // 2
    helix[half:] = helix[half:] @ rotation_about([1, 0, 0], 70).T + helix[half - 1] - helix[half - 1] @ rotation_about([1, 0, 0], 70).T
    return helix


def rotation_about(axis: list[float], degrees: float) -> np.ndarray:
    a = np.asarray(axis, dtype=float) / np.linalg.norm(axis)
    t = math.radians(degrees)
    cross = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(t) * cross + (1 - math.cos(t)) * cross @ cross


def pdb(coords: np.ndarray, sequence: str, chain: str = "A", first: int = 1) -> str:
    lines = [f"ATOM  {n + 1:5d}  CA  {THREE[aa]} {chain}{first + n:4d}    {x:8.3f}{y:8.3f}{z:8.3f}  1.00 50.00           C"
             for n, (aa, (x, y, z)) in enumerate(zip(sequence, coords, strict=True))]
    return "\n".join([*lines, "END", ""])


def parsed(text: str) -> np.ndarray:
    """The coordinates as the PDB text rounds them (what the browser reads)."""
    return np.array([[float(line[30:38]), float(line[38:46]), float(line[46:54])]
                     for line in text.splitlines() if line.startswith("ATOM")])


def kabsch_rmsd(target: np.ndarray, mobile: np.ndarray) -> float:
    p, q = mobile - mobile.mean(0), target - target.mean(0)
    u, _, vt = np.linalg.svd(p.T @ q)
    d = np.sign(np.linalg.det(u @ vt))
    r = u @ np.diag([1, 1, d]) @ vt
    return float(np.sqrt(((p @ r - q) ** 2).sum(1).mean()))


def tm_after_fit_on(target: np.ndarray, mobile: np.ndarray, subset: slice | np.ndarray) -> float:
    """The TM-score (over len(target)) when `mobile` is superposed on `target` by the pairs in `subset` only."""
    length = len(target)
    d0 = max(0.5, 1.24 * (length - 15) ** (1 / 3) - 1.8)
    p, q = mobile[subset], target[subset]
    pc, qc = p.mean(0), q.mean(0)
    u, _, vt = np.linalg.svd((p - pc).T @ (q - qc))
    r = u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt
    d = np.linalg.norm((mobile - pc) @ r + qc - target, axis=1)
    return float((1 / (1 + (d / d0) ** 2)).sum() / length)


def compare(page: Page, this: str, other: str) -> dict[str, Any]:
    return page.evaluate("""async ([a, b]) => {
        const m = await import('/static/js/superpose.js');
        const found = m.compareStructures(a, b);
        // Moving the other PDB by the reported transform puts its Cα atoms where the TM-score saw them.
        const moved = m.caTrace(m.movePdb(b, found.transform));
        return {...found, moved: moved.map((r) => [r.x, r.y, r.z])};
    }""", [this, other])


def test_a_moved_copy_scores_one_and_a_noisy_copy_matches_numpys_rmsd(page: Page) -> None:
    rng = np.random.default_rng(7)
    coords = two_helices()
    sequence = "".join(rng.choice(list(AMINO), len(coords)))
    this = pdb(coords, sequence)
    turn = rotation_about(rng.normal(size=3).tolist(), 123)
    moved = pdb(coords @ turn.T + [30.0, -12.0, 7.5], sequence, chain="B", first=101)
    found = compare(page, this, moved)
    assert found["sameSequence"] and found["aligned"] == len(coords) and found["identity"] == 1
    assert found["tm"] == pytest.approx(1.0, abs=1e-6) and found["rmsd"] < 2e-3
    assert np.abs(np.array(found["moved"]) - parsed(this)).max() < 5e-3

    noisy = pdb((coords + rng.normal(scale=1.0, size=coords.shape)) @ turn.T - [4.0, 9.0, 1.0], sequence)
    found = compare(page, this, noisy)
    assert found["rmsd"] == pytest.approx(kabsch_rmsd(parsed(this), parsed(noisy)), abs=1e-6)
    everything = tm_after_fit_on(parsed(this), parsed(noisy), slice(None))
    assert everything - 1e-9 <= found["tm"] < 1.0


def test_a_hinge_motion_keeps_the_score_of_the_domain_that_did_not_move(page: Page) -> None:
    coords = two_helices()
    half = len(coords) // 2
    sequence = (AMINO * 4)[: len(coords)]
    hinged = coords.copy()
    hinge = coords[half - 1]
    hinged[half:] = (coords[half:] - hinge) @ rotation_about([0, 1, 0], 100).T + hinge
    this, other = pdb(coords, sequence), pdb(hinged @ rotation_about([1, 1, 0], 40).T + 20.0, sequence)
    found = compare(page, this, other)
    fixed_domain = tm_after_fit_on(parsed(this), parsed(other), slice(0, half))
    assert found["tm"] >= fixed_domain - 1e-6 and fixed_domain > 0.5
    assert found["tm"] < 0.9  # the moved domain does not count as aligned
    assert found["rmsd"] == pytest.approx(kabsch_rmsd(parsed(this), parsed(other)), abs=1e-6) and found["rmsd"] > 3


def test_a_point_mutant_without_its_first_residues_is_paired_by_alignment(page: Page) -> None:
    coords = two_helices()
    rng = np.random.default_rng(3)
    sequence = "".join(rng.choice(list(AMINO), len(coords)))
    mutant = list(sequence[5:])
    for k in (10, 30, 50):
        mutant[k] = "W" if mutant[k] != "W" else "G"
    # A calcium ion's atom is named CA too: it is not a residue.
    ion = "HETATM 9999 CA    CA C 900       1.000   2.000   3.000  1.00 20.00          CA"
    other = pdb(coords[5:] + 3.0, "".join(mutant)).replace("END\n", ion + "\nEND\n")
    found = compare(page, pdb(coords, sequence), other)
    assert not found["sameSequence"] and found["lengthOther"] == len(coords) - 5
    assert found["aligned"] == len(coords) - 5 and found["identity"] == pytest.approx((len(coords) - 8) / (len(coords) - 5))
    # Every paired residue sits exactly where its partner does: the score is the paired share of this length.
    assert found["rmsd"] < 2e-3 and found["tm"] == pytest.approx((len(coords) - 5) / len(coords), abs=1e-4)


def test_structures_with_too_little_in_common_are_refused_with_a_reason(page: Page) -> None:
    message = page.evaluate("""async ([a, b]) => {
        const m = await import('/static/js/superpose.js');
        try { m.compareStructures(a, b); return 'no error'; } catch (err) { return err.message; }
    }""", [pdb(two_helices()[:2], "AC"), pdb(two_helices(), (AMINO * 4)[:80])])
    assert message == "each structure needs at least 3 residues with a Cα atom"
    # Unrelated sequences (nothing lines up): the reason says why and what Compare is for, not only the count.
    unrelated = page.evaluate("""async ([a, b]) => {
        const m = await import('/static/js/superpose.js');
        try { m.compareStructures(a, b); return 'no error'; } catch (err) { return err.message; }
    }""", [pdb(two_helices()[:40], "A" * 40), pdb(two_helices()[:40], "W" * 40)])
    assert unrelated.startswith("the two sequences have fewer than 3 residues that line up: residues are paired by "
                                "sequence, so Compare superposes structures of one protein"), unrelated
    cif = page.evaluate("""async (b) => {
        const m = await import('/static/js/superpose.js');
        try { m.compareStructures(b, 'data_x\\nloop_\\n_atom_site.id\\n1\\n'); return 'no error'; } catch (err) { return err.message; }
    }""", pdb(two_helices(), (AMINO * 4)[:80]))
    assert cif.startswith("no residue with a Cα atom in the other structure: is it a PDB file")
