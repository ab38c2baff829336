"""Usage is counted per hour, not logged per request: bounded rows, retention, and the migration that folds old events."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from jobservice.db import MIGRATIONS_DIR, Database, now
from jobservice.usage import DAY_S, UsageRecorder, usage_event

pytestmark = pytest.mark.unit


def _rows(path: Path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT account_id, endpoint, model, status_code, transport, requests, credits_used, "
                            "elapsed_ms FROM usage_hourly ORDER BY endpoint, status_code").fetchall()


def test_a_flood_of_requests_adds_one_row_per_hour_route_and_status(tmp_path: Path) -> None:
    async def run() -> None:
        db = await Database.open(tmp_path / "u.sqlite3")
        recorder = UsageRecorder(db, flush_interval_s=60)
        try:
            for i in range(5000):
                recorder.record(usage_event(1, "/v1/account", key_id=None, model=None, credits_used=0, status_code=8,
                                            elapsed_ms=1.0, transport="rest"))
                if i % 1000 == 0:
                    await recorder.flush()  # across flushes too
            recorder.record(usage_event(1, "/v1/predict", key_id=None, model="esmfold", credits_used=10, status_code=0,
                                        elapsed_ms=4.0, transport="grpc"))
            await recorder.flush()
            report = await recorder.report(1, days=1)
        finally:
            await db.close()
        assert _rows(tmp_path / "u.sqlite3") == [
            (1, "/v1/account", "", 8, "rest", 5000, 0, 5000.0),
            (1, "/v1/predict", "esmfold", 0, "grpc", 1, 10, 4.0),
        ]
        assert (report.requests, report.credits_used) == (5001, 10)
        assert report.avg_response_time_ms == round(5004 / 5001, 2)
        assert report.by_endpoint[0] == {"endpoint": "/v1/account", "requests": 5000, "credits_used": 0}
        assert report.daily[0]["requests"] == 5001

    asyncio.run(run())


def test_hours_past_the_retention_period_are_deleted(tmp_path: Path) -> None:
    async def run() -> int:
        db = await Database.open(tmp_path / "r.sqlite3")
        recorder = UsageRecorder(db, flush_interval_s=60, retention_days=30)
        try:
            for age_days in (31, 29, 0):
                event = usage_event(1, "/v1/jobs", key_id=None, model=None, credits_used=0, status_code=0, elapsed_ms=1,
                                    transport="rest")
                recorder.record(event.__class__(**{**event.__dict__, "created_at": now() - age_days * DAY_S}))
            await recorder.flush()
            return await recorder.delete_expired()
        finally:
            await db.close()

    assert asyncio.run(run()) == 1
    assert [r[5] for r in _rows(tmp_path / "r.sqlite3")] == [1, 1]


def test_the_migration_folds_existing_events_into_hourly_counters(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        for migration in sorted(MIGRATIONS_DIR.glob("000[12]_*.sql")):
            conn.executescript(migration.read_text())
        conn.execute("PRAGMA user_version = 2")
        hour = 1_765_965_600  # 2025-12-17T10:00:00Z
        conn.executemany(
            "INSERT INTO usage_events (account_id, endpoint, model, credits_used, status_code, elapsed_ms, "
            "transport, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(1, "/v1/predict", "esmfold", 10, 0, 2.0, "rest", hour + 5),
             (1, "/v1/predict", "esmfold", 10, 0, 4.0, "rest", hour + 3000),
             (1, "/v1/jobs", None, 0, 0, 1.0, "grpc", hour + 3700)])

    async def migrate() -> None:
        await (await Database.open(path)).close()

    asyncio.run(migrate())
    assert _rows(path) == [(1, "/v1/jobs", "", 0, "grpc", 1, 0, 1.0), (1, "/v1/predict", "esmfold", 0, "rest", 2, 20, 6.0)]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'usage_events'").fetchall() == []
