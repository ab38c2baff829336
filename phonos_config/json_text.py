"""How an error message repeats a caller's value: in JSON's words, cut when long.

Shared by the gateway (query values, JSON keys), the job service (`jobservice.errors`) and the science code
whose input errors reach callers as they are (a DiffDock pocket, a SMILES): one wording on every side of the
Triton boundary. Clients
send JSON, so a message says `true`, `null`, `"text"`, `3`, never Python's `True`, `None`, `'text'`,
`3.0`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

# Characters of a caller's id or value (a param, an email) that an error message repeats; ids are UUIDs or
# short tokens, so anything longer is cut to its start and its length.
MAX_ECHOED = 64


def json_value_text(value: object) -> str:
    """A caller's JSON value as an error message repeats it, in JSON's words. Long values are cut to their
    start and their length."""
    if isinstance(value, str) and len(value) > MAX_ECHOED:
        return f"{json.dumps(value[:MAX_ECHOED], ensure_ascii=False)}... ({len(value)} characters)"
    text = json.dumps(_as_json(value), ensure_ascii=False, default=str)
    if len(text) <= MAX_ECHOED:
        return text
    return f"{text[:MAX_ECHOED]}... ({len(text)} characters of JSON)"


def _as_json(value: object) -> object:
    """google.protobuf.Struct holds every number as a double: the integral ones read back as integers."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _as_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_as_json(v) for v in value]
    return value
