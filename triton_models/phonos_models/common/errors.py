"""Typed failures that science code raises; the Triton adapters turn each into a typed error response
(triton_models/phonos_triton/adapter.py), which the job service maps to a job failure and its charge."""

from __future__ import annotations


class Cancelled(Exception):
    """The caller asked to stop (Triton's `request.is_cancelled()`); compute was abandoned."""


class ResourceExhausted(Exception):
    """The input does not fit the machine (out of memory); the message says what to reduce.

    Not the input's fault as far as billing goes: it passed the service's limits, so the job is refunded."""


class BadInput(ValueError):
    """The request itself cannot run (e.g. longer than the configured limit, an unparsable SMILES): the
    input's fault, answered as Triton INVALID_ARG. Model-specific input errors subclass it."""
