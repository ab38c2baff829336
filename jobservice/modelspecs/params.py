"""Typed reading of a job's `params` object, shared by every model spec.

`params` arrives as JSON (via google.protobuf.Struct, where every number is a
double), so integers are checked to be integral and booleans to be booleans.
Unknown keys are rejected: a typo such as `num_recylces` must not silently
fall back to a default.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from jobservice.errors import InvalidArgument


class ParamReader:
    """Reads one model's params; call `finish()` last to reject unknown keys."""

    def __init__(self, model: str, params: Mapping[str, Any]) -> None:
        self._model = model
        self._params = dict(params)
        self._seen: set[str] = set()

    def _raw(self, key: str) -> Any:
        self._seen.add(key)
        return self._params.get(key)

    def has(self, key: str) -> bool:
        """True when the user set `key` (to anything but null)."""
        return self._params.get(key) is not None

    def integer(self, key: str, default: int | None, lo: int | None = None, hi: int | None = None) -> int | None:
        value = self._raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value != int(value):
            raise InvalidArgument(f"params.{key} must be an integer for {self._model}, got {value!r}")
        number = int(value)
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            raise InvalidArgument(f"params.{key} must be between {lo} and {hi} for {self._model}, got {number}")
        return number

    def boolean(self, key: str, default: bool | None) -> bool | None:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise InvalidArgument(f"params.{key} must be true or false for {self._model}, got {value!r}")
        return value

    def string(self, key: str, default: str | None, max_length: int | None = None) -> str | None:
        value = self._raw(key)
        if value is None:
            return default
        if not isinstance(value, str):
            raise InvalidArgument(f"params.{key} must be a string for {self._model}")
        if max_length is not None and len(value) > max_length:
            raise InvalidArgument(f"params.{key} is {len(value)} characters; the limit is {max_length}")
        return value

    def choice(self, key: str, default: str | None, choices: Collection[str]) -> str | None:
        value = self.string(key, default)
        if value is not None and value not in choices:
            allowed = ", ".join(sorted(choices))
            raise InvalidArgument(f"params.{key} must be one of {allowed} for {self._model}, got {value!r}")
        return value

    def finish(self) -> None:
        unknown = sorted(set(self._params) - self._seen)
        if unknown:
            allowed = ", ".join(sorted(self._seen)) or "none"
            raise InvalidArgument(
                f"Unknown parameter(s) for {self._model}: {', '.join(unknown)}. Accepted: {allowed}"
            )


AMINO_ACIDS = frozenset("ACDEFGHIKLMNPQRSTVWY")
# X (unknown) is accepted as AlphaFold and ESMFold both map it to a generic residue.
AMINO_ACIDS_WITH_UNKNOWN = AMINO_ACIDS | {"X"}


def protein_sequence(model: str, sequence: str, max_length: int) -> str:
    """Upper-cased, whitespace-stripped sequence; a 400 for bad letters or length."""
    cleaned = "".join(sequence.split()).upper()
    if not cleaned:
        raise InvalidArgument(f"sequence is empty; {model} needs an amino-acid sequence")
    bad = sorted(set(cleaned) - AMINO_ACIDS_WITH_UNKNOWN)
    if bad:
        raise InvalidArgument(
            f"sequence contains invalid amino-acid letters: {''.join(bad)}. "
            "Use the 20 standard one-letter codes (and X for unknown)."
        )
    if len(cleaned) > max_length:
        raise InvalidArgument(
            f"sequence is {len(cleaned)} residues; {model} on this server accepts at most {max_length}"
        )
    return cleaned
