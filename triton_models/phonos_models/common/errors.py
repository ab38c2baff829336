"""Typed failures that science code raises and each Triton adapter maps to an error response."""

from __future__ import annotations


class Cancelled(Exception):
    """The caller asked to stop (Triton's `request.is_cancelled()`); compute was abandoned."""


class ResourceExhausted(Exception):
    """The input does not fit the machine (out of memory); the message says what to reduce."""


class BadInput(Exception):
    """A request the model cannot run, e.g. longer than the configured limit."""
