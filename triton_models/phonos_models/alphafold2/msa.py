"""Multiple sequence alignments in A3M: parsing user input, merging, truncating, writing.

A3M: FASTA records aligned to the query; upper-case letters and '-' are match
columns (exactly one per query residue), lower-case letters are insertions
relative to the query, '.' pads insert columns and carries nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alphafold.data import parsers

from phonos_config.json_text import json_value_text
from phonos_models.common.errors import BadInput
from phonos_models.common.letters import chain_name

_MATCH = re.compile(r"[A-Z-]")
_ALLOWED = re.compile(r"^[A-Za-z-]*$")


class A3MError(BadInput):
    """The A3M text cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class Alignment:
    """An MSA whose first record is the query. Records keep their insertions (lower case)."""

    records: tuple[tuple[str, str], ...]  # (description, A3M row)

    @classmethod
    def single(cls, query: str) -> Alignment:
        return cls(records=(("query", query),))

    @property
    def depth(self) -> int:
        return len(self.records)

    def truncated(self, max_seqs: int) -> Alignment:
        """The first `max_seqs` rows, query included (the order is the search's or the user's)."""
        return Alignment(records=self.records[:max_seqs])

    def to_a3m(self) -> str:
        return "".join(f">{description}\n{row}\n" for description, row in self.records)

    def to_msa(self) -> parsers.Msa:
        """AlphaFold's parsed form (aligned rows + deletion matrix) for the feature pipeline."""
        return parsers.parse_a3m(self.to_a3m())


def records_from_text(text: str) -> list[tuple[str, str]]:
    records: list[tuple[str, str]] = []
    # A byte-order mark (U+FEFF) before the first line, as Windows editors save UTF-8, is no part of the A3M.
    for raw in text.removeprefix("\ufeff").splitlines():
        line = raw.replace("\x00", "").strip()  # ColabFold's MSA server separates its A3Ms with NUL bytes
        if not line or line.startswith("#"):  # hhblits writes a '#' header line
            continue
        if line.startswith(">"):
            records.append((line[1:].strip() or f"sequence_{len(records) + 1}", ""))
        elif not records:
            raise A3MError("params.a3m must start with a FASTA header line ('>name') before the first sequence")
        else:
            description, row = records[-1]
            records[-1] = (description, row + line.replace(".", ""))
    return records


def parse_a3m(text: str, query: str) -> Alignment:
    """Validate user A3M text against the query; `A3MError` says which record is wrong."""
    records = records_from_text(text)
    if not records:
        raise A3MError("params.a3m holds no FASTA records (lines starting with '>')")
    for index, (description, row) in enumerate(records, start=1):
        if not row:
            raise A3MError(f"params.a3m record {index} ({json_value_text(description)}) has no sequence")
        if not _ALLOWED.match(row):
            bad = sorted(set(re.sub(r"[A-Za-z-]", "", row)))
            raise A3MError(f"params.a3m record {index} ({json_value_text(description)}) contains invalid characters: "
                           f"{json_value_text(''.join(bad))}")
        columns = len(_MATCH.findall(row))
        if columns == 0 and row.islower():
            raise A3MError(f"params.a3m record {index} ({json_value_text(description)}) is all lower case, which A3M "
                           "reads as insertions (no aligned residue): write the aligned residues in upper case")
        if columns != len(query):
            raise A3MError(
                f"params.a3m record {index} ({json_value_text(description)}) has {columns} match columns "
                f"(upper-case letters and '-'); the query has {len(query)} residues"
            )
    first = records[0][1]
    if first != query:
        raise A3MError(
            "the first record of params.a3m must be the query sequence itself, without gaps or insertions "
            f"(got {json_value_text(first[:30])}{'...' if len(first) > 30 else ''}; {_first_difference(first, query)})"
        )
    return Alignment(records=tuple(records))


def copies_message(chains: Sequence[str], alignments: Sequence[Alignment]) -> str | None:
    """The refusal for copies of one chain (a homomer's) given different A3Ms; None when every copy has the same rows.

    AlphaFold-Multimer gives the copies of one sequence one MSA: DeepMind's merge lays the copies' rows side by
    side as if row k were the same sequence in every copy, and fails on copies of different depth (a job that
    died late with numpy's "all the input array dimensions ... must match"). Headers may differ.
    """
    first: dict[str, int] = {}
    for index, (chain, alignment) in enumerate(zip(chains, alignments, strict=True)):
        if chain not in first:
            first[chain] = index
            continue
        rows = [row for _, row in alignment.records]
        expected = [row for _, row in alignments[first[chain]].records]
        if rows != expected:
            where = (f"{len(expected)} and {len(rows)} records" if len(rows) != len(expected) else
                     f"record {next(k for k, (a, b) in enumerate(zip(expected, rows, strict=True)) if a != b) + 1} differs")
            return (f"{chain_name(first[chain])} and {chain_name(index)} are the same sequence, and AlphaFold-Multimer "
                    f"gives the copies of a chain one MSA, but their entries of params.a3m differ ({where}): send the "
                    "same A3M for every copy")
    return None


def _first_difference(row: str, query: str) -> str:
    """Where an A3M's first record first departs from the query (a construct with one mutation, say)."""
    position = next((i for i, (a, b) in enumerate(zip(row, query, strict=False)) if a != b), None)
    if position is None:  # the same residues, then insertions after the last one
        return f"it has insertions after residue {len(query)}"
    return (f"residue {position + 1} is {json_value_text(row[position])} in the A3M and {json_value_text(query[position])} "
            "in the sequence")


def merge(query: str, hit_sets: Iterable[Iterable[tuple[str, str]]]) -> Alignment:
    """Query first, then hits from each database in order, dropping repeated aligned rows.

    AlphaFold's `make_msa_features` drops duplicates too; doing it here keeps the
    stored A3M equal to what the model saw.
    """
    seen = {query}
    records: list[tuple[str, str]] = [("query", query)]
    strip_insertions = str.maketrans("", "", "abcdefghijklmnopqrstuvwxyz")
    for hits in hit_sets:
        for description, row in hits:
            aligned = row.translate(strip_insertions)
            if aligned in seen or len(aligned) != len(query):
                continue
            seen.add(aligned)
            records.append((description, row))
    return Alignment(records=tuple(records))
