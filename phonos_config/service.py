"""Settings of the job service, the gateway and the launcher (PHONOS_* variables)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Self
from urllib.parse import SplitResult, parse_qsl, urlsplit

from phonos_config.edge import EdgeSettings, host_names
from phonos_config.env import current_env, read_settings
from phonos_config.fleet import check_triton_url, parse_endpoints
from phonos_config.triton_access import PLACEHOLDER_PREFIX, check_api_secret

# PHONOS_TRACING_EXPORTER's values (jobservice/tracing.py installs them).
TRACING_EXPORTERS = ("none", "otlp", "console")
# PHONOS_LOG_FORMAT's values (jobservice/log_format.py writes them).
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class ServiceSettings:
    """Everything the API processes need; safe defaults for one machine."""

    data_dir: Path = Path("./var")
    # Shared state for many job services: "postgresql://user:password@host:5432/db". Empty: SQLite in data_dir,
    # owned by one job service. With PostgreSQL, data_dir holds only result files: mount the same shared
    # directory (NFS, CephFS, a ReadWriteMany volume) on every job service.
    database_url: str = ""
    # PostgreSQL: how long making one connection may take. A server that drops packets silently (a firewall, a
    # host gone from the network) would otherwise hold each call for asyncpg's 60 s and end it as a gateway's
    # 504; past this it is the outage's 503 with Retry-After, as a refused connection is.
    database_connect_timeout_s: float = 5.0
    # PostgreSQL: the longest one statement (or waiting for a pooled connection) may take. A pooled connection
    # that goes silent mid-statement (its server process stopped, the network cut without a reset) would
    # otherwise hold the call, and whatever background loop made it, for ever; past this it is the outage's 503
    # with Retry-After. Every statement the service runs takes milliseconds (purges go in batches), so this only
    # ever meets a stalled database; it stays under the gateway's 30 s deadline, so the client reads a 503 with
    # Retry-After rather than a 504. Migrations at start are not bound by it (one may legitimately take long).
    database_command_timeout_s: float = 15.0
    # PostgreSQL: how long a starting job service keeps trying to reach its database (a container started before
    # it, a database restarting, DNS not ready yet: 1 s doubling to 15 s between tries) before it exits; 0 keeps
    # trying for ever. Meanwhile it answers health as not ready. A database that answers and refuses (a wrong
    # password, no such database, SSL settings that cannot work) ends the start at once (jobservice/db_wait.py).
    database_start_wait_s: float = 300.0
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Where the job service finds Triton's gRPC endpoint ("host:port").
    triton_url: str = "127.0.0.1:8001"
    # A fleet of Triton servers instead (one per GPU node): "host:port,host:port,model=host:port"; an entry
    # without "model=" serves every model. Set, it replaces triton_url (jobservice/fleet_inference.py).
    triton_urls: str = ""
    # The secret that unlocks Triton's internal APIs (all but health and metadata), sent with every call to it
    # (phonos_config/triton_access.py). `phonos serve` makes a fresh one at each start and sets it for its job
    # service. A separately run Triton (a fleet) is locked by starting each tritonserver with
    #   --http-restricted-api=inference,shared-memory,model-config,model-repository,statistics,trace,logging:phonos-triton-secret=<secret>
    #   --grpc-restricted-protocol=<the same list>:phonos-triton-secret=<secret>
    # and this set to the same secret. Empty: no header is sent (an unlocked Triton). Never logged nor shown (repr).
    triton_api_secret: str = field(default="", repr=False)
    # How often each fleet endpoint is probed; a failing one is out of rotation until it is ready again.
    triton_health_interval_s: float = 2.0
    # The client-side deadline of one Triton call, time queued at Triton included: a safety net whose
    # failures are refunded (`timeout`). Keep it above every model's own compute limit
    # (PHONOS_<MODEL>_TIMEOUT_S, enforced by the model from when it starts computing, charged) plus the
    # queueing you accept (jobservice/failures.py).
    triton_timeout_s: float = 7200.0
    # While the model server is unavailable for a model, its pending jobs wait (no attempt used) for this
    # long from the start of the outage, then all fail together with a refund (jobservice/outage.py).
    triton_retry_window_s: float = 120.0
    # Writing a job's result files is retried on storage errors (a full or read-only disk, a shared
    # volume remounting) for this long, then the job fails as `internal` with a refund.
    storage_retry_window_s: float = 60.0
    # Jobs one model may have in flight at Triton at once (Triton queues and batches the rest); never more than
    # the model computes at once, its instances times batch size (jobservice/capacity.py).
    max_inflight_per_model: int = 8
    # Fair sharing (jobservice/fairness.py). Jobs one account may have waiting (pending), all models
    # together; a submission past it is a 429 "Too many jobs".
    max_queued_per_account: int = 1000
    # Jobs of one model one account may have in flight at once; 0: no cap beyond max_inflight_per_model.
    # Either way the next free slot goes to the waiting account with the fewest jobs of the model in
    # flight (then the one served least recently): round-robin between accounts.
    max_running_per_account: int = 0
    # A job that was running when its process died is retried at most this many times in all.
    max_attempts: int = 3
    # PostgreSQL only: a running job's claim lasts this long unless its job service renews it (every third of
    # it); a job whose service died is run again by another service within about 1.5 times this. An Idempotency-Key's
    # claim (jobservice/idempotency.py) is leased the same way: a dead service's is taken over after it.
    job_lease_s: float = 30.0
    default_credits: int = 1000
    default_rate_limit: int = 60  # requests per minute per key
    max_batch_jobs: int = 10
    max_webhooks: int = 5
    webhook_timeout_s: float = 10.0
    # 2 s doubling to the 1 h cap: 16 attempts span ~5 h, so a receiver down for an afternoon's maintenance
    # still gets its events (8 gave up after ~4 min).
    webhook_max_attempts: int = 16
    webhook_backoff_base_s: float = 2.0
    # http:// webhook URLs on loopback (127.0.0.0/8, ::1, localhost) for development and tests.
    webhook_allow_http_loopback: bool = False
    # Private networks of this site whose webhook receivers are trusted, e.g. "10.20.0.0/16,fd00:1ab::/48" (a
    # lab's LIMS or chat bridge): https:// receivers there (an IP, or a name resolving only to public addresses
    # and these) are accepted. Empty: public hosts only. Every address listed is reachable by any account's
    # webhook (and its test route tells a status apart from no answer): list the receivers' networks only.
    webhook_allowed_networks: tuple[str, ...] = ()
    # Deliveries in flight to one receiver (scheme, host, port) and in all: a slow receiver delays only itself.
    webhook_max_concurrent_per_receiver: int = 2
    webhook_max_concurrent: int = 32
    # Finished webhook deliveries (GET /v1/webhooks/{id}/deliveries) are kept this many days; 0 keeps them for ever.
    webhook_delivery_log_days: float = 30
    # The account activity log (GET /v1/account/activity) keeps entries this many days; 0 keeps them for ever.
    activity_log_days: float = 365
    # Usage events are written in batches this often (seconds).
    usage_flush_interval_s: float = 0.5
    # Watch streams (GET /v1/jobs/{id}/events, WatchJob): the hub's safety-net poll while anyone watches,
    # the longest a stream stays open before the server ends it (clients resume with Last-Event-ID),
    # and the SSE keep-alive comment interval (proxies close silent connections; a gone client is noticed).
    watch_poll_s: float = 5.0
    watch_max_stream_s: float = 3600.0
    # The watch streams one account may hold open at once on one job service (a 429 past it; 0: no cap). Each is
    # a connection held up to watch_max_stream_s: uncapped, one key at 60 requests a minute held 3,600 (20 keys:
    # 72,000). Twice the default cap on waiting jobs: `phonos fold` follows each job of a run on its own stream,
    # and a run at that cap, every job followed, still fits.
    watch_max_streams_per_account: int = 2000
    sse_keepalive_s: float = 15.0
    # How long an Idempotency-Key's first response is kept and replayed (per account).
    idempotency_ttl_s: float = 86400.0
    # Usage counters older than this are deleted (GET /v1/usage reports at most 90 days).
    usage_retention_days: int = 90
    # Result files of a completed job are deleted this many days after it completed (the job, its scores and
    # metadata stay; downloads then answer 410). 0 keeps every result for ever.
    result_retention_days: float = 0
    # Result files no job keeps (and stale temporaries) are removed once last modified this long ago (seconds);
    # 0 never sweeps them. Longer for slow shared storage or while restoring; under an hour would race a write.
    result_orphan_age_s: float = 86400.0
    # Dashboard sessions end this long after sign-in (seconds).
    session_ttl_s: float = 12 * 3600.0
    # Requests per minute one dashboard session may make (it polls while jobs run).
    session_rate_limit: int = 300
    # Mark the session cookie Secure even on plain-HTTP requests: set it when a TLS proxy sits in front.
    cookie_secure: bool = False
    # Public model ids this deployment serves (a subset, e.g. a box without AlphaFold2 databases).
    models: tuple[str, ...] = ("esmfold", "alphafold2", "diffdock")
    # Prometheus `/metrics` of the job service, on its own listener (never the public REST port).
    # Loopback by default: expose it to a Prometheus server on purpose (e.g. PHONOS_METRICS_HOST=0.0.0.0
    # behind a firewall). Port 0 picks a free port.
    metrics_enabled: bool = True
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 9464
    # DNS names both /metrics listeners (this and the gateway's) answer to besides `localhost`, the machine's own
    # host name, the name they bind (PHONOS_METRICS_HOST) and PHONOS_ALLOWED_HOSTS: comma-separated, `.lab.org` for
    # every name under it. Any IP address as the Host is answered (Prometheus scraping a pod IP, 127.0.0.1:9464);
    # another name is a 400, so that a page of another site cannot read /metrics through DNS rebinding.
    metrics_allowed_hosts: tuple[str, ...] = ()
    # Triton's own Prometheus endpoints ("http://host:8002/metrics", comma-separated for several servers);
    # `/metrics` re-exports them with an `endpoint` label. `phonos serve` sets it; empty: not re-exported.
    triton_metrics_urls: tuple[str, ...] = ()
    # The `endpoint` label of the one Triton that PHONOS_TRITON_URL and PHONOS_TRITON_METRICS_URLS name, in /metrics
    # (its calls and its own re-exported series); empty: host:port. `phonos serve` sets "local": it picks Triton's
    # internal ports afresh at every start, and a label that changed with them broke every per-endpoint series (and
    # reset alerts' `for:`) at each restart. A fleet's endpoints keep their host:port.
    triton_endpoint_label: str = ""
    # Prometheus `/metrics` of a gateway run in its own process (`python -m gateway`, gateway/metrics.py): its
    # REST latency histogram, on its own listener too. 9465: the job service's 9464 may be on the same host.
    # Unused by `python -m jobservice` and `phonos serve` (their gateway's series are in the job service's).
    gateway_metrics_enabled: bool = True
    gateway_metrics_host: str = "127.0.0.1"
    gateway_metrics_port: int = 9465
    # OpenTelemetry traces (gateway -> job service -> Triton call): "none" (default), "otlp" (OTLP over
    # HTTP/protobuf to tracing_otlp_endpoint) or "console" (spans as JSON on stderr, for a look).
    tracing_exporter: str = "none"
    tracing_otlp_endpoint: str = "http://127.0.0.1:4318/v1/traces"
    tracing_service_name: str = "phonos"
    # The log lines on stderr: "text" (the message, then its fields as key=value: action=... job_id=... model=...)
    # or "json" (one JSON object per line, for a log collector).
    log_format: str = "text"
    # Timeouts, failed-auth throttling and client-error logging of the REST and gRPC edge.
    edge: EdgeSettings = field(default_factory=EdgeSettings)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "phonos.sqlite3"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None when the state is in PostgreSQL (database_url)."""
        return None if self.database_url else self.database_path

    @property
    def webhook_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """PHONOS_WEBHOOK_ALLOWED_NETWORKS as networks (a single address is its own /32 or /128)."""
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.webhook_allowed_networks)

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Every field from PHONOS_<FIELD NAME> (PHONOS_TRITON_URL, PHONOS_MODELS=esmfold,diffdock, ...);
        `edge` from its own variables (phonos_config/edge.py). A value that cannot work is a ValueError
        naming its variable, raised here rather than as a hang or a failed job later."""
        settings = read_settings(cls, current_env() if env is None else env, "PHONOS_")
        # a name list read as the REST edge's PHONOS_ALLOWED_HOSTS is (checked, lower-case, without a root dot)
        settings = replace(settings, metrics_allowed_hosts=host_names(",".join(settings.metrics_allowed_hosts),
                                                                      "PHONOS_METRICS_ALLOWED_HOSTS"))
        settings.check()
        return settings

    @property
    def metrics_hosts(self) -> tuple[str, ...]:
        """The configured names a /metrics listener answers to: PHONOS_ALLOWED_HOSTS and PHONOS_METRICS_ALLOWED_HOSTS
        (phonos_common/hosts.py `listener_names` adds loopback's, the machine's and the bound one)."""
        return tuple(dict.fromkeys((*self.edge.allowed_hosts, *self.metrics_allowed_hosts)))

    def check(self) -> None:
        """Refuse values that parse but cannot work: PHONOS_MAX_INFLIGHT_PER_MODEL=0 would never run a job,
        a negative PHONOS_TRITON_TIMEOUT_S would fail every one, PHONOS_HTTP_PORT=99999 fails late and vaguely."""
        for name in ("http_port", "grpc_port", "metrics_port", "gateway_metrics_port"):
            if not 0 <= getattr(self, name) <= 65535:
                raise ValueError(f"{_variable(name)} must be a port from 0 to 65535, got {getattr(self, name)}")
        for name, least in _LEAST.items():
            value = getattr(self, name)
            if not value >= least:  # also refuses nan
                raise ValueError(f"{_variable(name)} must be at least {least}, got {value}")
        for name in _POSITIVE:
            value = getattr(self, name)
            if not value > 0:  # also refuses nan
                raise ValueError(f"{_variable(name)} must be more than 0, got {value}")
        for f in fields(self):  # durations: "never" is 0 where a setting offers it, not a huge number
            value, ceiling = getattr(self, f.name), _CEILINGS.get(f.name.rsplit("_", 1)[-1])
            if ceiling is not None and value > ceiling:  # e.g. PHONOS_SESSION_TTL_S=1e12 made every sign-in a 500
                raise ValueError(f"{_variable(f.name)} must be at most {ceiling:g} (100 years), got {value:g}")
        if 0 < self.result_orphan_age_s < MIN_ORPHAN_AGE_S:  # a write in progress renames its files within a minute
            raise ValueError(f"PHONOS_RESULT_ORPHAN_AGE_S must be 0 (never sweep) or at least {MIN_ORPHAN_AGE_S:g} "
                             f"(an hour: younger files may be a write in progress), got {self.result_orphan_age_s:g}")
        if not self.models:
            raise ValueError("PHONOS_MODELS must name at least one model (e.g. esmfold,alphafold2,diffdock)")
        if self.tracing_exporter not in TRACING_EXPORTERS:  # refused here, before `phonos serve` creates anything
            raise ValueError(f"PHONOS_TRACING_EXPORTER must be one of {', '.join(TRACING_EXPORTERS)}, "
                             f"got {self.tracing_exporter!r}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"PHONOS_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}")
        check_database_url(self.database_url)
        check_database_password(self.database_url, current_env().get("PGPASSWORD", ""))
        for entry in self.webhook_allowed_networks:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError("PHONOS_WEBHOOK_ALLOWED_NETWORKS entries must be networks such as 10.20.0.0/16 or "
                                 f"fd00:1ab::/48, got {entry!r}") from None
        check_triton_url(self.triton_url)
        check_api_secret(self.triton_api_secret)
        if self.triton_urls.strip():
            parse_endpoints(self.triton_urls)  # a ValueError naming PHONOS_TRITON_URLS and the bad entry
        if self.triton_endpoint_label and (self.triton_urls.strip() or len(self.triton_metrics_urls) > 1):
            raise ValueError("PHONOS_TRITON_ENDPOINT_LABEL names the one Triton of PHONOS_TRITON_URL; a fleet's "
                             "endpoints (PHONOS_TRITON_URLS, several PHONOS_TRITON_METRICS_URLS) are labelled by "
                             "their host:port: leave it empty")
        for url in self.triton_metrics_urls:  # else read as a Triton that is down at every scrape, for ever
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"PHONOS_TRITON_METRICS_URLS entries must be http://host:8002/metrics URLs, got {url!r}")

    def with_overrides(self, **changes: object) -> Self:
        return replace(self, **changes)  # type: ignore[arg-type]


def bracketed(host: str) -> str:
    """A host setting as it goes before ":port" (a gRPC bind address, a URL): an IPv6 literal in brackets,
    so "::" binds as "[::]:50051" (grpc cannot parse ":::50051")."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


