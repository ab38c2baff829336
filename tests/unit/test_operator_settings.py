"""What an operator meets first: a PHONOS_* value or flag that cannot work is refused at once, with a
message naming it, by every command (no traceback, no half-created data directory, no silent hang);
and the README's settings table lists exactly the variables phonos_config reads, with their defaults."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from jobservice import __main__ as jobservice_main
from launcher import cli
from launcher import serve as serve_module
from phonos_config.edge import EdgeSettings
from phonos_config.service import ServiceSettings
from phonos_config.supervisor import SupervisorSettings

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("PHONOS_MAX_INFLIGHT_PER_MODEL", "0", "at least 1"),  # no job would ever run
    ("PHONOS_MAX_INFLIGHT_PER_MODEL", "-3", "at least 1"),
    ("PHONOS_TRITON_TIMEOUT_S", "-5", "more than 0"),  # every job would fail
    ("PHONOS_MAX_ATTEMPTS", "0", "at least 1"),
    ("PHONOS_DEFAULT_RATE_LIMIT", "0", "at least 1"),
    ("PHONOS_SESSION_TTL_S", "-1", "more than 0"),
    ("PHONOS_WATCH_POLL_S", "nan", "finite"),
    ("PHONOS_SESSION_TTL_S", "inf", "finite"),  # would overflow the session's expiry date
    ("PHONOS_SESSION_TTL_S", "1e12", "at most 3.15576e+09 (100 years)"),  # was: every sign-in a 500
    ("PHONOS_RESULT_RETENTION_DAYS", "1e9", "at most 36525 (100 years)"),
    ("PHONOS_TRITON_TIMEOUT_S", "1e400", "finite"),  # reads as inf
    ("PHONOS_DEFAULT_CREDITS", "99999999999", "at most 2147483647"),  # the API's balance is int32
    ("PHONOS_MAX_QUEUED_PER_ACCOUNT", "-99999999999999999999", "at least -2147483647"),
    ("PHONOS_TRACING_EXPORTER", "jaeger", "one of none, otlp, console"),
    ("PHONOS_TRITON_URLS", "gpu1.lab", "expected host:port"),
    ("PHONOS_TRITON_URL", "http://gpu1.lab:8001", "host:port"),  # was: an outage for ever, "triton" not ready
    ("PHONOS_TRITON_URL", "gpu1.lab", "host:port"),
    ("PHONOS_TRITON_METRICS_URLS", "10.0.0.5:8002/metrics", "http://host:8002/metrics"),  # was: "down" for ever
    ("PHONOS_TRITON_RETRY_WINDOW_S", "-1", "at least 0"),
    ("PHONOS_RESULT_ORPHAN_AGE_S", "-1", "at least 0"),
    ("PHONOS_RESULT_ORPHAN_AGE_S", "60", "0 (never sweep) or at least 3600"),  # would race a write in progress
    ("PHONOS_HTTP_PORT", "99999", "port"),
    ("PHONOS_METRICS_PORT", "-1", "port"),
    ("PHONOS_DATABASE_URL", "mysql://phonos:secret@db/phonos", "postgresql://"),
    ("PHONOS_MODELS", ",", "lists nothing"),  # was: read as unset, every model served
    ("PHONOS_TRITON_METRICS_URLS", " , ", "lists nothing"),
    ("PHONOS_ALLOWED_HOSTS", "https://phonos.lab", "without scheme or port"),  # would never match a Host header
    ("PHONOS_ALLOWED_HOSTS", "phonos.lab:8080", "without scheme or port"),
    ("PHONOS_METRICS_ALLOWED_HOSTS", "http://metrics.lab", "without scheme or port"),
])
def test_settings_refuse_values_that_cannot_work_naming_the_variable(variable: str, value: str, says: str) -> None:
    with pytest.raises(ValueError, match=variable) as raised:
        ServiceSettings.from_env({variable: value})
    assert says in str(raised.value)
    assert "secret" not in str(raised.value)  # a refused database URL is not echoed with its password


def test_an_endpoint_label_names_one_triton_never_a_fleet() -> None:
    """One label for a fleet's several endpoints would merge their series into one."""
    for fleet in ({"PHONOS_TRITON_URLS": "gpu1.lab:8001,gpu2.lab:8001"},
                  {"PHONOS_TRITON_METRICS_URLS": "http://gpu1.lab:8002/metrics,http://gpu2.lab:8002/metrics"}):
        with pytest.raises(ValueError, match="PHONOS_TRITON_ENDPOINT_LABEL names the one Triton"):
            ServiceSettings.from_env({"PHONOS_TRITON_ENDPOINT_LABEL": "local", **fleet})
    assert ServiceSettings.from_env({"PHONOS_TRITON_ENDPOINT_LABEL": "local"}).triton_endpoint_label == "local"


