"""Webhook secret rotation's rules (jobservice.webhooks): which secrets sign an attempt, and the overlap's bounds."""

from __future__ import annotations

import pytest

from jobservice.errors import InvalidArgument
from jobservice.webhooks import DEFAULT_OVERLAP_S, MAX_OVERLAP_S, overlap_seconds, signing_secrets

pytestmark = pytest.mark.unit


def row(previous: str | None, until: float | None) -> dict[str, object]:
    return {"secret": "whsec_new", "previous_secret": previous, "previous_secret_expires_at": until}


def test_the_replaced_secret_signs_second_until_its_overlap_ends() -> None:
    assert signing_secrets(row("whsec_old", 100.0), at=99.5) == ("whsec_new", "whsec_old")
    # decided at each attempt: a retry at or after the end carries the new secret alone
    assert signing_secrets(row("whsec_old", 100.0), at=100.0) == ("whsec_new",)
    assert signing_secrets(row(None, None), at=0.0) == ("whsec_new",)


@pytest.mark.parametrize(("given", "seconds"), [(None, DEFAULT_OVERLAP_S), (0, 0), (3600, 3600),
                                                (MAX_OVERLAP_S, MAX_OVERLAP_S)])
def test_overlap_defaults_to_a_day_and_zero_means_at_once(given: int | None, seconds: int) -> None:
    assert overlap_seconds(given) == seconds


@pytest.mark.parametrize("given", [-1, MAX_OVERLAP_S + 1])
def test_an_overlap_out_of_range_is_refused(given: int) -> None:
    with pytest.raises(InvalidArgument, match=r"expire_current_after_s must be between 0 \(at once\) and 604800"):
        overlap_seconds(given)
