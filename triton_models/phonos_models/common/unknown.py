"""Residues given as X (unknown): where they are, and what the result says about them.

Both structure models fold X as their unknown residue type, which has no atom template: AlphaFold2
writes no atoms for it and ESMFold only the CA we place. A chain of nothing but X would fold into
nothing, so it is refused; otherwise the job's metadata and scores list the X residues and say what
the files hold for them. Pure Python: the job service validates ESMFold sequences with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CHAIN_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"  # AlphaFold's PDB_CHAIN_IDS
MAX_LISTED = 100  # residue ids listed (the count is always whole)


def _label(number: int) -> str:
    return CHAIN_LETTERS[number] if number < len(CHAIN_LETTERS) else str(number + 1)


def only_unknown_chains(chains: Sequence[str]) -> list[str]:
    """Positions (1-based, as typed: `letters.chain_name`) of the chains that hold nothing but X."""
    return [str(n) for n, chain in enumerate(chains, start=1) if chain and set(chain) == {"X"}]


def only_unknown_message(chains: Sequence[str], subject: str = "sequence") -> str | None:
    """The refusal for chains of nothing but X; None when every chain has a known residue."""
    only_x = only_unknown_chains(chains)
    if not only_x:
        return None
    if len(chains) == 1:
        where = f"{subject} is"
    else:
        where = f"{subject} chain {only_x[0]} is" if len(only_x) == 1 else f"{subject} chains {', '.join(only_x)} are"
    return f"{where} only X (unknown residues); give at least one known amino acid per chain"


def unknown_residues(chains: Sequence[str]) -> dict[str, Any] | None:
    """{"count", "residues": ["A:7", ...]} (chain, 1-based number) of the X residues; None when there are none."""
    ids = [f"{_label(n)}:{k + 1}" for n, chain in enumerate(chains) for k, c in enumerate(chain) if c == "X"]
    return {"count": len(ids), "residues": ids[:MAX_LISTED]} if ids else None


def unknown_warning(summary: dict[str, Any], written_as: str) -> str:
    """The metadata warning for `unknown_residues(...)`; `written_as` says what the files hold for them."""
    return f"{summary['count']} residue(s) given as X were folded as the model's unknown residue type: {written_as}"