# libpq's sslmode values, which asyncpg takes too.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


def check_database_url(url: str) -> None:
    """PHONOS_DATABASE_URL is empty (SQLite in the data directory) or a PostgreSQL URL whose ports and sslmode can
    work; ValueError otherwise, never quoting the URL (it may hold a password). Was: a port that is no number or an
    unknown sslmode was a traceback from the driver, exit status 1, after the data directory had been made."""
    if not url:
        return
    if not url.startswith(("postgresql://", "postgres://")):
        raise ValueError("PHONOS_DATABASE_URL must be a postgresql://user:password@host:5432/db URL (or empty "
                         f"for SQLite in the data directory), got one starting {url.split(':')[0]!r}")
    parts = urlsplit(url)
    # A / ? or # in the password ends the URL's authority there (what follows reads as a path, a query, a
    # fragment), and a second @ is read by the driver as the end of the password: both were errors quoting a
    # piece of the password as "the port" (ab/cd+ef= from `openssl rand -base64`: "got 'ab'") or a wrong host.
    if _authority_cut_short(parts) or parts.netloc.count("@") > 1:
        raise ValueError("PHONOS_DATABASE_URL's user name or password holds a character a URL reserves (@ / ? # "
                         "and the like): percent-encode it (@ as %40, / as %2F, ? as %3F, # as %23, % as %25) or "
                         "choose a password of letters and digits (openssl rand -hex 24)")
    hosts = parts.netloc.rpartition("@")[2]  # libpq's host1:5432,host2:5433 list
    for host in filter(None, hosts.split(",")):
        colon, number = _port_text(host)
        if colon and number and not _is_port(number):  # "host:" is the default port
            raise ValueError(f"PHONOS_DATABASE_URL's port must be a number from 1 to 65535{_quoted_if_plain(number)}")
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name == "sslmode" and value not in SSL_MODES:
            raise ValueError(f"PHONOS_DATABASE_URL's sslmode must be one of {', '.join(SSL_MODES)}"
                             f"{_quoted_if_plain(value)}")
        if name == "port" and not all(_is_port(p) for p in value.split(",")):
            raise ValueError(f"PHONOS_DATABASE_URL's port must be a number from 1 to 65535{_quoted_if_plain(value)}")


