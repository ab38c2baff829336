"""A job service whose PostgreSQL schema a newer one migrated past it says so in its health, as its own database state
(`schema_too_new`, with what to do), not as `unavailable`: an operator who read `database: unavailable` went looking
for a database outage that was not there. Still degraded: HTTP 503, gRPC readiness NOT_SERVING; and `phonos status`
says it with the same words. (SQLite cannot meet it while running: its file is this process's alone.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc

from jobservice.pg import pg_migrations
from launcher import cli
from tests.postgres import PostgresServer
from tests.support import InProcessService, wait_until

pytestmark = pytest.mark.integration


def test_a_schema_newer_than_the_service_is_its_own_database_state(postgres: PostgresServer, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = postgres.new_store_url("too-new")
    known = max(version for version, _ in pg_migrations())
    service = InProcessService(tmp_path / "var", {"PHONOS_DATABASE_URL": url})
    schema = url.rsplit("search_path=", 1)[1]
    try:
        assert requests.get(service.base_url + "/v1/health", timeout=10).json()["components"]["database"] == "ready"
        postgres.psql(f'INSERT INTO "{schema}".schema_migrations (version) VALUES ({known + 1})')

        health = requests.get(service.base_url + "/v1/health", timeout=10)
        assert health.status_code == 503, health.text
        body = health.json()
        assert body["status"] == "degraded" and body["components"]["database"] == "schema_too_new", body
        assert (f"the database schema (version {known + 1}) is newer than this job service knows ({known}): stop "
                "this job service, or upgrade it to the version that migrated it") in body["message"], body

        channel, _ = service.grpc_stub()
        with channel:  # the readiness monitor reads the same health each second
            probe = health_pb2_grpc.HealthStub(channel)
            wait_until(lambda: probe.Check(health_pb2.HealthCheckRequest(service="phonos.v1.PhonosService")).status
                       == health_pb2.HealthCheckResponse.NOT_SERVING, 10)

        code = cli.main(["status", "--url", service.base_url])
        said = " ".join(capsys.readouterr().out.split())  # the lines as words (a narrow terminal breaks them)
        assert code != 0 and "database: schema_too_new" in said, said
        assert ("a newer job service migrated the database past what this one knows: stop this job service, or "
                "upgrade it to that version") in said, said

        postgres.psql(f'DELETE FROM "{schema}".schema_migrations WHERE version = {known + 1}')
        recovered = requests.get(service.base_url + "/v1/health", timeout=10)
        assert recovered.status_code == 200 and recovered.json()["components"]["database"] == "ready", recovered.text
    finally:
        service.stop()
