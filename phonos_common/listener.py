"""Start an aiohttp application on its own listener (the Prometheus endpoints beside the public port)."""

from __future__ import annotations

from aiohttp import web


async def start_listener(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    """Serve `app` on (host, port); port 0 picks a free one. Returns the runner (stop it with `runner.cleanup()`)
    and the port it listens on."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:  # e.g. the port is taken: close what setup() opened
        await runner.cleanup()
        raise
    return runner, int(runner.addresses[0][1])
