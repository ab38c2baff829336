"""The SDK's gRPC silence watchdog: silence while the caller holds an event (a download between two events) is
not the server's, so `pause` keeps it quiet; after `heard` the limit counts again."""

from __future__ import annotations

import threading
import time

import pytest
from phonos_client.grpc_transport import _Watchdog

pytestmark = pytest.mark.unit


def test_a_paused_watchdog_does_not_bark_and_barks_once_heard_then_silent() -> None:
    barked = threading.Event()
    dog = _Watchdog(0.05, barked.set)
    dog.pause()  # the caller works on an event for longer than the limit
    time.sleep(0.2)
    assert not barked.is_set() and not dog.barked
    dog.heard()  # back to reading: the server's silence counts again
    assert barked.wait(5) and dog.barked
    dog.stop()
