"""Protein sequences as people paste them: the letters the structure models fold, and what to say about the rest.

How every message names a chain of a ':'-separated sequence: by its 1-based position as the user typed it
("sequence chain 2"), never by the letter the result files give it (B): the user wrote no letters. (A chain of
a receptor PDB is named by its own chain id, quoted as JSON: `receptor chain "A"`.)

One rule for ESMFold, AlphaFold2 and the job service's check before credits, so a sequence the API accepts is
one the models accept, and a refusal reads the same on both sides of the Triton boundary. Pure Python (no
numpy): the job service imports it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from phonos_config.complexes import CHAIN_BREAK
from phonos_config.json_text import json_value_text as json_text
from phonos_models.common.unknown import only_unknown_message

# The 20 standard one-letter codes and X (unknown): both models map X to their unknown residue type.
PROTEIN_LETTERS = frozenset("ACDEFGHIKLMNPQRSTVWYX")
# What to write instead of the IUPAC letters neither model has a residue type for (fair-esm would fold them
# as X unsaid; AlphaFold2 has no such residue): the usual standard stand-in.
REPLACEMENTS = {"U": "C (selenocysteine)", "O": "K (pyrrolysine)", "B": "D or N", "Z": "E or Q", "J": "I or L"}


# Characters of formats people paste a sequence from, and what they are there.
PASTED = {"*": "'*' (a stop codon: remove it)", "-": "'-' (alignment gaps: remove them)",
          ".": "'.' (alignment gaps: remove them)"}
DIGITS = "digits (position numbers of a GenBank/EMBL listing: remove them)"


def replacement_hint(bad: list[str]) -> str:
    """Sentences naming the usual replacement of each refused letter that has one (U -> C, ...) and what
    pasted characters are (a stop codon, gaps, position numbers); "" if none is known."""
    known = [f"{letter} -> {REPLACEMENTS[letter]}" for letter in bad if letter in REPLACEMENTS]
    pasted = [PASTED[c] for c in bad if c in PASTED] + ([DIGITS] if any(c.isdigit() for c in bad) else [])
    return ((f" Write {'; '.join(known)}, or X." if known else "")
            + (f" Found {', '.join(pasted)}." if pasted else ""))


def residue_text(sequence: str) -> str:
    """`sequence` without whitespace, its ASCII lower-case letters upper-cased and every other character as sent.

    Not `str.upper()`: that maps characters no model folds onto amino-acid letters the user never wrote (ß -> SS,
    ﬀ -> FF, ı -> I, ſ -> S), which then passed the letter check and were folded; and a refusal named é as the É
    that upper() made of it. `bytes.upper()` maps ASCII only, in C (a 60 MB sequence stays quick). The job service
    and both models (a direct Triton request too) clean a sequence with this one function."""
    cleaned = "".join(sequence.split())
    if cleaned.isascii():
        return cleaned.upper()
    return cleaned.encode("utf-8", "surrogatepass").upper().decode("utf-8", "surrogatepass")


def fasta_header_message(text: str, subject: str = "sequence") -> str | None:
    """The refusal for a sequence pasted with FASTA header lines; None when no line starts with '>'.

    A FASTA file of several records (one per chain of a complex, as UniProt or a PDB entry's sequence download
    gives them) was refused as "send the residues only, without the header line", and once that first header was
    removed, the next record's header was refused as the letters '>' and its name ("Write B -> D or N" for a
    record named B): neither said that a complex is written with ':' between the chains."""
    headers = [line.strip() for line in text.splitlines() if line.lstrip().startswith(">")]
    if not headers:
        return None
    if len(headers) == 1 and text.lstrip().startswith(">"):
        return f"{subject} looks like FASTA (it starts with '>'): send the residues only, without the header line"
    named = ", ".join(json_text(header[:30]) for header in headers[:3]) + (", ..." if len(headers) > 3 else "")
    return (f"{subject} looks like FASTA: it has {len(headers)} header line{'s' if len(headers) > 1 else ''} starting "
            f"with '>' ({named}); send the residues only, without header lines, and for a complex write its chains "
            f"in one sequence with '{CHAIN_BREAK}' between them, in the order of the records (e.g. MKTAYIAKQR:GSHMASEPEP)")


def invalid_letters_message(cleaned: str, subject: str = "sequence") -> str | None:
    """The refusal naming the letters of `cleaned` (upper case, no whitespace; ':' chain breaks allowed) that no
    model folds, with their usual replacement; None when every letter is foldable."""
    bad = sorted(set(cleaned) - PROTEIN_LETTERS - {CHAIN_BREAK})
    if not bad:
        return None
    return (f"{subject} contains invalid amino-acid letters: {shown_letters(bad)}. Use the 20 standard one-letter "
            f"codes, X for unknown, and ':' between the chains of a complex.{replacement_hint(bad)}")


def shown_letters(bad: list[str]) -> str:
    """The refused characters as a reader can see them: printable ASCII as itself, anything else by code point
    and name ("U+200B ZERO WIDTH SPACE", "U+FF21 FULLWIDTH LATIN CAPITAL LETTER A"): text copied from a web page
    or a word processor carries invisible and look-alike characters that, echoed as they are, read as nothing
    or as the very letter the message refuses."""
    plain = [c for c in bad if " " < c < "\x7f"]  # "B, U": run together ("BU") they read as one word
    named = [f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed character')}" for c in bad if not " " < c < "\x7f"]
    return ", ".join(plain + named)


# A chain of at least this many letters, all nucleotide codes (N: any base) and all four bases (A, C, G, T or U),
# is DNA or RNA (a silk-like GAGAGT... repeat, without C, is not taken for one): a protein that long made only of A, C, G, T and N (~26% of residues) turns up with odds of
# ~1e-12, while ESMFold and AlphaFold2 would fold a pasted gene as a meaningless "protein" (T, G, C and A are
# amino acids too) without a word.
NUCLEOTIDE_MIN_LENGTH = 20
_BASES = frozenset("ACGTU")


def nucleotide_message(chain: str, subject: str = "sequence") -> str | None:
    """The refusal for a chain that is a DNA/RNA sequence rather than a protein; None otherwise."""
    letters = set(chain)
    if len(chain) < NUCLEOTIDE_MIN_LENGTH or not letters <= _BASES | {"N"} or len(letters & _BASES) < 4:
        return None
    kind = "an RNA" if "U" in chain else "a DNA"
    return (f"{subject} looks like {kind} sequence (only the letters A, C, G, {'U' if 'U' in chain else 'T'} and N): "
            "this model folds proteins; translate the coding sequence to amino acids first (e.g. Biopython's "
            "Seq(text).translate())")


def chain_name(index: int, subject: str = "sequence") -> str:
    """How a message names chain `index` (0-based) of a ':'-separated sequence: "sequence chain 2"."""
    return f"{subject} chain {index + 1}"


def chains_message(chains: Sequence[str], subject: str = "sequence") -> str | None:
    """The refusal for the chains of a sequence (upper case, no whitespace, split at ':'), or None: an empty
    chain, a DNA/RNA sequence, letters no model folds, a chain of nothing but X. One rule and one wording for the job service's
    check and both structure models."""
    empty = [str(number) for number, chain in enumerate(chains, start=1) if not chain]
    if empty:
        what = f"chain {empty[0]} is" if len(empty) == 1 else f"chains {', '.join(empty)} are"
        return f"{subject} {what} empty: put exactly one ':' between two chains, none at either end"
    for index, chain in enumerate(chains):
        name = subject if len(chains) == 1 else chain_name(index, subject)
        letters = nucleotide_message(chain, name) or invalid_letters_message(chain, name)
        if letters:
            return letters
    return only_unknown_message(chains, subject)
