"""Start and stop a real `tritonserver` from the nvidia-pytriton wheel.

The wheel ships tritonserver 2.51 with the python backend and a stub per
Python version. Three things make it run from this project's venv (see
shared/notes/triton-on-cpu.md): the 3.11 stub must sit where the python
backend looks for it, LD_LIBRARY_PATH must start with this interpreter's own
libpython, and PATH must start with the venv's bin/ so the stub embeds the
venv's interpreter (numpy < 2 lives there).

    with TritonProcess.start(model_repository, ["esmfold"], api_secret=secret) as triton:
        triton.wait_ready(timeout_s=120)
        client = tritonclient.grpc.InferenceServerClient(triton.grpc_url)  # headers=grpc_headers(secret) per call

Its python-backend shared-memory regions, which hold every request's tensors, are made private (0600) as they
appear (`RegionGuard`); its HTTP and gRPC APIs other than health and metadata are locked to `api_secret` when one
is given (phonos_config/triton_access.py; `phonos serve` always gives one).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from launcher.ports import free_ports
from launcher.shm_guard import RegionGuard
from phonos_config.triton_access import http_headers, restriction_flags

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL_REPOSITORY = REPO_ROOT / "triton_models"
SHM_DIR = Path("/dev/shm")
# The python backend's default region prefix. Each server we start names its regions SHM_PREFIX + a token of its
# own + "_" (`--backend-config=python,shm-region-prefix-name=`), so what it made is told from other servers' by
# name, while the cleanup below, which matches SHM_PREFIX, still finds them all.
SHM_PREFIX = "triton_python_backend_shm_region_"
# Named POSIX semaphores of Python's multiprocessing (glibc: /dev/shm/sem.<name>). A `spawn` process pool in a
# model (result-file workers, relax and embedding workers) keeps its queues' semaphores linked while it runs;
# the pool's own finaliser or its resource tracker would unlink them, but a SIGKILLed process group takes the
# tracker with it and leaves them behind (five per pool).
SEM_PREFIX = "sem.mp-"


class TritonStartError(RuntimeError):
    """tritonserver is missing, exited early, or did not become ready in time."""


@dataclass(frozen=True)
class TritonInstall:
    """Where the wheel put the server, its backends and the per-Python stubs."""

    binary: Path
    backend_dir: Path

    @classmethod
    def locate(cls) -> TritonInstall:
        try:
            import pytriton
        except ImportError as exc:  # pragma: no cover - install problem
            raise TritonStartError("nvidia-pytriton is not installed; run the install command in the README") from exc
        root = Path(pytriton.__file__).resolve().parent / "tritonserver"
        install = cls(binary=root / "bin" / "tritonserver", backend_dir=root / "backends")
        install._place_stub(root / "python_backend_stubs")
        return install

    def _place_stub(self, stubs_dir: Path) -> None:
        """Copy this Python's stub beside the python backend (keeps the wheel's relative RPATH working)."""
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        source = stubs_dir / version / "triton_python_backend_stub"
        target = self.backend_dir / "python" / "triton_python_backend_stub"
        if not source.exists():
            raise TritonStartError(f"no Triton python backend stub for Python {version} in {stubs_dir}")
        if not target.exists() or target.stat().st_size != source.stat().st_size:
            shutil.copy2(source, target)


def triton_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment tritonserver and its python stubs need (see module docstring)."""
    env = dict(os.environ if base is None else base)
    libdir = sysconfig.get_config_var("LIBDIR") or ""
    venv_bin = str(Path(sys.executable).parent)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (libdir, env.get("LD_LIBRARY_PATH", "")) if p)
    env["PATH"] = os.pathsep.join(p for p in (venv_bin, env.get("PATH", "")) if p)
    # No PYTHONPATH: the stub ignores it. Each model.py puts its own checkout's packages first.
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env


