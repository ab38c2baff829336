"""Protein sequences as people paste them: the letters the structure models fold, and what to say about the rest.

One rule for ESMFold, AlphaFold2 and the job service's check before credits, so a sequence the API accepts is
one the models accept, and a refusal reads the same on both sides of the Triton boundary. Pure Python (no
numpy): the job service imports it.
"""

from __future__ import annotations

from phonos_config.complexes import CHAIN_BREAK

# The 20 standard one-letter codes and X (unknown): both models map X to their unknown residue type.
PROTEIN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYX")
# What to write instead of the IUPAC letters neither model has a residue type for (fair-esm would fold them
# as X unsaid; AlphaFold2 has no such residue): the usual standard stand-in.
REPLACEMENTS = {"U": "C (selenocysteine)", "O": "K (pyrrolysine)", "B": "D or N", "Z": "E or Q", "J": "I or L"}


def replacement_hint(bad: list[str]) -> str:
    """A sentence naming the usual replacement of each refused letter that has one (U -> C, ...); "" if none has."""
    known = [f"{letter} -> {REPLACEMENTS[letter]}" for letter in bad if letter in REPLACEMENTS]
    return f" Write {'; '.join(known)}, or X." if known else ""


def fasta_header_message(text: str, subject: str = "sequence") -> str | None:
    """The refusal for a sequence pasted with its FASTA header line; None when `text` does not start with '>'."""
    if not text.lstrip().startswith(">"):
        return None
    return f"{subject} looks like FASTA (it starts with '>'): send the residues only, without the header line"


def invalid_letters_message(cleaned: str, subject: str = "sequence") -> str | None:
    """The refusal naming the letters of `cleaned` (upper case, no whitespace; ':' chain breaks allowed) that no
    model folds, with their usual replacement; None when every letter is foldable."""
    bad = sorted(set(cleaned) - PROTEIN_LETTERS - {CHAIN_BREAK})
    if not bad:
        return None
    return (f"{subject} contains invalid amino-acid letters: {''.join(bad)}. Use the 20 standard one-letter "
            f"codes, X for unknown, and ':' between the chains of a complex.{replacement_hint(bad)}")
