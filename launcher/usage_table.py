"""`phonos accounts usage` on the page: the period its flags name, and the report (jobservice/usage_report.py) as
a table, a JSON document or CSV.

The table is `accounts list`'s (launcher/tables.py `shown`): on a terminal fitted to its width or shown as records,
piped the whole table. CSV is for a spreadsheet: RFC 4180 (comma, CRLF, quotes where a username needs them), a
header row, numbers without separators, and the total last with an empty username (no account has one, where any
word could be a username). The model columns are the served models, then any other the period's jobs name, so a
lab's monthly sheets line up.
"""

from __future__ import annotations

import argparse
import csv
import io
import re
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from jobservice.usage_report import LabUsage, Period, Row, last_days, month_so_far
from launcher.tables import Rows, When
from phonos_config.json_text import json_value_text

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
STATUSES = ("completed", "failed", "cancelled")


def day(text: str) -> date:
    """argparse's `type` of --since and --until: a calendar day as YYYY-MM-DD (fromisoformat alone also took
    `20260501` and week dates)."""
    try:
        if _DAY.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"must be a day as YYYY-MM-DD, not {json_value_text(text)}")


def period_of(*, days: int | None, since: date | None, until: date | None, today: date,
              retention_days: int) -> Period:
    """The period the flags name (argparse already refused --days with --since); ValueError says what is wrong
    in the flags' words. Without any: the calendar month so far."""
    if until is not None and since is None:
        raise ValueError("--until needs --since (the first day of the period)")
    if days is not None:
        if days > retention_days:
            raise ValueError(f"--days must be between 1 and {retention_days}, got {days} (usage is kept "
                             f"{retention_days} days: PHONOS_USAGE_RETENTION_DAYS)")
        return last_days(days, today)
    if since is None:
        return month_so_far(today)
    if since > today:
        raise ValueError(f"--since {since} is after today ({today}, UTC): there is no usage to report yet")
    last = today if until is None else until
    if last < since:
        raise ValueError(f"--until {last} is before --since {since}")
    return Period(since, last)


def retention_warning(report: LabUsage, retention_days: int) -> tuple[str, ...] | None:
    """What stderr says when the period starts before the counters kept (pieces for `said`), or None."""
    if not report.reaches_past_retention:
        return None
    gone_until = min(report.whole_from - timedelta(days=1), report.period.last)
    return ("warning: usage counters are kept", f"{retention_days} days (PHONOS_USAGE_RETENTION_DAYS):",
            f"requests and credits of {report.period.first} to {gone_until} are gone or partly gone,",
            "so the figures count only what is left;", "the job counts are whole")


def heading(report: LabUsage) -> tuple[str, ...]:
    """The line over the table (pieces for `said`): the period, as the figures' boundaries are."""
    period = report.period
    count = len(report.accounts)
    return (f"usage {period.first} to {period.last}", f"({period.days} UTC day{'' if period.days == 1 else 's'},",
            f"{count} account{'' if count == 1 else 's'})")


def header(report: LabUsage) -> tuple[str, ...]:
    return ("USERNAME", "REQUESTS", "CREDITS", "JOBS", *(m.upper() for m in report.models),
            *(s.upper() for s in STATUSES))


def numbers(report: LabUsage) -> set[str]:
    return set(header(report)[1:])


def table_rows(report: LabUsage) -> Rows:
    """Every account's row, then TOTAL's."""
    return [(row.username if row.username is not None else "TOTAL", *(str(n) for n in _figures(report, row)))
            for row in (*report.accounts, report.total)]


def rows_of(report: LabUsage) -> Callable[[When], Rows]:
    """`shown`'s rows: the same whatever its `when` (the table has no times)."""
    return lambda _when: table_rows(report)


def _figures(report: LabUsage, row: Row) -> Sequence[int]:
    return (row.requests, row.credits_used, row.jobs, *(row.jobs_by_model[m] for m in report.models),
            row.completed, row.failed, row.cancelled)


# A text cell a spreadsheet would run as a formula: `=`, `+`, `-`, `@` (or a tab, a carriage return) first.
_FORMULA = re.compile(r"^[=+\-@\t\r]")


def as_csv(report: LabUsage) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180's line ending, which the csv module writes by default
    writer.writerow(["username", "requests", "credits_used", "jobs", *(f"jobs_{m}" for m in report.models), *STATUSES])
    for row in (*report.accounts, report.total):
        writer.writerow([inert(row.username or ""), *_figures(report, row)])
    return out.getvalue()


def inert(text: str) -> str:
    """A text cell as a spreadsheet shows it instead of running it: with a leading apostrophe where it would start a
    formula (a username may be `=HYPERLINK(...)`: a security tester's find), as the dashboard's CSV files do
    (gateway/static/js/csv.js). Numbers are written as numbers, so -3 credits stays a number."""
    return f"'{text}" if _FORMULA.match(text) else text


def _row_json(row: Row) -> dict[str, Any]:
    return {"requests": row.requests, "credits_used": row.credits_used, "jobs": row.jobs,
            "jobs_by_model": dict(row.jobs_by_model), "completed": row.completed, "failed": row.failed,
            "cancelled": row.cancelled}


def as_json(report: LabUsage, retention_days: int) -> dict[str, Any]:
    """The period as /v1/usage names it (start_date, end_date, days), each account, the total."""
    period = report.period
    return {"period": {"start_date": period.first.isoformat(), "end_date": period.last.isoformat(),
                       "days": period.days},
            "usage_retention_days": retention_days, "usage_whole_from": report.whole_from.isoformat(),
            "models": list(report.models),
            "accounts": [{"username": row.username, **_row_json(row)} for row in report.accounts],
            "total": _row_json(report.total)}