def test_settings_accept_the_documented_zeros() -> None:
    settings = ServiceSettings.from_env({"PHONOS_MAX_RUNNING_PER_ACCOUNT": "0", "PHONOS_METRICS_PORT": "0",
                                         "PHONOS_HTTP_PORT": "0", "PHONOS_DEFAULT_CREDITS": "0",
                                         "PHONOS_STORAGE_RETRY_WINDOW_S": "0", "PHONOS_RESULT_ORPHAN_AGE_S": "0"})
    assert (settings.max_running_per_account, settings.metrics_port, settings.default_credits) == (0, 0, 0)
    assert settings.result_orphan_age_s == 0
    ServiceSettings().check()  # the defaults


def test_a_list_setting_names_each_item_once_in_its_order() -> None:
    settings = ServiceSettings.from_env({"PHONOS_MODELS": " diffdock, esmfold ,diffdock,", "PHONOS_TRITON_URL": ""})
    assert settings.models == ("diffdock", "esmfold")


def test_cli_names_a_bad_variable_instead_of_a_traceback(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    operator_env.setenv("PHONOS_MAX_INFLIGHT_PER_MODEL", "abc")
    assert cli.main(["keys", "list", "--username", "ada", "--data-dir", str(tmp_path / "var")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: PHONOS_MAX_INFLIGHT_PER_MODEL must be an integer, got 'abc'"


@pytest.mark.parametrize(("variable", "value"), [
    ("PHONOS_MODELS", "esmfold,esmfodl"),  # a typo in the model list
    ("PHONOS_RESTART_MAX", "-1"),
    ("PHONOS_RESTART_BACKOFF_S", "nan"),  # passed every `<` check, then a nan wait between restarts
    ("PHONOS_TRITON_TIMEOUT_S", "-5"),
    ("PHONOS_TRACING_EXPORTER", "jaeger"),  # was checked only by the job service, after Triton had started
    ("PHONOS_DEFAULT_CREDITS", "3000000000"),  # the admin account's balance: GET /v1/account would be a 500
    ("PHONOS_ESMFOLD_MAX_LENGTH", "abc"),  # the models' own settings
    # Read only by the models (AlphaFold2's settings hold them too): with ESMFold alone they were a model-load
    # failure with a Python stack ~20 s into Triton's start, after the admin key was printed.
    ("PHONOS_MODELS=esmfold PHONOS_RELAX_PLATFORM", "cuda"),
    ("PHONOS_MODELS=esmfold PHONOS_RELAX_TIMEOUT_S", "nan"),
    # Weights and databases this machine lacks: were found only as a model-load failure too.
    ("PHONOS_MODELS=esmfold PHONOS_ESMFOLD_WEIGHTS_DIR", "/nonexistent/esmfold_v1"),
    ("PHONOS_ALPHAFOLD2_PARAMS_DIR", "/nonexistent/alphafold2"),
    ("PHONOS_ALPHAFOLD2_UNIREF90", "/nonexistent/uniref90.fasta"),
])
def test_serve_refuses_bad_settings_before_creating_anything(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             variable: str, value: str) -> None:
    *others, variable = variable.split()  # "PHONOS_MODELS=esmfold PHONOS_RELAX_PLATFORM": set alongside
    for other in others:
        operator_env.setenv(*other.split("=", 1))
    operator_env.setenv(variable, value)

    def went_on(*args: object) -> None:  # a serve past its checks would start Triton here: fail at once instead
        raise AssertionError(f"serve went on with {variable}={value}")

    operator_env.setattr(serve_module, "secure_data_dir", went_on)
    data_dir = tmp_path / "fresh"
    assert cli.main(["serve", "--data-dir", str(data_dir), "--http-port", "0", "--grpc-port", "0"]) == 2
    out, err = capsys.readouterr()
    assert variable in err and "Traceback" not in err
    assert "API key" not in out  # no admin key printed above the error, to be lost with the refused start
    assert not data_dir.exists()
    if value.startswith("/nonexistent"):  # a path that is not there is said so (was "has no config.json")
        assert f"{variable}={value} does not exist" in err, err
    if variable == "PHONOS_MODELS":  # the models a user can serve (was: with `echo`, a diagnostic)
        assert "known: esmfold, alphafold2, diffdock" in err and "echo" not in err, err


def test_serve_hands_its_own_triton_to_the_job_service_not_a_fleet(operator_env: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    """PHONOS_TRITON_URLS, exported for `python -m jobservice` on several machines, wins over PHONOS_TRITON_URL:
    left in the job service's environment, `phonos serve` would start a Triton and route every job elsewhere."""
    operator_env.setenv("PHONOS_TRITON_URLS", "gpu1.lab:8001,gpu2.lab:8001")
    settings = ServiceSettings(data_dir=tmp_path)
    triton = serve_module.TritonChild(["esmfold"], serve_module.TritonPorts.pick(), settings, {})
    env = serve_module.jobservice_env(settings, triton)
    assert env["PHONOS_TRITON_URL"] == triton.grpc_url
    assert ServiceSettings.from_env(env).triton_urls == ""


def test_serve_refuses_a_port_flag_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.build_parser().parse_args(["serve", "--http-port", "99999"])
    assert exited.value.code == 2
    assert "--http-port" in capsys.readouterr().err


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("PHONOS_MAX_QUEUED_PER_ACCOUNT", "lots", "must be an integer"),
    # Was refused only after the data directory and its database were made.
    ("PHONOS_TRITON_URLS", "gpu1.lab,gpu2.lab:8001", "entry 'gpu1.lab': expected host:port"),
])
def test_the_job_service_names_a_bad_variable_instead_of_a_traceback(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str],
                                                                     variable: str, value: str, says: str) -> None:
    operator_env.setenv(variable, value)
    assert jobservice_main.main(["--data-dir", str(tmp_path / "var"), "--grpc-port", "0", "--no-http"]) == 2
    assert f"error: {variable} {says}" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()


def _readme_settings_table() -> dict[str, str]:
    """{variable: its default as the README's settings table writes it}."""
    section = README.read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, str] = {}
    for row in section.splitlines():
        if not row.startswith("| `PHONOS_"):
            continue
        names_cell, default_cell = (cell.strip() for cell in row.strip("|").split("|")[:2])
        names = re.findall(r"`(PHONOS_\w+)`", names_cell)
        defaults = [d.strip() for d in default_cell.split(" / ")]
        for name, default in zip(names, defaults if len(defaults) == len(names) else [default_cell] * len(names),
                                 strict=True):
            table[name] = default.strip("`")
    return table


