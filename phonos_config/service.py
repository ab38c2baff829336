"""Settings of the job service, the gateway and the launcher (PHONOS_* variables)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self

from phonos_config.env import current_env, env_bool, env_float, env_int, env_str


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the API processes need; safe defaults for one machine."""

    data_dir: Path = Path("./var")
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Where the job service finds Triton's gRPC endpoint ("host:port").
    triton_url: str = "127.0.0.1:8001"
    # Seconds one Triton call may take before the job fails (per-model specs may ask for less).
    triton_timeout_s: float = 3600.0
    # While Triton is unreachable a job keeps retrying for this long, then fails with a refund.
    triton_retry_window_s: float = 120.0
    # Jobs one model may have in flight at Triton at once (Triton queues and batches the rest).
    max_inflight_per_model: int = 8
    # A job that was running when its process died is retried at most this many times in all.
    max_attempts: int = 3
    default_credits: int = 1000
    default_rate_limit: int = 60  # requests per minute per key
    max_batch_jobs: int = 10
    max_webhooks: int = 5
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 8
    webhook_backoff_base_s: float = 2.0
    # http:// webhook URLs on loopback (127.0.0.0/8, ::1, localhost) for development and tests.
    webhook_allow_http_loopback: bool = False
    # Usage events are written in batches this often (seconds).
    usage_flush_interval_s: float = 0.5
    max_request_bytes: int = 16 * 1024 * 1024
    # Dashboard sessions end this long after sign-in (seconds).
    session_ttl_s: float = 12 * 3600.0
    # Requests per minute one dashboard session may make (it polls while jobs run).
    session_rate_limit: int = 300
    # Mark the session cookie Secure even on plain-HTTP requests: set it when a TLS proxy sits in front.
    cookie_secure: bool = False
    # Public model ids this deployment serves (a subset, e.g. a box without AlphaFold2 databases).
    models: tuple[str, ...] = ("esmfold", "alphafold2", "diffdock")

    @property
    def database_path(self) -> Path:
        return self.data_dir / "phonos.sqlite3"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        e = current_env() if env is None else env
        d = cls()
        return cls(
            data_dir=Path(env_str(e, "PHONOS_DATA_DIR", str(d.data_dir))),
            grpc_host=env_str(e, "PHONOS_GRPC_HOST", d.grpc_host),
            grpc_port=env_int(e, "PHONOS_GRPC_PORT", d.grpc_port),
            http_host=env_str(e, "PHONOS_HTTP_HOST", d.http_host),
            http_port=env_int(e, "PHONOS_HTTP_PORT", d.http_port),
            triton_url=env_str(e, "PHONOS_TRITON_URL", d.triton_url),
            triton_timeout_s=env_float(e, "PHONOS_TRITON_TIMEOUT_S", d.triton_timeout_s),
            triton_retry_window_s=env_float(e, "PHONOS_TRITON_RETRY_WINDOW_S", d.triton_retry_window_s),
            max_inflight_per_model=env_int(e, "PHONOS_MAX_INFLIGHT_PER_MODEL", d.max_inflight_per_model),
            max_attempts=env_int(e, "PHONOS_MAX_ATTEMPTS", d.max_attempts),
            default_credits=env_int(e, "PHONOS_DEFAULT_CREDITS", d.default_credits),
            default_rate_limit=env_int(e, "PHONOS_DEFAULT_RATE_LIMIT", d.default_rate_limit),
            webhook_timeout_s=env_float(e, "PHONOS_WEBHOOK_TIMEOUT_S", d.webhook_timeout_s),
            webhook_max_attempts=env_int(e, "PHONOS_WEBHOOK_MAX_ATTEMPTS", d.webhook_max_attempts),
            webhook_backoff_base_s=env_float(e, "PHONOS_WEBHOOK_BACKOFF_BASE_S", d.webhook_backoff_base_s),
            webhook_allow_http_loopback=env_bool(e, "PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK", d.webhook_allow_http_loopback),
            usage_flush_interval_s=env_float(e, "PHONOS_USAGE_FLUSH_INTERVAL_S", d.usage_flush_interval_s),
            session_ttl_s=env_float(e, "PHONOS_SESSION_TTL_S", d.session_ttl_s),
            session_rate_limit=env_int(e, "PHONOS_SESSION_RATE_LIMIT", d.session_rate_limit),
            cookie_secure=env_bool(e, "PHONOS_COOKIE_SECURE", d.cookie_secure),
            models=tuple(m.strip() for m in env_str(e, "PHONOS_MODELS", ",".join(d.models)).split(",") if m.strip()),
        )

    def with_overrides(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]
