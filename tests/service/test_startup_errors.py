"""Settings a job service cannot start with are refused with a clear message and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobservice.__main__ import main
from launcher.ports import free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PHONOS_TRITON_URLS", "gpu1:8001,gpu2", "expected host:port or model=host:port"),
    ("PHONOS_DATABASE_URL", "mysql://db/phonos", "must be a postgresql://user:password@host:5432/db URL"),
    # Was: the driver's traceback (int() of the port; asyncpg's ClientConfigurationError), exit status 1.
    ("PHONOS_DATABASE_URL", "postgresql://phonos:s3cret@127.0.0.1:notaport/phonos",
     "PHONOS_DATABASE_URL's port must be a number from 1 to 65535, got 'notaport'"),
    ("PHONOS_DATABASE_URL", "postgresql://phonos:s3cret@127.0.0.1:{port}/phonos?sslmode=bogus",
     "PHONOS_DATABASE_URL's sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full, "
     "got 'bogus'"),
    # Waited for first (jobservice/db_wait.py), up to PHONOS_DATABASE_START_WAIT_S (set short below).
    ("PHONOS_DATABASE_URL", "postgresql://phonos@127.0.0.1:{port}/phonos", "cannot open the database at "
     "PHONOS_DATABASE_URL: PostgreSQL at 127.0.0.1:{port} refused the connection: is it running, and listening on "
     "that address?; gave up after 0.5 s of trying (PHONOS_DATABASE_START_WAIT_S)"),
])
def test_unusable_settings_exit_2_with_a_message(name: str, value: str, message: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    monkeypatch.setenv(name, value.format(port=port))
    monkeypatch.setenv("PHONOS_DATABASE_START_WAIT_S", "0.5")
    assert main(["--data-dir", str(tmp_path), "--grpc-port", "0", "--no-http"]) == 2
    err = capsys.readouterr().err
    assert message.format(port=port) in err
    assert "Traceback" not in err and "s3cret" not in err


def test_an_unknown_model_is_refused_before_anything_is_made(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """Was: the data directory, a fresh SQLite database and the results marker made, then the refusal."""
    monkeypatch.setenv("PHONOS_MODELS", "esmfold,foldit")
    data_dir = tmp_path / "var"
    assert main(["--data-dir", str(data_dir), "--grpc-port", "0", "--no-http"]) == 2
    assert capsys.readouterr().err == ("error: unknown model 'foldit' in PHONOS_MODELS; known: esmfold, alphafold2, "
                                       "diffdock\n")
    assert not data_dir.exists()
