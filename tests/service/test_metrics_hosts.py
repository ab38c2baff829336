"""Both Prometheus listeners (the job service's, jobservice/metrics_server.py, and a separate gateway's,
gateway/metrics.py) answer only a Host header that is an IP address or one of their own names. Was: any Host, so a
page of another site that made its name resolve to 127.0.0.1 (DNS rebinding) read the queue depths, models and
counters of the loopback /metrics from the browser of someone on that machine. Real listeners on free loopback
ports, real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest
from aiohttp import web

from gateway.metrics import start_metrics_listener
from jobservice.metrics_server import MetricsEndpoint, create_metrics_app, start_metrics_server
from launcher import status
from phonos_common.hosts import METRICS_HOSTS_SETTING, refused_host_text
from phonos_common.listener import start_listener
from phonos_config.service import ServiceSettings

pytestmark = pytest.mark.integration

SETTINGS = ServiceSettings.from_env({"PHONOS_ALLOWED_HOSTS": "phonos.lab.org",
                                     "PHONOS_METRICS_ALLOWED_HOSTS": ".Metrics.Lab.,prometheus-target"})


async def _job_service(allowed: tuple[str, ...]) -> tuple[web.AppRunner, int, Callable[[], Awaitable[None]]]:
    endpoint = MetricsEndpoint(None, ["esmfold"], ())
    runner, port = await start_metrics_server(endpoint, "127.0.0.1", 0, allowed_hosts=allowed)
    return runner, port, endpoint.close


async def _gateway(allowed: tuple[str, ...]) -> tuple[web.AppRunner, int, Callable[[], Awaitable[None]]]:
    runner, port = await start_metrics_listener("127.0.0.1", 0, allowed)

    async def nothing() -> None:
        return None

    return runner, port, nothing


@pytest.mark.parametrize("start", [_job_service, _gateway], ids=["job_service", "gateway"])
def test_a_metrics_listener_refuses_a_foreign_host_and_answers_addresses_and_its_names(
        start: Callable[[tuple[str, ...]], Awaitable[tuple[web.AppRunner, int, Callable[[], Awaitable[None]]]]],
) -> None:
    assert SETTINGS.metrics_hosts == ("phonos.lab.org", ".metrics.lab", "prometheus-target")

    async def scenario() -> None:
        runner, port, close = await start(SETTINGS.metrics_hosts)
        try:
            async with aiohttp.ClientSession() as session:
                async def status(host: str) -> tuple[int, str]:
                    async with session.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": host}) as answer:
                        return answer.status, await answer.text()

                for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", "localhost.evil",
                             "metrics.lab.evil", "phonos.lab.org.evil.example"):
                    code, text = await status(host)
                    assert code == 400, host
                    assert "PHONOS_METRICS_ALLOWED_HOSTS" in text and "process_" not in text, text
                for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}",
                             "10.244.3.7:9464", "[fd00::5]:9464",  # a pod IP, as a Kubernetes scrape names it
                             f"{socket.gethostname()}:{port}",  # a static target naming this machine
                             "phonos.lab.org", "prometheus-target:9464", "metrics.lab", "a.metrics.lab:1"):
                    code, text = await status(host)
                    assert code == 200, (host, text)
                    assert "process_" in text or "phonos_" in text
        finally:
            await runner.cleanup()
            await close()

    asyncio.run(scenario())


def test_a_metrics_listener_answers_the_name_it_binds() -> None:
    """PHONOS_METRICS_HOST=metrics.internal: the name it was told to bind is its own (served here on 127.0.0.1, as
    that name would resolve)."""
    async def scenario() -> None:
        endpoint = MetricsEndpoint(None, ["esmfold"], ())
        runner, port = await start_listener(create_metrics_app(endpoint, "metrics.internal"), "127.0.0.1", 0)
        try:
            async with aiohttp.ClientSession() as session:
                for host, expected in (("metrics.internal:9464", 200), ("evil.example", 400)):
                    async with session.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": host}) as answer:
                        assert answer.status == expected, host
        finally:
            await runner.cleanup()
            await endpoint.close()

    asyncio.run(scenario())


def test_a_metrics_listener_answers_the_machines_full_dns_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """`hostname` says `gpu-box` on many machines and a Prometheus static target names it `gpu-box.lab.org:9464`;
    before, only the short name was answered and such a scrape read 400 after the upgrade."""
    monkeypatch.setattr(socket, "gethostname", lambda: "gpu-box")
    monkeypatch.setattr(socket, "getfqdn", lambda name="": "GPU-Box.Lab.Org.")

    async def scenario() -> None:
        endpoint = MetricsEndpoint(None, ["esmfold"], ())
        runner, port = await start_metrics_server(endpoint, "127.0.0.1", 0, allowed_hosts=())
        try:
            async with aiohttp.ClientSession() as session:
                async def status(host: str) -> int:
                    async with session.get(f"http://127.0.0.1:{port}/metrics", headers={"Host": host}) as answer:
                        return answer.status

                deadline = asyncio.get_running_loop().time() + 10  # the lookup runs in a thread of its own
                while await status("gpu-box.lab.org:9464") != 200:
                    assert asyncio.get_running_loop().time() < deadline, "the full name was never answered"
                    await asyncio.sleep(0.02)
                assert await status("gpu-box:9464") == 200
                assert await status("gpu-box.lab.org.evil.example") == 400
        finally:
            await runner.cleanup()
            await endpoint.close()

    asyncio.run(scenario())


def test_phonos_status_says_why_a_metrics_listener_refused_it() -> None:
    """`phonos status --metrics-url` named only `HTTP 400`; the listener's sentence says which setting to change."""
    refusal = refused_host_text("jobservice:9464", METRICS_HOSTS_SETTING) + "\n"

    class Refusing(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            body = refusal.encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with pytest.raises(status.Unreachable) as refused:
            status.read_metrics(f"http://127.0.0.1:{server.server_address[1]}/metrics")
    finally:
        server.shutdown()
        thread.join()
    assert str(refused.value) == "HTTP 400: " + refusal.strip()
    assert "PHONOS_METRICS_ALLOWED_HOSTS" in str(refused.value)
