"""Flags checked against the API's bounds and choices before any request (`--limit 0`, `--days 91`,
`--num-recycles 99`): a usage error, exit 2, said like argparse's own ("--limit must be between 1 and 100, got
0"), not a request the server must refuse and its 400 translated into flag words (exit 8).

The bounds are the public API's (seed: `limit` at most 100, `days` at most 90, `inference_steps` 10-40; the job
service's paging, shares and model specs hold the same numbers). A bound an operator can change on the server
(DiffDock's most samples, PHONOS_DIFFDOCK_MAX_SAMPLES) is left to the server: only what no server accepts is
refused here. So are the words a filter takes from a fixed list (`account activity --action`): a typo is a usage
error that lists them, not a 400.
"""

from __future__ import annotations

import argparse

# (lowest, highest) of each fold model's `num_recycles` (jobservice/modelspecs: ESMFold 1-24, AlphaFold2 0-24).
RECYCLES = {"esmfold": (1, 24), "alphafold2": (0, 24)}


class WholeNumber:
    """argparse's `type` for a whole number from `lo` to `hi` (None: no upper bound the client knows).

    Named `int` for argparse, so a word that is not a number is said as every int flag's is (Parser's
    `--limit takes a whole number, not "x"`)."""

    __name__ = "int"

    def __init__(self, lo: int, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi

    def __call__(self, text: str) -> int:
        number = int(text)  # a ValueError: argparse's "invalid int value"
        if number < self.lo or (self.hi is not None and number > self.hi):
            raise argparse.ArgumentTypeError(f"{self.bounds()}, got {number}")
        return number

    def bounds(self) -> str:
        if self.hi is None:
            return f"must be at least {self.lo}"
        return f"must be between {self.lo} and {self.hi}"


PAGE = WholeNumber(1, 100)  # `--limit` of every listing (the API's page: 1-100)
USAGE_DAYS = WholeNumber(1, 90)  # `usage --days`
SHARE_DAYS = WholeNumber(1, 365)  # `jobs share --expires-in-days`
SAMPLES = WholeNumber(1)  # `dock --samples`: the most is the server's setting (40 by default)
STEPS = WholeNumber(10, 40)  # `dock --steps` (inference_steps)


# `account activity --action`: the activity log's actions (jobservice/activity.py, Action; a test keeps the two equal).
ACTIVITY_ACTIONS = ("api_key.created", "api_key.revoked", "api_key.updated", "session.signed_in",
                    "session.sign_in_failed", "session.signed_out", "session.signed_out_everywhere", "session.ended",
                    "password.changed", "password.change_failed", "webhook.created", "webhook.deleted",
                    "webhook.secret_rotated", "share.created", "share.revoked", "credits.added",
                    "account.max_rate_limit_changed")
# `jobs ls --model`: the models a job can be of, and "all" (the API's filter: esmfold, alphafold2, diffdock or all).
JOB_MODELS = ("esmfold", "alphafold2", "diffdock", "all")


def recycles_refusal(model: str, recycles: int | None) -> str | None:
    """`fold --num-recycles N` out of `model`'s range (read after both flags: `--model` may come after it): what
    to say, or None."""
    if recycles is None or model not in RECYCLES:
        return None
    lo, hi = RECYCLES[model]
    if lo <= recycles <= hi:
        return None
    return f"--num-recycles must be between {lo} and {hi} for {model}, got {recycles}"