@dataclass(frozen=True)
class TritonPorts:
    http: int
    grpc: int
    metrics: int

    @classmethod
    def pick(cls, host: str = "127.0.0.1") -> TritonPorts:
        http, grpc, metrics = free_ports(3, host)  # three at once: one after another could repeat a port
        return cls(http=http, grpc=grpc, metrics=metrics)


# How long a graceful stop may take before the server is killed. Measured (bench/triton_stop.py, 2 shared cores, the
# three tiny-weight models idle): ~3-4 s. Triton unloads the models side by side and a model's instances one after
# another (ESMFold's two), each instance ~1 s: the python backend waits 1 s for the stub's health before it asks it
# to finalize (a fixed `sleep(1)` in StubLauncher::UpdateHealth, src/stub_launcher.cc of
# triton-inference-server/python_backend, called as each instance is destroyed; no backend or model setting
# changes it: README, "Ctrl-C"). Each stub then exits as soon as its model's finalize() is done (phonos_triton.stub_exit); it used to
# spend 3-7 s more destroying its interpreter (torch), which made the stop 8-13 s. Triton then notices, polling once
# a second, that no model is left, and takes ~1 s to exit.
# Its HTTP port adds nothing as long as no connection to it is left open (`phonos serve` leaves none; the ~1 s once
# put down to it here was the job service's own exit before Triton was signalled). One that is (an idle keep-alive
# client) holds the stop for the whole exit timeout, logging "Found 1 HTTP service connections" each second, and
# the server is then killed: `open_connections` lets the stop say so. Its own --exit-timeout-secs (default 30) bounds
# in-flight inferences; the job service is stopped first and hands its running jobs back to pending, so none of its
# calls is still waiting by then. A shorter bound would kill stubs mid-unload for no gain: their regions are cleaned
# up either way, but the log then reads as a crash. So 30 s, as Triton's own; `phonos serve` says so when it starts
# stopping it.
STOP_TIMEOUT_S = 30.0


