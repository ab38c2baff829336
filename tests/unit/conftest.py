"""Fixtures of the unit tests that run the operator's commands in process."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture
def operator_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No PHONOS_* from the caller's shell; the umask that `phonos` sets is put back afterwards."""
    for name in list(os.environ):
        if name.startswith("PHONOS_"):
            monkeypatch.delenv(name)
    umask = os.umask(0o022)
    os.umask(umask)
    yield monkeypatch
    os.umask(umask)
