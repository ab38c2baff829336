"""A watch (`phonos fold`, `jobs watch`, `Client.wait`) whose server goes away: it reconnects for the client's
max_retry_wait (never less than MIN_WATCH_RECONNECT_S, a restart's refusals) counted from the loss on the wall clock,
and says it is retrying. It reconnected ten times whatever max_retry_wait said (~14 s against a killed server), and
against a frozen one (SIGSTOP: each reconnect accepted by the kernel, then silent for the 90 s read timeout) for
16 minutes, saying nothing. The clock is the policy's, driven here: no test waits for real seconds."""

from __future__ import annotations

import httpx
import pytest
from phonos_client import errors, retry
from phonos_client.rest import WATCH_READ_TIMEOUT_S, connection_error
from phonos_client.retry import DEFAULT_RETRY_WAIT_S, MIN_WATCH_RECONNECT_S, RetryPolicy, Tries

pytestmark = pytest.mark.unit

REFUSED = errors.ServerUnreachableError("could not reach the server at http://127.0.0.1:9: All connection attempts failed")
SILENT = errors.APITimeoutError("the server at http://127.0.0.1:9 did not answer in time (timed out)")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(retry.time, "monotonic", fake.monotonic)
    return fake


def reconnect(policy: RetryPolicy, clock: Clock, error: errors.APIConnectionError, try_s: float) -> list[float]:
    """The pauses of a watch whose every reconnect fails with `error` after `try_s` seconds, until it gives up."""
    tries, pauses = Tries(), []
    with pytest.raises(type(error)):
        while True:
            pause = policy.watch_pause(error, tries)
            pauses.append(pause)
            clock.now += pause + try_s
    return pauses


def test_a_refused_reconnect_ends_the_watch_after_max_retry_wait(clock: Clock) -> None:
    for _ in range(50):  # every draw of the jitter
        assert sum(reconnect(RetryPolicy(), clock, REFUSED, 0.0)) == pytest.approx(DEFAULT_RETRY_WAIT_S)
    assert sum(reconnect(RetryPolicy(max_retry_wait=1), clock, REFUSED, 0.0)) == pytest.approx(MIN_WATCH_RECONNECT_S)
    assert sum(reconnect(RetryPolicy(max_retries=0), clock, REFUSED, 0.0)) == pytest.approx(DEFAULT_RETRY_WAIT_S)


def test_a_silent_server_gets_one_reconnect(clock: Clock) -> None:
    """The stream fell silent past its read timeout; a fresh connection silent as long ends the watch."""
    assert len(reconnect(RetryPolicy(), clock, SILENT, WATCH_READ_TIMEOUT_S)) == 1


def test_a_reconnect_that_works_again_gets_the_whole_time_next_time(clock: Clock) -> None:
    policy, tries = RetryPolicy(), Tries()
    policy.watch_pause(REFUSED, tries)
    clock.now += 7.0
    policy.watch_pause(REFUSED, tries)  # a server back within the time: connected, events again
    tries, clock.now = Tries(), clock.now + 3600.0
    assert policy.watch_pause(REFUSED, tries) > 0  # an hour later, lost again: reconnecting from the start


def test_the_loss_is_said_once_with_the_server(clock: Clock, caplog: pytest.LogCaptureFixture) -> None:
    policy, tries = RetryPolicy(), Tries()
    with caplog.at_level("INFO", logger="phonos_client"):
        for _ in range(3):
            clock.now += policy.watch_pause(REFUSED, tries, "http://127.0.0.1:9")
    assert [r.getMessage() for r in caplog.records] == [
        "lost the connection to http://127.0.0.1:9; retrying..."]


def test_a_silent_stream_is_said_without_empty_brackets() -> None:
    """httpx's read timeout has no text: the watch ended with "did not answer in time ()"."""
    said = connection_error(httpx.ReadTimeout(""), httpx.URL("http://127.0.0.1:9/")).message
    assert said == "the server at http://127.0.0.1:9 did not answer in time"
    said = connection_error(httpx.ConnectTimeout("timed out"), httpx.URL("http://127.0.0.1:9/")).message
    assert said == "the server at http://127.0.0.1:9 did not answer in time (timed out)"