class TritonProcess:
    """A running tritonserver serving some models of a model repository (explicit model control)."""

    def __init__(self, process: subprocess.Popen[bytes], ports: TritonPorts, models: Sequence[str],
                 log_path: Path | None, shm_before: frozenset[str], *, api_secret: str = "",
                 guard: RegionGuard | None = None) -> None:
        self.process = process
        self.ports = ports
        self.models = tuple(models)
        self.log_path = log_path
        self._shm_before = shm_before
        self.api_secret = api_secret  # "" when its APIs are not locked
        self._guard = guard

    @property
    def shm_prefix(self) -> str | None:
        """The name prefix of this server's shm regions (None for a server not started by `start`)."""
        return None if self._guard is None else self._guard.prefix

    def __repr__(self) -> str:  # never the secret
        return f"TritonProcess(pid={self.process.pid}, grpc={self.grpc_url}, models={list(self.models)})"

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.ports.grpc}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.metrics}/metrics"

    @classmethod
    def start(
        cls,
        model_repository: Path = DEFAULT_MODEL_REPOSITORY,
        models: Iterable[str] = ("esmfold", "alphafold2", "diffdock"),
        *,
        ports: TritonPorts | None = None,
        log_path: Path | None = None,
        env: Mapping[str, str] | None = None,
        extra_args: Sequence[str] = (),
        preexec_fn: Callable[[], None] | None = None,
        api_secret: str = "",
    ) -> TritonProcess:
        """Start the server; `preexec_fn` runs in the child before exec (launcher.lifeline ties it to us).
        `api_secret`: every API but health and metadata answers only requests carrying it (`phonos serve` always
        gives one; "" leaves them open, for tests and benchmarks that talk to the server with plain clients)."""
        install = TritonInstall.locate()
        ports = ports or TritonPorts.pick()
        models = list(models)
        # Unique to this start: the guard makes exactly this server's regions private (launcher/shm_guard.py).
        shm_prefix = f"{SHM_PREFIX}{secrets.token_hex(6)}_"
        args = [
            str(install.binary),
            f"--model-repository={model_repository}",
            f"--backend-directory={install.backend_dir}",
            "--model-control-mode=explicit",
            *(f"--load-model={m}" for m in models),
            # Configs are complete; auto-complete would import every model.py twice.
            "--disable-auto-complete-config",
            # One broken model must not take the others down; /v1/health reports it.
            "--exit-on-error=false",
            "--strict-readiness=false",
            # Internal ports: loopback only; the gateway is the public surface.
            "--http-address=127.0.0.1",
            "--grpc-address=127.0.0.1",
            "--metrics-address=127.0.0.1",
            f"--http-port={ports.http}",
            f"--grpc-port={ports.grpc}",
            f"--metrics-port={ports.metrics}",
            "--allow-metrics=true",
            "--allow-gpu-metrics=false",
            "--log-verbose=0",
            f"--backend-config=python,shm-region-prefix-name={shm_prefix}",
            *restriction_flags(api_secret),
            *extra_args,
        ]
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed by the child's lifetime
        shm_before = _shm_regions()
        guard = RegionGuard(SHM_DIR, shm_prefix).start()  # looking before the first region can appear
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=triton_environment(env), start_new_session=True,
            preexec_fn=preexec_fn,
        )
        if log_path:
            out.close()  # type: ignore[union-attr]
        log.info("triton started", extra={"action": "triton.start", "pid": process.pid, "grpc_port": ports.grpc,
                                          "locked": bool(api_secret)})
        return cls(process, ports, models, log_path, shm_before, api_secret=api_secret, guard=guard)

    def model_ready(self, model: str) -> bool:
        return _http_ok(f"{self.http_url}/v2/models/{model}/ready")

    def failed_models(self) -> dict[str, str]:
        """Models Triton gave up loading ({name: reason}), from the repository index."""
        request = urllib.request.Request(f"{self.http_url}/v2/repository/index", data=b"{}", method="POST",
                                         headers=http_headers(self.api_secret))
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                index = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError):
            return {}
        return {
            entry["name"]: entry.get("reason", "")
            for entry in index
            if entry.get("state") == "UNAVAILABLE" and entry.get("reason")
        }

    def live(self) -> bool:
        return _http_ok(f"{self.http_url}/v2/health/live")

    def wait_ready(self, timeout_s: float = 300.0, models: Sequence[str] | None = None) -> None:
        """Block until the server is live and every requested model is ready."""
        wanted = list(self.models if models is None else models)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise TritonStartError(f"tritonserver exited with {self.process.returncode}; {self._log_tail()}")
            if self.live():
                if all(self.model_ready(m) for m in wanted):
                    return
                failed = {m: reason for m, reason in self.failed_models().items() if m in wanted}
                if failed:
                    raise TritonStartError(f"models failed to load: {failed}")
            time.sleep(0.25)
        not_ready = [m for m in wanted if not self.model_ready(m)]
        raise TritonStartError(f"models not ready after {timeout_s:.0f} s: {not_ready}; {self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        if not self.log_path or not self.log_path.exists():
            return "no log file"
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "log tail:\n" + "\n".join(text)

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """SIGTERM the server's process group, SIGKILL after `timeout_s`, then remove its shm regions."""
        if self.process.poll() is None:
            signal_group(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                # What the group still maps now, SIGKILL would leave behind (its semaphores included).
                _unlink(name for name in _group_shm_files(self.process.pid) if name.startswith(SEM_PREFIX))
                signal_group(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Stubs of a killed server leave their shared-memory regions behind. Regions that appeared since this server
        # started may also be another server's (two on one host: tests, a fleet): one a live process outside this
        # server's group still maps is kept, or that server's stubs crash (SIGSEGV) on their next request. A server
        # that stopped gracefully removed its own: then no new region is left and the scan of every process's
        # mappings (~0.2 s on a busy host) is skipped.
        new = _shm_regions() - self._shm_before
        if new:
            _unlink(new - _shm_mapped_outside(self.process.pid))
        self._stop_guard()

    def _stop_guard(self) -> None:
        """Once the server and its stubs are gone, no region of its prefix can appear any more."""
        if self._guard is not None:
            self._guard.stop()

    def shm_files(self) -> set[str]:
        """Names of the /dev/shm files the server's process group maps now: python-backend shm regions and
        multiprocessing semaphores (`reap` removes exactly these)."""
        return _group_shm_files(self.process.pid)

    def kill(self) -> None:
        """SIGKILL the whole server (fault-injection tests). Its multiprocessing semaphores are removed (nothing
        could use them any more); its shm regions are left to `stop`/`reap`, as a crash would leave them."""
        semaphores = {name for name in _group_shm_files(self.process.pid) if name.startswith(SEM_PREFIX)}
        signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        _unlink(semaphores)
        self._stop_guard()

    def reap(self) -> None:
        """After the server died (or hung): SIGKILL what is left of its process group, free its shm.

        A server killed with SIGKILL leaves its python stubs running and their shared-memory regions
        behind; a restart on the same ports needs both gone. Only regions and multiprocessing semaphores
        mapped by this server's own processes are removed: other servers on the machine keep theirs.
        """
        files = _group_shm_files(self.process.pid)
        signal_group(self.process.pid, signal.SIGKILL)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("tritonserver did not die on SIGKILL", extra={"action": "triton.reap_timeout"})
        _unlink(files)
        self._stop_guard()

    def __enter__(self) -> TritonProcess:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


_TCP_ESTABLISHED = "01"  # the `st` column of /proc/net/tcp


def open_connections(port: int) -> int:
    """How many established TCP connections this host has to local `port` (the server's side of each, whoever
    the client is), read from /proc/net/tcp and tcp6. Triton's stop waits for every one to its HTTP port to close
    (see STOP_TIMEOUT_S), so a client that keeps one open (HTTP keep-alive) makes the stop take the whole bound."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:  # no IPv6, or no /proc: nothing to count
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 3 and fields[3] == _TCP_ESTABLISHED and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send `sig` to the process group led by `pid` (the server and what it started); gone already is fine."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def _group_shm_files(pgid: int) -> set[str]:
    """The /dev/shm files (python-backend shm regions, multiprocessing semaphores) that processes of process
    group `pgid` have mapped: what that group made, never another server's or another run's."""
    return _mapped_shm_files(pgid, in_group=True, prefixes=(SHM_PREFIX, SEM_PREFIX))


def _shm_mapped_outside(pgid: int) -> set[str]:
    """The python-backend shm regions that live processes outside process group `pgid` map now."""
    return _mapped_shm_files(pgid, in_group=False, prefixes=(SHM_PREFIX,))


def _mapped_shm_files(pgid: int, in_group: bool, prefixes: tuple[str, ...]) -> set[str]:
    """Names of /dev/shm files starting with one of `prefixes` mapped by live processes inside (`in_group`) or
    outside process group `pgid`."""
    needles = tuple(f"{SHM_DIR}/{prefix}" for prefix in prefixes)
    names: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if (int(fields[2]) == pgid) != in_group:  # state, ppid, pgrp
                continue
            for line in (proc / "maps").read_text().splitlines():
                if any(needle in line for needle in needles):
                    names.add(line.split(f"{SHM_DIR}/", 1)[1].split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return names


def _unlink(names: Iterable[str]) -> None:
    for name in names:
        (SHM_DIR / name).unlink(missing_ok=True)


def _shm_regions() -> frozenset[str]:
    if not SHM_DIR.exists():
        return frozenset()
    return frozenset(p.name for p in SHM_DIR.iterdir() if p.name.startswith(SHM_PREFIX))


def _http_ok(url: str) -> bool:
    # urllib sends "Connection: close" and the `with` closes the socket: a probe never leaves a connection open
    # to hold Triton's stop (STOP_TIMEOUT_S; tests/e2e/test_triton_stop_connections.py).
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
