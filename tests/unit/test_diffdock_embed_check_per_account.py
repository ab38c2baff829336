"""DiffDock's submission-time ligand check (jobservice/modelspecs/diffdock.py) has two threads of its own. One key
submitting slow flexible ligands held both, so every other account's ligands waited out their budget and were
accepted undecided: an impossible one then failed after submission, charged. Now an account has at most one check in
a thread at a time, so another account's ligand always finds one and is decided at submission."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import jobservice.modelspecs.diffdock as diffdock
from jobservice.errors import InvalidArgument

pytestmark = pytest.mark.unit

PDB = (Path(__file__).parent.parent / "diffdock" / "data" / "receptor_small.pdb").read_text()
PEG_48 = "C" + "COC" * 48 + "O"  # 146 heavy atoms, flexible: RDKit runs to the budget (bench/diffdock_ligand_embed.py)
CYCLOPROPYNE = "C1#CC1"  # no 3D geometry: RDKit says so in ~0.1 s
# The check's budget (PHONOS_DIFFDOCK_LIGAND_EMBED_S, under SUBMIT_EMBED_CHECK_S): each slow check holds a thread
# this long. The slow key's budget is longer than the other's, so behind two of its checks the other's check would
# surely see its budget spent before a thread is free (the two start near together: with equal budgets the first
# thread came free just in time for a 0.02 s check, now and then).
SLOW_ENV = {"PHONOS_DIFFDOCK_LIGAND_EMBED_S": "2"}
QUICK_ENV = {"PHONOS_DIFFDOCK_LIGAND_EMBED_S": "1"}


class Outputs:
    def __init__(self, account_id: int) -> None:
        self.account_id = account_id

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("no job id in these requests")


def test_one_keys_slow_ligands_leave_a_thread_for_another_accounts_check(monkeypatch: pytest.MonkeyPatch) -> None:
    check = diffdock._ligand_embeds
    specs = {1: diffdock.build_spec(SLOW_ENV), 2: diffdock.build_spec(QUICK_ENV)}

    async def scenario() -> None:
        at_the_check: asyncio.Queue[str] = asyncio.Queue()

        async def noting(smiles: str, *args: Any) -> None:
            at_the_check.put_nowait(smiles)  # a condition to wait for: the slow submissions reach the check in order
            await check(smiles, *args)

        monkeypatch.setattr(diffdock, "_ligand_embeds", noting)

        async def submit(account: int, ligand: str) -> Any:
            return await specs[account].validate(ligand, {"protein_pdb": PDB, "random_seed": 7}, Outputs(account))

        slow = [asyncio.create_task(submit(1, PEG_48))]
        assert await at_the_check.get() == PEG_48
        slow.append(asyncio.create_task(submit(1, PEG_48)))
        assert await at_the_check.get() == PEG_48
        with pytest.raises(InvalidArgument, match="could not generate 3D coordinates"):
            await submit(2, CYCLOPROPYNE)  # decided, not accepted undecided behind account 1's checks
        for job in await asyncio.gather(*slow):
            assert job.params["ligand_smiles"] == PEG_48  # undecided: left to the model, as before

    asyncio.run(scenario())


def test_the_service_says_whose_submission_it_checks() -> None:
    """The spec reads the account off the service's JobOutputs (without one, every submission would share a key)."""
    from jobservice.service import AccountJobOutputs

    assert AccountJobOutputs(None, 42).account_id == 42  # type: ignore[arg-type]
