"""The operator's lab-wide usage report (`phonos accounts usage`): every account's requests, credits and jobs over
whole UTC days, for a month-end chargeback across a lab's accounts (/v1/usage shows an account its own alone).

Requests and credits are what /v1/usage shows each account (jobservice/usage.py): the hourly counters of
`usage_hourly`, the day boundaries midnight UTC. Credits are net of refunds, and a refund counts when it was made
(the refund trigger's counter of that hour, transport 'refund'): a job charged on the 31st and refunded on the 1st
is charged in one month and given back in the next, as the balance saw it. Jobs come from the jobs table: those
submitted in the period, deleted ones too (a deletion clears a job's data, never its row, and result retention
removes only files), by model and by the status they have now.

The counters are kept `usage_retention_days` (PHONOS_USAGE_RETENTION_DAYS, 90 by default; UsageRecorder deletes the
older hours): `whole_from` is the first day whose counters are all there, and a period reaching before it reports
what is left of its requests and credits. Jobs are kept, so their counts are whole for any period.

Read from the database directly, as every operator verb reads: a running service's last flush interval of requests
(half a second by default) is not in yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from jobservice.store import Store


@dataclass(frozen=True)
class Period:
    """Whole UTC days, `first` to `last`, both included."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def bounds(self) -> tuple[int, int]:
        """[since, until) in unix seconds: midnight UTC of the first day and of the day after the last (whole
        seconds: PostgreSQL compares them with usage_hourly's BIGINT hours)."""
        return _midnight(self.first), _midnight(self.last + timedelta(days=1))


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time(), UTC).timestamp())


def today_utc() -> date:
    return datetime.now(UTC).date()


def last_days(days: int, today: date) -> Period:
    """The last `days` days, today included: /v1/usage's `days` (GET /v1/usage?days=30 starts at midnight UTC 29
    days ago)."""
    return Period(today - timedelta(days=days - 1), today)


def month_so_far(today: date) -> Period:
    """The current calendar month (UTC) up to today: what a month-end run bills."""
    return Period(today.replace(day=1), today)


def whole_from(retention_days: int, today: date) -> date:
    """The first day whose usage counters are all kept. The purge deletes the hours before `now - retention`, so
    the day that falls on is partly gone and the next ones whole: the last `retention_days` days, as --days."""
    return today - timedelta(days=retention_days - 1)


@dataclass(frozen=True)
class Row:
    """One account's figures over the period, or the total's (`username` None)."""

    username: str | None
    requests: int  # requests of every kind (REST, gRPC, dashboard), refused ones too: as /v1/usage counts them
    credits_used: int  # charged in the period less refunded in the period
    jobs_by_model: dict[str, int] = field(default_factory=dict)  # submitted in the period, every column model
    completed: int = 0  # of those jobs, how many are in that state now (the rest are pending or running)
    failed: int = 0
    cancelled: int = 0

    @property
    def jobs(self) -> int:
        return sum(self.jobs_by_model.values())


@dataclass(frozen=True)
class LabUsage:
    period: Period
    models: tuple[str, ...]  # the job columns: the served models, then any other the period's jobs name
    accounts: list[Row]  # by username; every account, those without usage too
    total: Row
    whole_from: date  # the first day whose requests and credits are all kept (see `whole_from`)

    @property
    def reaches_past_retention(self) -> bool:
        return self.period.first < self.whole_from


async def lab_usage(db: Store, period: Period, *, served_models: Sequence[str], retention_days: int, today: date,
                    account_id: int | None = None) -> LabUsage:
    """The report over `period`, of every account or of `account_id`'s alone: one grouped query (accounts_usage,
    a row per account and model), folded here into a row per account."""
    since, until = period.bounds()
    rows = await db.read.fetch_all("accounts_usage", {"since": since, "until": until, "account_id": account_id})
    figures: dict[str, dict[str, Any]] = {}  # username -> its figures, in the query's (username) order
    for row in rows:
        account = figures.setdefault(row["username"], {
            "requests": int(row["requests"]), "credits_used": int(row["credits_used"]), "jobs": {},
            "completed": 0, "failed": 0, "cancelled": 0})
        if row["model"] is None:  # no jobs in the period
            continue
        account["jobs"][row["model"]] = int(row["jobs"])
        for status in ("completed", "failed", "cancelled"):
            account[status] += int(row[status])
    found = {model for account in figures.values() for model in account["jobs"]}
    models = (*served_models, *sorted(found - set(served_models)))
    accounts = [Row(username, f["requests"], f["credits_used"], {m: f["jobs"].get(m, 0) for m in models},
                    f["completed"], f["failed"], f["cancelled"]) for username, f in figures.items()]
    total = Row(None, sum(a.requests for a in accounts), sum(a.credits_used for a in accounts),
                {m: sum(a.jobs_by_model[m] for a in accounts) for m in models}, sum(a.completed for a in accounts),
                sum(a.failed for a in accounts), sum(a.cancelled for a in accounts))
    return LabUsage(period, models, accounts, total, whole_from(retention_days, today))
