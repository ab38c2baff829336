"""What `phonos serve` prints once everything is ready: where to reach the API, the dashboard, gRPC and
/metrics, and how to sign in to the dashboard.

The addresses are ones a person can open (launcher.urls): a listener bound to 0.0.0.0 is shown on
127.0.0.1 with a note that it listens on every interface. Tests and benches read the REST line with
`REST gateway:\\s+(http://\\S+)/v1`: the first token after the label stays the URL.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jobservice.admin import FIRST_USER, FirstStart
from launcher.urls import reachable
from phonos_config.json_text import json_value_text
from phonos_config.service import ServiceSettings


def operator_program(argv0: str | None = None, on_path: str | None = None, interpreter: str | None = None) -> str:
    """How the person who started `phonos serve` types `phonos` for another verb: `phonos` when that name on
    PATH is this very program, else its path: from the working directory when it lies under it, as the
    README writes the operator's verbs (`.venv/bin/phonos`), else absolute. `scripts/serve.sh` runs
    `.venv/bin/phonos`, which is not on PATH: a hint that said `phonos users set-password` answered
    "command not found".

    Started as `python -m launcher.cli`: `phonos` when PATH has one, else the `phonos` installed beside that
    Python (`.venv/bin/phonos`), else `phonos`. A bare `phonos` there answered "command not found" too.

    `argv0`, `on_path` (what `shutil.which("phonos")` found) and `interpreter` are parameters for the tests."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    found = shutil.which("phonos") if on_path is None else on_path
    if Path(argv0).name != "phonos":  # `python -m launcher.cli`, or a verb run in process
        beside = Path(sys.executable if interpreter is None else interpreter).parent / "phonos"
        if found or not beside.is_file():
            return "phonos"
        argv0 = str(beside)
    program = os.path.realpath(argv0)
    if found and os.path.realpath(found) == program:
        return "phonos"
    relative = os.path.relpath(os.path.abspath(argv0))
    path = os.path.abspath(argv0) if relative.startswith("..") else relative
    # A bare name would be looked up on PATH again: `./phonos` for one in the working directory itself.
    return shlex.quote(path if os.sep in path else f".{os.sep}{path}")


def operator_command(verb: str, data_dir: Path, program: str = "phonos", *, postgres: bool = False) -> str:
    """`verb` as a command that reaches this service's state: with `--data-dir` unless the data directory is the
    default `./var` from here (a service started with `--data-dir /srv/phonos` has no database in ./var, and the
    operator verbs refuse to create one there). On PostgreSQL the state is the database the service's
    PHONOS_DATABASE_URL names: the command reads it from the environment (`"$PHONOS_DATABASE_URL"` as written: the
    URL itself would put its password on the screen), and pasted without it, it refused, naming only --data-dir."""
    here = Path("var").resolve()
    where = "" if Path(data_dir).resolve() == here else f" --data-dir {shlex.quote(str(data_dir))}"
    database = 'PHONOS_DATABASE_URL="$PHONOS_DATABASE_URL" ' if postgres else ""
    return f"{database}{program} {verb}{where}"


def sign_in_line(first: FirstStart | None, holder: str | None, *, data_dir: Path = Path("var"),
                 program: str = "phonos", postgres: bool = False) -> str:
    """How to sign in to the dashboard: the generated password on the first start (shown once), then
    whatever is true of the accounts' passwords (`holder`: jobservice.admin.password_holder). The
    set-password command is printed as it can be pasted: `program` (operator_program) and, for a data
    directory other than the default, its `--data-dir`."""
    if first is not None:
        return (f"  sign in as {json_value_text(FIRST_USER)} with password {first.password}  (shown once; change it "
                "on the dashboard's Account page)")

    def set_password(name: str) -> str:
        return operator_command(f"users set-password --username {name}", data_dir, program, postgres=postgres)

    if holder == FIRST_USER:  # its password was shown by an earlier start, or by none that was interrupted first
        return (f"  sign in as {json_value_text(FIRST_USER)} (no password seen, or forgot it? "
                f"`{set_password(FIRST_USER)}`)")
    if holder is not None:  # the operator gave other accounts passwords, never admin
        return f"  sign in with your username and password (forgot it? `{set_password('NAME')}`)"
    return f"  set a password to sign in: `{set_password('NAME')}`"


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


def first_job_line(settings: ServiceSettings, ready: Mapping[str, Any], program: str = "phonos") -> str:
    """On the first start, under the new API key: the command that puts it to use, with this service's address
    (a `--http-port` other than the README's 8080 included) and the program as it can be typed."""
    url = reachable(settings.http_host).url(ready["http_port"]).rstrip("/")
    return (f"first job:     {program} login --url {url}  (asks for the API key above), then "
            f"{program} fold SEQUENCE  (curl: README, Your first job)")

