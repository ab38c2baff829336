"""The client command's config file: one it cannot read is a one-line usage error naming it, and
`phonos login` (which writes a new one) is not stopped by it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from phonos_client import AsyncClient, Client, cli, config, errors

from launcher.ports import free_port

pytestmark = pytest.mark.unit


def test_a_broken_config_file_is_a_usage_error_that_login_gets_past(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text("url = http://127.0.0.1:8080\n")  # unquoted: not TOML
    monkeypatch.setenv("PHONOS_CONFIG", str(path))
    for name in ("PHONOS_URL", "PHONOS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert cli.main(["account"]) == 2
    err = capsys.readouterr().err
    assert f"{path} is not a phonos config file" in err and "phonos login" in err and "Traceback" not in err
    # login reads it for the URL it would keep, then checks the key with the server: here, nobody listens
    port = free_port()
    monkeypatch.setenv("PHONOS_MAX_RETRY_WAIT", "0")  # not the restart-riding budget: nobody will start there
    assert cli.main(["login", "--url", f"http://127.0.0.1:{port}", "--api-key", "pk_x"]) == 7
    assert f"could not reach the server at http://127.0.0.1:{port}: " in capsys.readouterr().err  # which one


@pytest.mark.parametrize(("value", "seconds"), [("", 120.0), ("0", 0.0), (" 600 ", 600.0), ("-1", None),
                                                ("nan", None), ("two minutes", None)])
def test_the_rate_limit_budget_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], value: str,
                                                          seconds: float | None) -> None:
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("PHONOS_MAX_RATE_LIMIT_WAIT", value)
    if seconds is not None:
        assert config.load().max_rate_limit_wait == seconds
        return
    assert cli.main(["account"]) == 2
    assert capsys.readouterr().err.startswith("phonos: PHONOS_MAX_RATE_LIMIT_WAIT is seconds, 0 or more")


def test_from_config_finds_the_server_and_key_the_command_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`Client.from_config()`: what `phonos login` wrote, or PHONOS_URL / PHONOS_API_KEY over it (the constructor
    reads nothing from the environment: `Client(url, None)` stays keyless)."""
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    for name in ("PHONOS_URL", "PHONOS_API_KEY", "PHONOS_MAX_RATE_LIMIT_WAIT"):
        monkeypatch.delenv(name, raising=False)
    config.save("http://127.0.0.1:9/v1", "pk_from_login")
    with Client.from_config(timeout=5) as client:
        assert (client.base_url, client.api_key, client.timeout) == ("http://127.0.0.1:9", "pk_from_login", 5)
    monkeypatch.setenv("PHONOS_URL", "http://127.0.0.1:8")
    monkeypatch.setenv("PHONOS_API_KEY", "pk_from_env")
    monkeypatch.setenv("PHONOS_MAX_RATE_LIMIT_WAIT", "7")

    async def in_async() -> tuple[str, str | None, float]:
        async with AsyncClient.from_config() as client:
            return client.base_url, client.api_key, client.max_rate_limit_wait

    assert asyncio.run(in_async()) == ("http://127.0.0.1:8", "pk_from_env", 7.0)
    with Client("http://127.0.0.1:9", None) as keyless:
        assert keyless.api_key is None


def test_from_config_with_nothing_configured_says_so_instead_of_aiming_at_a_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No PHONOS_URL, no PHONOS_API_KEY, no config file: the script's first call failed later and elsewhere
    ("could not reach 127.0.0.1:8080"). The error is a PhonosError (a script's one except) and a ValueError."""
    path = tmp_path / "config.toml"
    monkeypatch.setenv("PHONOS_CONFIG", str(path))
    for name in ("PHONOS_URL", "PHONOS_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for make in (Client.from_config, AsyncClient.from_config):
        with pytest.raises(config.ConfigError, match=f"^no server or key configured: PHONOS_URL and PHONOS_API_KEY "
                                                     f"are not set and {path} does not exist; run `phonos login`"):
            make()
    assert issubclass(config.ConfigError, errors.PhonosError) and issubclass(config.ConfigError, ValueError)
    assert config.ConfigError.exit_code == 2
    monkeypatch.setenv("PHONOS_API_KEY", "pk_local")  # a key alone: the local server's default URL, as the command
    with Client.from_config() as client:
        assert (client.base_url, client.api_key) == (config.DEFAULT_URL.rstrip("/"), "pk_local")
