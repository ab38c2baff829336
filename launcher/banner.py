"""What `phonos serve` prints once everything is ready: where to reach the API, the dashboard, gRPC and
/metrics, and how to sign in to the dashboard.

The addresses are ones a person can open (launcher.urls): a listener bound to 0.0.0.0 is shown on
127.0.0.1 with a note that it listens on every interface. Tests and benches read the REST line with
`REST gateway:\\s+(http://\\S+)/v1`: the first token after the label stays the URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobservice.admin import FIRST_USER, FirstStart
from launcher.urls import reachable
from phonos_config.json_text import json_value_text
from phonos_config.service import ServiceSettings


def sign_in_line(first: FirstStart | None, holder: str | None) -> str:
    """How to sign in to the dashboard: the generated password on the first start (shown once), then
    whatever is true of the accounts' passwords (`holder`: jobservice.admin.password_holder)."""
    if first is not None:
        return (f"  sign in as {json_value_text(FIRST_USER)} with password {first.password}  (shown once; change it "
                "on the dashboard's Account page)")
    if holder == FIRST_USER:
        return (f"  sign in as {json_value_text(FIRST_USER)} (forgot the password? "
                f"`phonos users set-password --username {FIRST_USER}`)")
    if holder is not None:  # the operator gave other accounts passwords, never admin
        return ("  sign in with your username and password (forgot it? "
                "`phonos users set-password --username NAME`)")
    return "  set a password to sign in: `phonos users set-password --username NAME`"


def endpoint_lines(settings: ServiceSettings, ready: Mapping[str, Any], sign_in: str) -> list[str]:
    """The REST, dashboard, gRPC and metrics lines for the job service's ready line `ready` (its bound ports)."""
    http = reachable(settings.http_host)
    lines = [f"REST gateway:  {http.url(ready['http_port'], '/v1')}  ({http.note()}try /v1/health)",
             f"Dashboard:     {http.url(ready['http_port'])}",
             sign_in]
    grpc = reachable(settings.grpc_host)
    lines.append(f"gRPC:          {grpc.address(ready['grpc_port'])}  ({grpc.note()}reflection + health enabled)")
    if ready.get("metrics_port"):
        metrics = reachable(settings.metrics_host)
        lines.append(f"metrics:       {metrics.url(ready['metrics_port'], '/metrics')}  "
                     f"({metrics.note()}Prometheus; job service + Triton)")
    return lines