def check_database_password(url: str, pgpassword: str) -> None:
    """The example manifest's placeholder database password (in the URL or PGPASSWORD, where the manifests put it),
    applied as it is: anyone who read the manifest could then read every account, key hash and balance from any pod
    in the cluster. A ValueError that quotes nothing."""
    if not url:
        return
    password = urlsplit(url).password or pgpassword
    if password.lower().startswith(PLACEHOLDER_PREFIX):  # deploy/kubernetes/postgres.yaml's, as the Triton secret's
        raise ValueError("the database password is the example manifest's placeholder (change-me...): anyone who read "
                         "the manifest could read the database; set a password of your own (e.g. openssl rand -hex "
                         "24) in Secret phonos-db (deploy/kubernetes/postgres.yaml) before PostgreSQL first starts")


def _quoted_if_plain(value: str) -> str:
    """`, got '...'` for a value that can only be a mistyped port or mode (digits, commas, a word); nothing for any
    other text, which may be a piece of a password a URL was cut at (`Tr0ub4dor` of `pw?x=1@host`)."""
    return f", got {value!r}" if re.fullmatch(r"[0-9,]{1,24}|[a-z-]{1,16}", value) else ""


def _authority_cut_short(parts: SplitResult) -> bool:
    """Whether the user-and-password part ended early at a / ? or # in the password, or went on past an @ in it:
    - an @ in the path or the fragment (`/cd@host/db` from the password `ab/cd`; `p@ss/word@host`, whose authority
      ended at `p@ss`, read `ss` as the host and logged it);
    - no @ in the authority, and one in a query parameter's name (`?not@host:5432/db` from `why?not`), or anywhere
      after it while the authority's "port" is no number (`phonos:Tr0ub4dor` of `Tr0ub4dor?x=1@host`).
    An @ in a query parameter's value is the URL's own otherwise (`?user=phonos@server`,
    `sslcert=/home/me@corp/c.pem`, `application_name=ops@lab` with the user and host given there): it was refused,
    naming a password the URL did not have."""
    if "@" in parts.path or "@" in parts.fragment:
        return True
    if "@" in parts.netloc:
        return False
    if any("@" in name for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
        return True
    colon, port = _port_text(parts.netloc.rpartition(",")[2])  # libpq's host1:5432,host2:5433 list: the last
    return "@" in parts.query and colon and not port.isdigit()


def _port_text(host: str) -> tuple[bool, str]:
    """Whether `host` (`name:5432`, `[::1]:5432`) names a port, and its text: an IPv6 literal's colons are no port."""
    _, colon, port = (host.rpartition("]")[2] if host.startswith("[") else host).rpartition(":")
    return bool(colon), port


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 1 <= int(text) <= 65535


def _variable(field_name: str) -> str:
    return f"PHONOS_{field_name.upper()}"


# Counts with their least working value (0 where the setting documents 0 as "none" or "no cap").
_LEAST: dict[str, int] = {
    "max_inflight_per_model": 1, "max_queued_per_account": 1, "max_running_per_account": 0, "max_attempts": 1,
    "default_credits": 0, "default_rate_limit": 1, "max_batch_jobs": 1, "max_webhooks": 0,
    "webhook_max_attempts": 1, "webhook_max_concurrent_per_receiver": 1, "webhook_max_concurrent": 1,
    "usage_retention_days": 1, "session_rate_limit": 1, "result_retention_days": 0, "result_orphan_age_s": 0,
    "webhook_delivery_log_days": 0, "activity_log_days": 0, "watch_max_streams_per_account": 0,
    "triton_retry_window_s": 0, "storage_retry_window_s": 0, "webhook_backoff_base_s": 0,
    "database_start_wait_s": 0,
}
# The longest duration a `*_s` or `*_days` setting may hold: a time that far ahead is still a date the API can
# write (RFC 3339 stops at year 9999; a session expiring past it could not be answered).
_CEILINGS: dict[str, float] = {"s": 100 * 365.25 * 86400, "days": 100 * 365.25}
# The shortest PHONOS_RESULT_ORPHAN_AGE_S other than 0: a younger file may be a write in progress.
MIN_ORPHAN_AGE_S = 3600.0
# Durations and intervals that must be more than 0.
_POSITIVE = ("database_connect_timeout_s", "database_command_timeout_s",
             "triton_health_interval_s", "triton_timeout_s", "job_lease_s", "webhook_timeout_s",
             "usage_flush_interval_s", "watch_poll_s", "watch_max_stream_s", "sse_keepalive_s",
             "idempotency_ttl_s", "session_ttl_s")
