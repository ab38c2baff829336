"""What DeepMind's Amber relax cannot take, said before it fails with an unexplained exception.

Measured on predicted structures: a residue of unknown type (X: ESMFold writes it as UNK with only
its CA) fails the relax's atom-mask check (a numpy AssertionError dump); AlphaFold2 writes no atoms for
it, and the relax then "completes" with the chain bonded across the hole; a chain of a single residue
fails inside PDBFixer/OpenMM (`AttributeError: 'NoneType' object has no attribute '_finalize'`, or an
IndexError in a complex). Such a structure is delivered unrelaxed with one of these reasons instead.
Pure Python: the relax worker calls it before importing OpenMM.
"""

from __future__ import annotations

from phonos_models.common.letters import chain_name
from phonos_models.common.unknown import CHAIN_LETTERS

MAX_LISTED = 10  # residue ids named in a message


def unrelaxable(pdb_text: str) -> str | None:
    """Why the Amber relax cannot run on this PDB text, or None when nothing stands in its way."""
    residues: dict[str, dict[str, str]] = {}  # chain → residue number (with insertion code) → name
    for line in pdb_text.splitlines():
        if line.startswith(("ATOM  ", "HETATM")) and len(line) >= 27:
            residues.setdefault(line[21], {})[line[22:27].strip()] = line[17:20].strip()
    unknown = [f"{chain}:{number}" for chain, numbers in residues.items()
               for number, name in numbers.items() if name == "UNK"]
    if unknown:
        listed = ", ".join(unknown[:MAX_LISTED]) + (" ..." if len(unknown) > MAX_LISTED else "")
        return (f"not relaxed: residues of unknown type (X) at {listed} have no atoms beyond the CA and no "
                "force-field template")
    gaps = [f"{chain}:{a + 1}" + (f"-{b - 1}" if b - 1 > a + 1 else "") for chain, numbers in residues.items()
            for a, b in _steps(numbers) if b - a > 1]
    if gaps:  # AlphaFold2 writes no atoms for X: Amber would bond the residues either side of the hole
        return (f"not relaxed: residues {', '.join(gaps[:MAX_LISTED])} have no atoms (given as X), and the relax "
                "would join the chain across the gap")
    # the files name chains A, B, ... in the order of the sequence: say which chain the user typed, too
    single = [f"{chain} ({chain_name(CHAIN_LETTERS.index(chain))})" if chain in CHAIN_LETTERS else chain
              for chain, numbers in residues.items() if len(numbers) == 1]
    if single:
        said = f"chain {single[0]} is a single residue" if len(single) == 1 else \
            f"chains {', '.join(single)} are single residues"
        return f"not relaxed: {said}, which the relax (PDBFixer and Amber99sb) cannot handle"
    return None


def _steps(numbers: dict[str, str]) -> list[tuple[int, int]]:
    """Neighbouring residue numbers of a chain, in file order (insertion codes ignored)."""
    values = [int(n.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")) for n in numbers]
    return list(zip(values, values[1:], strict=False))


def short_error(exc: BaseException) -> str:
    """An exception as one line for people (numpy assertion dumps run over many lines)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:200]}" if lines else type(exc).__name__
