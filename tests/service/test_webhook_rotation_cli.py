"""`phonos webhooks rotate-secret` and the SDK's `rotate_webhook_secret` against the real service (in process, on
the inference twin), over REST and gRPC: the new secret printed once is the one deliveries are signed with, the
old one signs beside it until the time printed, and refusals are said in the flag's words."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from phonos_client import AsyncClient, Client, cli, verify_webhook

from tests.support import InProcessService, WebhookReceiver

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    started = InProcessService(tmp_path_factory.mktemp("rotate-cli"), {})
    yield started
    started.stop()


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_rotate_secret_prints_the_new_secret_once_and_when_the_old_one_stops(
        service: InProcessService, transport: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], tmp_path_factory: pytest.TempPathFactory) -> None:
    key = service.new_key()
    url = service.url_for(transport)
    monkeypatch.setenv("PHONOS_URL", url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path_factory.mktemp("home") / "config.toml"))  # not the real home

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = cli.main(list(argv))
        except SystemExit as exit_:  # argparse's refusals exit
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    with WebhookReceiver() as receiver, Client(url, key) as client:
        hook = client.create_webhook(receiver.url)
        code, out, _ = run("webhooks", "rotate-secret", hook.webhook_id, "--expire-current-after", "1h")
        assert code == 0, out
        # piped: one line, the id, the new secret and the old one's end, tab-separated (a terminal's lines:
        # tests/unit/test_webhook_cli_words.py)
        (line,) = out.splitlines()
        webhook_id, new, until = line.split("\t")
        assert webhook_id == hook.webhook_id
        assert new.startswith("whsec_") and new != hook.secret
        assert abs(epoch(until) - (time.time() + 3600)) < 5
        # what was printed is what signs: a test event verifies with it, and with the old secret during the hour
        assert client.test_webhook(hook.webhook_id).success
        signed = receiver.requests[-1]
        for secret in (new, hook.secret):
            assert verify_webhook(signed["body"], signed["headers"]["X-Phonos-Signature"], secret)

        # `webhooks ls` says the overlap and its end, last on the row (piped: tab-separated, fields 1-3 as before);
        # another webhook, not rotated, says "-"
        other = client.create_webhook("https://example.org/not-rotated")
        code, out, _ = run("webhooks", "ls")
        rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()}
        # (LAST DELIVERY and FAILING SINCE follow it: `-` and `-`, no job event sent yet)
        assert code == 0 and rows[other.webhook_id][1:] == [other.url, "job.started,job.completed,job.failed", "-",
                                                            "-", "-"]
        assert rows[hook.webhook_id][3] == until
        code, out, _ = run("webhooks", "ls", "--json")
        assert json.loads(out)["webhooks"][0]["previous_secret_expires_at"] == until
        assert client.list_webhooks()[0].previous_secret_expires_at == until  # the SDK's
        assert client.list_webhooks()[1].previous_secret_expires_at is None
        client.delete_webhook(other.webhook_id)

        code, out, _ = run("webhooks", "rotate-secret", hook.webhook_id, "--expire-current-after", "0", "--json")
        answer = json.loads(out)  # the API's answer, whole
        assert code == 0 and set(answer) == {"success", "webhook", "secret", "previous_secret_expires_at", "message"}
        assert answer["webhook"]["webhook_id"] == hook.webhook_id and answer["secret"] not in (new, hook.secret)

        code, _, err = run("webhooks", "rotate-secret", hook.webhook_id, "--expire-current-after", "a while")
        assert code == 2 and '"a while" is not a duration' in err
        # said in the flag's units as typed, before any request (the API's words were seconds: "604800 (7 days),
        # got 691200")
        for typed in ("8d", "169h"):
            code, _, err = run("webhooks", "rotate-secret", hook.webhook_id, "--expire-current-after", typed)
            assert code == 2 and f"--expire-current-after must be between 0 (at once) and 7d, got {typed}" in err
        code, out, _ = run("webhooks", "rotate-secret", hook.webhook_id, "--expire-current-after", "7d")
        assert code == 0, out  # the bound itself is taken
        code, _, err = run("webhooks", "rotate-secret", "wh_" + "0" * 32)
        assert code == 4 and "not found" in err
        code, out, _ = run("webhooks", "ls")
        assert abs(epoch(out.split("\t")[3].strip()) - (time.time() + 7 * 86400)) < 5  # the 7d rotation's overlap

        # a test event to a receiver that is down: sent once, and said so (not "deliveries will be retried")
        closed = client.create_webhook("http://127.0.0.1:9/hook")  # the discard port: nothing listens
        code, out, _ = run("webhooks", "test", closed.webhook_id)
        assert code == 1 and "could not be reached" in out
        assert "a test event is not retried (job events are)" in out and "will be retried" not in out
        client.delete_webhook(closed.webhook_id)

        # the SDK, both clients: a day's overlap by default
        rotated = client.rotate_webhook_secret(hook.webhook_id)
        assert rotated.secret and rotated.previous_secret_expires_at
        assert abs(epoch(rotated.previous_secret_expires_at) - (time.time() + 86400)) < 5

        async def rotate_async() -> str | None:
            async with AsyncClient(url, key) as aclient:
                return (await aclient.rotate_webhook_secret(hook.webhook_id, expire_current_after_s=60)).secret

        assert asyncio.run(rotate_async()) not in (None, rotated.secret)
