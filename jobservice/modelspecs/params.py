"""Typed reading of a job's `params` object, shared by every model spec.

`params` arrives as JSON (via google.protobuf.Struct, where every number is a
double), so integers are checked to be integral and booleans to be booleans.
Messages repeat a refused value as JSON writes it (`true`, `"yes"`), which is what the client sent.
Unknown keys are rejected: a typo such as `num_recylces` must not silently
fall back to a default.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from phonos_models.common.letters import (
    chains_message,
    fasta_header_message,
    invalid_letters_message,
    residue_text,
)

from jobservice.errors import InvalidArgument, json_value_text
from phonos_config.complexes import CHAIN_BREAK


class ParamReader:
    """Reads one model's params; call `finish()` last to reject unknown keys."""

    def __init__(self, model: str, params: Mapping[str, Any]) -> None:
        self._model = model
        self._params = dict(params)
        self._seen: set[str] = set()

    def _raw(self, key: str) -> Any:
        self._seen.add(key)
        return self._params.get(key)

    def peek(self, key: str) -> Any:
        """The value as sent, without marking the key as read (to choose how to read it)."""
        return self._params.get(key)

    def structured(self, key: str) -> Any:
        """The value as sent (object, list, ...), marked as read: for a param the spec parses itself."""
        return self._raw(key)

    def has(self, key: str) -> bool:
        """True when the user set `key` (to anything but null)."""
        return self._params.get(key) is not None

    def integer(self, key: str, default: int | None, lo: int | None = None, hi: int | None = None) -> int | None:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
            raise InvalidArgument(f"params.{key} must be an integer for {self._model}, got {json_value_text(value)}")
        number = int(value)
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise InvalidArgument(f"params.{key} must be between {lo} and {hi} for {self._model}, "
                                  f"got {_out_of_range_text(value, lo, hi)}")
        return number

    def boolean(self, key: str, default: bool | None) -> bool | None:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InvalidArgument(f"params.{key} must be true or false for {self._model}, got {json_value_text(value)}")
        return value

    def string(self, key: str, default: str | None, max_length: int | None = None) -> str | None:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise InvalidArgument(f"params.{key} must be a string for {self._model}, got {json_value_text(value)}")
        if max_length is not None and len(value) > max_length:
            raise InvalidArgument(f"params.{key} is {len(value)} characters; the limit is {max_length}")
        return value

    def string_list(self, key: str, max_items: int, max_total_length: int | None = None) -> list[str] | None:
        """A JSON array of strings (e.g. one A3M per chain); None when unset."""
        value = self._raw(key)
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not all(isinstance(item, str) for item in value):
            raise InvalidArgument(f"params.{key} must be a list of strings for {self._model}")
        if len(value) > max_items:
            raise InvalidArgument(f"params.{key} has {len(value)} entries; the limit is {max_items}")
        total = sum(len(item) for item in value)
        if max_total_length is not None and total > max_total_length:
            raise InvalidArgument(f"params.{key} holds {total} characters in all; the limit is {max_total_length}")
        return list(value)

    def choice(self, key: str, default: str | None, choices: Collection[str]) -> str | None:
        value = self.string(key, default)
        if value is not None and value not in choices:
            allowed = ", ".join(sorted(choices))
            raise InvalidArgument(f"params.{key} must be one of {allowed} for {self._model}, got {json_value_text(value)}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self._params) - self._seen)
        if unknown:
            allowed = ", ".join(sorted(self._seen)) or "none"
            raise InvalidArgument(
                f"Unknown parameter(s) for {self._model}: {', '.join(unknown)}. Accepted: {allowed}"
            )


# Past this a JSON number that reached us as a double (google.protobuf.Struct) is no longer the integer the client
# wrote: 99999999999999999999999 arrives as 1e+23.
_EXACT_INTEGERS = 2**53


def _out_of_range_text(value: float, lo: int | None, hi: int | None) -> str:
    """An out-of-range number as a refusal repeats it: as sent, or, where the double it arrived as cannot say what
    was sent (qa: 99999999999999999999999 was repeated as "1e+23"), on which side of the range it lies."""
    if isinstance(value, float) and abs(value) > _EXACT_INTEGERS:
        if value > 0 and hi is not None:
            return f"a number above {hi}"
        if value < 0 and lo is not None:
            return f"a number below {lo}"
    return json_value_text(value)


def protein_sequence(model: str, sequence: str, max_length: int) -> str:
    """Upper-cased (ASCII only, see `residue_text`), whitespace-stripped sequence; a 400 for bad letters or length."""
    cleaned = residue_text(sequence)
    if not cleaned:
        raise InvalidArgument(f"sequence is empty; {model} needs an amino-acid sequence")
    _check_letters(cleaned, "sequence")
    if len(cleaned) > max_length:
        raise InvalidArgument(
            f"sequence is {len(cleaned)} residues; {model} on this server accepts at most {max_length}"
        )
    return cleaned


def _check_letters(cleaned: str, what: str) -> None:
    """The models' own letter rule (phonos_models.common.letters): a 400 naming the letters, with their usual
    replacement (U -> C, ...)."""
    message = invalid_letters_message(cleaned, what)
    if message:
        raise InvalidArgument(message)


def protein_chains(model: str, sequence: str, max_length: int, max_chains: int) -> list[str]:
    """The chains of a sequence written with ':' chain breaks ("SEQA:SEQB", ColabFold's notation).

    Upper-cased (ASCII only, see `residue_text`) and whitespace-stripped; one chain when there is no ':'. A 400 for a pasted FASTA header, an
    empty chain, bad letters, a chain of nothing but X (the models build no atoms for X, so it would fold into
    nothing), more than `max_chains` chains or more than `max_length` residues in all (the chains fold
    together, so their total is what has to fit). The letter, FASTA and X rules are the models' own
    (phonos_models.common), so what passes here is what the model runs.
    """
    fasta = fasta_header_message(sequence)
    if fasta:
        raise InvalidArgument(fasta)
    cleaned = residue_text(sequence)
    if not cleaned.replace(CHAIN_BREAK, ""):
        raise InvalidArgument(f"sequence is empty; {model} needs an amino-acid sequence")
    chains = cleaned.split(CHAIN_BREAK)
    if len(chains) > max_chains:
        raise InvalidArgument(f"sequence has {len(chains)} chains; {model} on this server folds at most {max_chains}")
    total = sum(len(chain) for chain in chains)
    # The length first when the sequence is far too long for any rule about its letters to matter: the letter and
    # X rules read it character by character in Python, ~7 s of the event loop for a 60 MB sequence (a submission
    # may be 63.5 MB), every other request waiting. Within a few times the limit the letters are still said first.
    if total > max_length * LETTERS_BEFORE_LENGTH_FACTOR:
        raise InvalidArgument(_too_long(model, chains, total, max_length))
    problem = chains_message(chains)
    if problem:
        raise InvalidArgument(problem)
    if total > max_length:
        raise InvalidArgument(_too_long(model, chains, total, max_length))
    return chains


# How far over the length limit a sequence is still read letter by letter before its length is said (see above).
LETTERS_BEFORE_LENGTH_FACTOR = 4


def _too_long(model: str, chains: list[str], total: int, max_length: int) -> str:
    what = "sequence is" if len(chains) == 1 else f"complex has {len(chains)} chains and"
    return (f"{what} {total} residues{' in all' if len(chains) > 1 else ''}; "
            f"{model} on this server accepts at most {max_length}")
