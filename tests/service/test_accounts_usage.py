"""`phonos accounts usage`: every account's requests, credits (net of refunds) and jobs over whole UTC days, on
SQLite and on PostgreSQL: the figures /v1/usage shows each account, an account without usage listed with zeros, the
day boundaries, the table, the JSON document, CSV a spreadsheet reads, and the flags it refuses."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobservice import admin
from jobservice.memory_inference import Failure, Slow
from jobservice.usage_report import Period, last_days, month_so_far, whole_from
from launcher import usage_table
from launcher.cli import main as phonos
from tests.support import ALL_STORES, InProcessService, wait_until

pytestmark = pytest.mark.integration
STORES = ALL_STORES

SEQ = "MKTVRQERLKSIVRILERSKEPV"


def statuses(service: InProcessService, *job_ids: str) -> list[str]:
    """Read under the hood: waiting through the API would add requests to the figures."""
    return [str(service.sql("SELECT status FROM jobs WHERE id = ?", job_id)[0][0]) for job_id in job_ids]


def report(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    assert phonos(["accounts", "usage", "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def figures(document: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """username -> (requests, credits, jobs, esmfold, echo, completed, failed, cancelled)."""
    return {a["username"]: (a["requests"], a["credits_used"], a["jobs"], a["jobs_by_model"]["esmfold"],
                            a["jobs_by_model"]["echo"], a["completed"], a["failed"], a["cancelled"])
            for a in document["accounts"]}


def hour_row(service: InProcessService, username: str, hour: int, requests: int, credits: int,
             transport: str = "rest") -> None:
    """A usage counter as the recorder (or, transport 'refund', the refund trigger) writes it."""
    service.sql("INSERT INTO usage_hourly (account_id, hour, endpoint, model, status_code, transport, requests, "
                "credits_used, elapsed_ms) VALUES ((SELECT id FROM accounts WHERE username = ?), ?, '/v1/predict', "
                "'esmfold', 0, ?, ?, ?, 0)", username, hour, transport, requests, credits)


def test_every_accounts_figures_as_v1_usage_counts_them(twin_factory: type, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    # One call per model at a time: a job submitted behind a slow one waits pending.
    service = twin_factory.start(PHONOS_MODELS="esmfold,echo", PHONOS_MAX_INFLIGHT_PER_MODEL="1")
    for name, value in service.env.items():  # the store the service uses (PHONOS_DATABASE_URL on PostgreSQL)
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PHONOS_DATA_DIR", str(service.data_dir))
    ada, bob = (service.client(service.new_key(credits=1000, username=name)) for name in ("ada", "bob"))
    service.new_key(username="cy")  # never used, then locked: listed with zeros
    asyncio.run(admin.lock_account(service.settings, username="cy"))

    # bob (4 requests): a slow esmfold job running, a second waiting behind it; the waiting one is cancelled
    # (refunded), then the running one (charged).
    service.inference.script("esmfold", Slow(60))
    running = bob.predict(SEQ).json()["job_id"]
    wait_until(lambda: statuses(service, running) == ["running"], 20)
    waiting = bob.predict(SEQ).json()["job_id"]
    assert bob.post(f"/v1/jobs/{waiting}/cancel").json()["credits_refunded"] == 10
    assert bob.post(f"/v1/jobs/{running}/cancel").json()["credits_refunded"] == 0
    # ada (4 requests): two esmfold jobs that complete, one deleted after; an echo job that fails (refunded).
    service.inference.script("echo", Failure.MODEL_ERROR)
    folds = [ada.predict(SEQ).json()["job_id"] for _ in range(2)]
    echo = ada.post("/v1/predict", json={"model": "echo", "sequence": SEQ}).json()["job_id"]
    wait_until(lambda: statuses(service, *folds, echo) == ["completed", "completed", "failed"], 20)
    assert ada.delete(f"/v1/jobs/{folds[0]}").status_code in (200, 204)
    service.call(service.running.service.usage.flush())

    today = report(capsys, "--days", "1")
    assert today["models"] == ["esmfold", "echo"]
    assert today["period"] == {"start_date": str(datetime.now(UTC).date()), "end_date": str(datetime.now(UTC).date()),
                               "days": 1}
    # (requests, credits, jobs, esmfold, echo, completed, failed, cancelled), by username
    assert figures(today) == {"ada": (4, 20 + 1 - 1, 3, 2, 1, 2, 1, 0), "bob": (4, 20 - 10, 2, 2, 0, 0, 0, 2),
                              "cy": (0, 0, 0, 0, 0, 0, 0, 0)}
    assert list(figures(today)) == ["ada", "bob", "cy"]
    assert today["total"] == {"requests": 8, "credits_used": 30, "jobs": 5, "jobs_by_model": {"esmfold": 4, "echo": 1},
                              "completed": 2, "failed": 1, "cancelled": 2}
    alone = report(capsys, "--days", "1", "--username", "bob")
    assert alone["accounts"] == [a for a in today["accounts"] if a["username"] == "bob"]
    assert alone["total"] == {k: v for k, v in alone["accounts"][0].items() if k != "username"}
    # /v1/usage says the same to each account (its own request counted after it answers); and the balance agrees.
    for client, username in ((ada, "ada"), (bob, "bob")):
        own = client.get("/v1/usage?days=1").json()["totals"]
        assert (own["requests"], own["credits_used"]) == figures(today)[username][:2]
        assert client.balance() == 1000 - figures(today)[username][1]

    # Day boundaries: yesterday 23:00 counts for yesterday alone, tomorrow 00:00 only for a period reaching it;
    # a refund is its own hour's, charged or not in the period.
    midnight = int(datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC).timestamp())
    hour_row(service, "cy", midnight - 3600, requests=7, credits=70)
    hour_row(service, "cy", midnight - 3600, requests=0, credits=-10, transport="refund")
    hour_row(service, "cy", midnight - 25 * 3600, requests=100, credits=100)  # the day before yesterday
    hour_row(service, "cy", midnight + 86400, requests=9, credits=90)
    yesterday, tomorrow = (str(datetime.now(UTC).date() + timedelta(days=d)) for d in (-1, 1))
    assert figures(report(capsys, "--since", yesterday, "--until", yesterday))["cy"] == (7, 60, 0, 0, 0, 0, 0, 0)
    assert figures(report(capsys, "--days", "1"))["cy"][:2] == (0, 0)
    assert figures(report(capsys, "--since", yesterday, "--until", tomorrow))["cy"][:2] == (16, 150)
    assert figures(report(capsys, "--since", yesterday))["cy"][:2] == (7, 60)
    assert figures(report(capsys, "--days", "2"))["cy"][:2] == (7, 60)

    # CSV: a header, a row per account, the total last with an empty username; plain numbers.
    assert phonos(["accounts", "usage", "--csv", "--since", yesterday]) == 0
    text = capsys.readouterr().out
    assert text.endswith("\r\n") and "\r\n" in text.splitlines(keepends=True)[0]
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert list(rows[0]) == ["username", "requests", "credits_used", "jobs", "jobs_esmfold", "jobs_echo", "completed",
                             "failed", "cancelled"]
    assert [r["username"] for r in rows] == ["ada", "bob", "cy", ""]
    by_name = {r["username"]: r for r in rows}
    assert by_name["cy"] == {"username": "cy", "requests": "7", "credits_used": "60", "jobs": "0", "jobs_esmfold": "0",
                             "jobs_echo": "0", "completed": "0", "failed": "0", "cancelled": "0"}
    assert by_name["ada"]["jobs_esmfold"] == "2" and by_name["bob"]["cancelled"] == "2"
    assert int(by_name[""]["credits_used"]) == sum(int(by_name[n]["credits_used"]) for n in ("ada", "bob", "cy"))

    # The table (piped: the whole table under a line naming the period).
    assert phonos(["accounts", "usage", "--since", yesterday, "--until", yesterday]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"usage {yesterday} to {yesterday} (1 UTC day, 3 accounts)"
    assert lines[1].split() == ["USERNAME", "REQUESTS", "CREDITS", "JOBS", "ESMFOLD", "ECHO", "COMPLETED", "FAILED",
                                "CANCELLED"]
    assert [line.split() for line in lines[2:]] == [["ada", *"0" * 8], ["bob", *"0" * 8],
                                                    ["cy", "7", "60", *"0" * 6], ["TOTAL", "7", "60", *"0" * 6]]


@pytest.fixture
def data_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """SQLite with one account, ada."""
    var = str(tmp_path / "var")
    assert phonos(["keys", "create", "--username", "ada", "--data-dir", var]) == 0
    capsys.readouterr()
    return var


@pytest.mark.parametrize(("flags", "said"), [
    (["--username", "nobody"], 'error: no account named "nobody"\n'),
    (["--since", "2026-02-30"], "phonos accounts usage: --since must be a day as YYYY-MM-DD, not \"2026-02-30\"; "
                                "see phonos accounts usage --help\n"),
    (["--since", "20260101"], "phonos accounts usage: --since must be a day as YYYY-MM-DD, not \"20260101\"; "
                              "see phonos accounts usage --help\n"),
    (["--since", "2026-02-02", "--until", "2026-02-01"], "error: --until 2026-02-01 is before --since 2026-02-02\n"),
    (["--until", "2026-02-01"], "error: --until needs --since (the first day of the period)\n"),
    (["--days", "0"], "phonos accounts usage: --days must be at least 1, got 0; see phonos accounts usage --help\n"),
    (["--days", "91"], "error: --days must be between 1 and 90, got 91 (usage is kept 90 days: "
                       "PHONOS_USAGE_RETENTION_DAYS)\n"),
    (["--days", "2", "--since", "2026-02-01"], "phonos accounts usage: --since: not allowed with argument --days; "
                                               "see phonos accounts usage --help\n"),
    (["--since", "9999-01-01"], None),  # after today: said with today's date
])
def test_a_bad_flag_is_one_line_and_exit_2(data_dir: str, capsys: pytest.CaptureFixture[str], flags: list[str],
                                          said: str | None) -> None:
    try:
        status = phonos(["accounts", "usage", *flags, "--data-dir", data_dir])
    except SystemExit as refused:  # argparse's refusals
        status = int(refused.code or 0)
    out, err = capsys.readouterr()
    assert status == 2 and out == ""
    if said is None:
        assert err.startswith("error: --since 9999-01-01 is after today (") and err.count("\n") == 1
    else:
        assert err == said


def test_a_period_before_the_retention_says_so_on_stderr(data_dir: str, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PHONOS_USAGE_RETENTION_DAYS", "10")
    kept_from = whole_from(10, datetime.now(UTC).date())
    assert phonos(["accounts", "usage", "--days", "10", "--json", "--data-dir", data_dir]) == 0
    assert capsys.readouterr().err == ""  # the last 10 days: all kept
    assert phonos(["accounts", "usage", "--days", "11", "--data-dir", data_dir]) == 2
    assert "--days must be between 1 and 10, got 11" in capsys.readouterr().err
    early = str(kept_from - timedelta(days=3))
    assert phonos(["accounts", "usage", "--since", early, "--json", "--data-dir", data_dir]) == 0
    out, err = capsys.readouterr()
    assert err == (f"warning: usage counters are kept 10 days (PHONOS_USAGE_RETENTION_DAYS): requests and credits of "
                   f"{early} to {kept_from - timedelta(days=1)} are gone or partly gone, so the figures count only "
                   "what is left; the job counts are whole\n")
    assert json.loads(out)["usage_whole_from"] == str(kept_from)


def test_periods_are_whole_utc_days_the_default_the_month_so_far() -> None:
    day = date(2026, 3, 31)
    assert month_so_far(day) == Period(date(2026, 3, 1), day)
    assert last_days(30, day) == Period(date(2026, 3, 2), day)
    assert Period(date(2026, 3, 1), day).bounds() == (1772323200, 1775001600)  # 2026-03-01 and 2026-04-01 00:00Z
    assert usage_table.period_of(days=None, since=None, until=None, today=day, retention_days=90).days == 31
    assert usage_table.period_of(days=None, since=date(2026, 2, 1), until=date(2026, 2, 28), today=day,
                                 retention_days=90) == Period(date(2026, 2, 1), date(2026, 2, 28))
    # /v1/usage's last 90 days are the counters kept 90 days: a period from that day on is whole
    assert whole_from(90, day) == last_days(90, day).first