def _code_defaults() -> dict[str, object]:
    """{variable: default} of the settings the API processes and `phonos serve` read."""
    defaults: dict[str, object] = {f"PHONOS_{f.name.upper()}": f.default for f in dataclasses.fields(ServiceSettings)
                                   if f.name != "edge"}
    edge, supervisor = EdgeSettings(), SupervisorSettings()
    defaults.update({
        "PHONOS_HTTP_HEADER_TIMEOUT_S": edge.header_timeout_s, "PHONOS_HTTP_KEEPALIVE_TIMEOUT_S": edge.keepalive_timeout_s,
        "PHONOS_BODY_TIMEOUT_S": edge.body_timeout_s, "PHONOS_AUTH_FAILURES_PER_MINUTE": edge.auth_failures_per_minute,
        "PHONOS_CLIENT_ERROR_LOGS_PER_MINUTE": edge.client_error_logs_per_minute,
        "PHONOS_SHARED_REQUESTS_PER_MINUTE": edge.shared_requests_per_minute,
        "PHONOS_TRUSTED_PROXIES": edge.trusted_proxies,
        "PHONOS_FORWARDED_HEADER": edge.forwarded_header, "PHONOS_ALLOWED_HOSTS": edge.allowed_hosts,
        "PHONOS_DOWNLOADS_PER_CLIENT": edge.downloads_per_client, "PHONOS_MAX_DOWNLOADS": edge.max_downloads,
        "PHONOS_DOWNLOAD_SEND_TIMEOUT_S": edge.download_send_timeout_s,
        "PHONOS_UPLOAD_BYTES_PER_CLIENT": edge.upload_bytes_per_client, "PHONOS_MAX_UPLOAD_BYTES": edge.max_upload_bytes,
        "PHONOS_GRPC_DOWNLOADS_PER_CLIENT": edge.grpc_downloads_per_client,
        "PHONOS_GRPC_MAX_DOWNLOADS": edge.grpc_max_downloads,
        "PHONOS_GRPC_UPLOAD_BYTES_PER_CLIENT": edge.grpc_upload_bytes_per_client,
        "PHONOS_GRPC_MAX_UPLOAD_BYTES": edge.grpc_max_upload_bytes,
        "PHONOS_CONNECTIONS_PER_CLIENT": edge.connections_per_client, "PHONOS_MAX_CONNECTIONS": edge.max_connections,
        "PHONOS_GRPC_HANDSHAKE_TIMEOUT_S": edge.grpc_handshake_timeout_s,
        "PHONOS_RESTART_MAX": supervisor.max_restarts, "PHONOS_RESTART_WINDOW_S": supervisor.restart_window_s,
        "PHONOS_RESTART_BACKOFF_S": supervisor.backoff_s, "PHONOS_RESTART_BACKOFF_MAX_S": supervisor.backoff_max_s,
    })
    return defaults


def test_the_readme_settings_table_lists_every_variable_with_its_default() -> None:
    documented, code = _readme_settings_table(), _code_defaults()
    assert sorted(set(code) - set(documented)) == []
    relax = {"PHONOS_RELAX_TIMEOUT_S", "PHONOS_RELAX_PLATFORM", "PHONOS_RELAX_CPU_THREADS"}  # read by the models
    assert sorted(set(documented) - set(code) - relax) == []
    for name, default in code.items():
        written = documented[name]
        if isinstance(default, bool):
            assert written == str(default).lower(), name
        elif isinstance(default, int | float):
            assert float(written) == default, name
        elif isinstance(default, tuple) and default:
            assert written == ",".join(default), name
        elif isinstance(default, str) and default and name != "PHONOS_TRITON_URL":
            assert written == default, name
    assert documented["PHONOS_DATA_DIR"] == "./var" and ServiceSettings().data_dir == Path("var")
