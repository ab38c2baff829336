"""A receptor with `nan`/`inf` coordinates is a 400 at submission and refused by the model.

Found walking the service: a PDB whose CA of residue 20 read `     nan` was accepted, docked into a NaN
receptor centre (every pose NaN), and the job's metadata then held a NaN no JSON can carry, so reading the job,
and listing the account's jobs, answered 500 from then on.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from phonos_models.diffdock import receptor
from phonos_models.diffdock.pipe_validate import ReceptorError, check_receptor

from jobservice.errors import InvalidArgument
from jobservice.modelspecs.diffdock import build_spec

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent / "data" / "receptor_small.pdb").read_text()


def with_coordinate(atom: str, residue: int, text: str) -> str:
    """PDB with the x column of one atom (name, residue number) replaced by `text` (8 columns)."""
    lines = PDB.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("ATOM") and line[12:16].strip() == atom and int(line[22:26]) == residue:
            lines[i] = line[:30] + text.rjust(8) + line[38:]
            return "\n".join(lines) + "\n"
    raise AssertionError(f"no atom {atom} in residue {residue}")


class NoJobs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("no job id here")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_a_non_finite_ca_is_refused_naming_the_atom(value: str) -> None:
    bad = with_coordinate("CA", 5, value)
    with pytest.raises(ReceptorError, match=r"^protein PDB atom CA of \w{3} A 5 has coordinates that are not numbers"):
        check_receptor(bad)
    with pytest.raises(ReceptorError, match="not numbers"):
        receptor.featurize(bad)  # the model's own check, for what reaches it another way


def test_a_non_finite_side_chain_atom_is_refused_too() -> None:
    # the confidence model and the complex PDB use every heavy atom
    with pytest.raises(ReceptorError, match=r"^protein PDB atom CB of \w{3} A 7 "):
        check_receptor(with_coordinate("CB", 7, "nan"))


def test_the_submission_is_a_400_before_credits() -> None:
    spec = build_spec({})
    with pytest.raises(InvalidArgument, match=r"^params.protein_pdb: protein PDB atom CA of \w{3} A 5 has coordinates"):
        asyncio.run(spec.validate("CCO", {"protein_pdb": with_coordinate("CA", 5, "nan")}, NoJobs()))


def test_a_nan_water_is_removed_as_waters_are() -> None:
    water = "HETATM 9999  O   HOH W   1         nan   0.000   0.000  1.00  0.00           O\n"
    assert check_receptor(PDB.replace("END\n", "") + water + "END\n").residues == check_receptor(PDB).residues


def at_origin(pdb: str) -> str:
    """Every atom record's coordinates 0, 0, 0 (a placeholder file)."""
    return "".join(line[:30] + f"{0.0:8.3f}" * 3 + line[54:] if line.startswith(("ATOM", "HETATM")) else line
                   for line in pdb.splitlines(keepends=True))


def test_a_receptor_whose_atoms_all_sit_at_one_place_is_refused() -> None:
    """Found by a tester: 12 residues with every atom at (0, 0, 0) were docked and charged as a structure."""
    with pytest.raises(ReceptorError, match=r"^protein PDB residues \w{3} A \d+ and \w{3} A \d+ have their CA atoms at "
                                            r"the same place \(0, 0, 0\): these coordinates are not a structure$"):
        check_receptor(at_origin(PDB))
    spec = build_spec({})
    with pytest.raises(InvalidArgument, match=r"^params.protein_pdb: protein PDB residues .* at the same place"):
        asyncio.run(spec.validate("CCO", {"protein_pdb": at_origin(PDB)}, NoJobs()))
    moved = with_coordinate("CA", 5, "12.345")  # one atom moved is still a structure
    assert check_receptor(moved).residues == check_receptor(PDB).residues
