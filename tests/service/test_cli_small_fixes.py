"""Two things a new user of the `phonos` command met, against the real service (in process, on the inference
twin), through `phonos_client.cli.main`: a key pasted as `Bearer pk_...` (copied from a curl line's header) is
used without the prefix, said in one line, by `phonos login` and from PHONOS_API_KEY; and a second
`phonos fold SEQ --out folds/` keeps the first run's folds/sequence.pdb, naming its own file with the job id.

Also a submission whose answer never came (the connection lost after the server made and charged the job, through
a proxy on loopback that forwards each request and drops its answer): the command prints itself with its run's
`--idempotency-key`, and that command, over REST and over gRPC, gets the same job, charged once; so do `jobs cancel`
and the webhook verbs the server fences with a key (create, test, rotate-secret, redeliver): the replay shows the
stored answer, a secret included, and the server did the thing once. And a URL with a
path (a gateway behind a reverse proxy under /api): honoured; where no phonos API is under it, said as the URL being
wrong (exit 2), not as "not found: no route for GET /api/v1/jobs" (exit 4, read as no such job). And `jobs watch` of
several ids, one deleted, follows the others; a reused `--idempotency-key` is refused with the key as typed."""

from __future__ import annotations

import json
import shlex
import socketserver
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from phonos_client import Client, cli, config, verify_webhook

from jobservice.memory_inference import Slow
from tests.support import InProcessService, LoopbackServer, WebhookReceiver, wait_until

pytestmark = pytest.mark.integration
SEQUENCE = "MKTVRQERLKSIVRILERSKEPV"

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessService]:
    started = InProcessService(tmp_path_factory.mktemp("cli-fixes"), {"PHONOS_MODELS": "esmfold"})
    yield started
    started.stop()


@pytest.fixture(scope="module")
def key(service: InProcessService) -> str:
    return service.new_key(credits=1000)


@pytest.fixture
def phonos(service: InProcessService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
           tmp_path: Path) -> Run:
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))  # not the real home
    for name in ("PHONOS_URL", "PHONOS_API_KEY"):
        monkeypatch.delenv(name, raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = cli.main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.mark.parametrize("prefix", ["Bearer ", "bearer  ", "BEARER "])
def test_login_takes_a_key_pasted_with_its_bearer_prefix(service: InProcessService, key: str, phonos: Run,
                                                         prefix: str) -> None:
    code, out, err = phonos("login", "--url", service.base_url, "--api-key", f"{prefix}{key}")
    assert code == 0, err
    assert "logged in to" in out
    # One line says why the key was changed, so the next paste is a bare key; the stored key is the bare one.
    assert err.splitlines() == [
        "phonos: note: the key began with `Bearer `; using it without that (the command adds it)"]
    assert config.load().api_key == key
    assert phonos("account")[0] == 0  # the stored key works


def test_phonos_api_key_with_a_bearer_prefix_is_used_without_it(service: InProcessService, key: str, phonos: Run,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", f"Bearer {key}")
    code, out, err = phonos("account")
    assert code == 0, err
    assert "from PHONOS_API_KEY began with `Bearer `" in err and "Invalid API key" not in err
    with Client.from_config() as client:  # the SDK reads PHONOS_API_KEY the same way
        assert client.api_key == key and client.account().username
    with Client(service.base_url, f"Bearer {key}") as client:  # and a key given to the constructor
        assert client.account().username


def test_a_second_fold_into_the_same_folder_keeps_the_first_file(service: InProcessService, key: str, phonos: Run,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    folds = tmp_path / "folds"
    code, out, err = phonos("fold", SEQUENCE, "--model", "esmfold", "--out", f"{folds}/", "--json")
    assert code == 0, err
    first = folds / "sequence.pdb"
    assert first.is_file()
    before = first.read_bytes()
    code, out, err = phonos("fold", SEQUENCE, "--model", "esmfold", "--out", f"{folds}/", "--json")
    assert code == 0, err
    (job,) = json.loads(out)["jobs"]
    second = folds / f"sequence.{job['job_id']}.pdb"
    assert second.is_file() and first.read_bytes() == before  # the first run's file is untouched
    assert job["files"] == [str(second)]  # the report names the file the run wrote
    assert sorted(p.name for p in folds.iterdir()) == sorted(["sequence.pdb", second.name])


def test_the_help_says_how_files_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["fold", "--help"])
    assert exited.value.code == 0
    assert "a file already there is kept: the new one gets the job id too" in " ".join(capsys.readouterr().out.split())


class _ForwardAndDrop(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        server: AnswerLost = self.server  # type: ignore[assignment]
        method, path, _ = self.rfile.readline().decode().split(" ", 2)
        headers: dict[str, str] = {}
        while (line := self.rfile.readline().decode().strip()):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = self.rfile.read(int(headers.get("content-length", "0")))
        kept = {k: v for k, v in headers.items() if k not in ("host", "connection", "content-length")}
        answer = httpx.request(method, server.target + path, headers=kept, content=body, timeout=30)
        server.forwarded.append(f"{method} {path}")
        server.keys.append(headers.get("idempotency-key", ""))
        if server.drops(method):
            return  # ... and closes the connection without a byte of the answer.
        head = [f"HTTP/1.1 {answer.status_code} {answer.reason_phrase}"]
        head += [f"{k}: {v}" for k, v in answer.headers.items()
                 if k.lower() not in ("content-length", "content-encoding", "transfer-encoding", "connection")]
        head += [f"content-length: {len(answer.content)}", "connection: close"]
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + answer.content)


class AnswerLost(socketserver.ThreadingTCPServer):
    """Forwards each HTTP request to `target` (the server does the work) and drops the answer: of every request, or
    (`methods`) only of those, and (`times`) only the first that many (the rest are passed back whole)."""

    daemon_threads = True

    def __init__(self, target: str, methods: frozenset[str] | None = None, times: int | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _ForwardAndDrop)
        self.target = target
        self.methods, self.times = methods, times
        self.forwarded: list[str] = []
        self.keys: list[str] = []  # each forwarded request's Idempotency-Key ("" without one)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"

    def drops(self, method: str) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.times is None:
            return True
        self.times -= 1
        return self.times >= 0


@contextmanager
def answer_lost(target: str, methods: frozenset[str] | None = None, times: int | None = None
                ) -> Iterator[AnswerLost]:
    proxy = AnswerLost(target, methods, times)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join(10)


def test_a_submission_whose_answer_was_lost_is_fetched_again_not_charged_again(
        service: InProcessService, phonos: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    key = service.new_key(credits=100)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.setenv("PHONOS_MAX_RETRY_WAIT", "1")  # the SDK's own tries of the POST (the same key) are lost too
    with answer_lost(service.base_url) as proxy:
        monkeypatch.setenv("PHONOS_URL", proxy.url)
        code, _, err = phonos("fold", SEQUENCE, "--name", "lost answer", "--no-wait", "--json")
    assert code == 7, err
    assert proxy.forwarded and set(proxy.forwarded) == {"POST /v1/batch"}, proxy.forwarded
    lines = err.splitlines()
    assert "run it again with its key," in err and "which gets those jobs (charged once), not new ones:" in err
    command = shlex.split(lines[-1])
    assert command[:5] == ["phonos", "fold", SEQUENCE, "--name", "lost answer"], lines[-1]
    assert command[-2] == "--idempotency-key" and command[-1]
    with Client(service.base_url, key) as client:
        made = [job.job_id for job in client.list_jobs().jobs]
        assert len(made) == 1 and client.account().balance == 90  # made and charged, its id never said
    for transport in ("rest", "grpc"):  # the stored answer replays over either
        monkeypatch.setenv("PHONOS_URL", service.url_for(transport))
        code, out, err = phonos(*command[1:])
        assert code == 0, err
        assert [job["job_id"] for job in json.loads(out)["jobs"]] == made, transport
    with Client(service.base_url, key) as client:
        assert [job.job_id for job in client.list_jobs().jobs] == made and client.account().balance == 90


class UnderAPath(LoopbackServer):
    """A reverse proxy on loopback that serves the gateway at `target` under /api (the prefix stripped); any other
    path is its own 404."""

    path = "/api"

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def routes(self, app: Any) -> None:
        from aiohttp import ClientSession, web

        async def forward(request: web.Request) -> web.Response:
            headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
            async with ClientSession() as http, http.request(
                    request.method, f"{self.target}/{request.match_info['tail']}", params=request.query,
                    headers=headers, data=await request.read()) as answer:
                return web.Response(status=answer.status, body=await answer.read(),
                                    content_type=answer.content_type)

        app.router.add_route("*", "/api/{tail:.*}", forward)


def test_a_url_with_a_path_is_honoured_and_a_wrong_one_said_as_such(
        service: InProcessService, key: str, phonos: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONOS_API_KEY", key)
    root = service.base_url
    with UnderAPath(root) as proxy:
        for url in (proxy.url, f"{proxy.url}/", f"{proxy.url}/v1"):  # the SDK keeps the path (and drops a /v1)
            monkeypatch.setenv("PHONOS_URL", url)
            code, out, err = phonos("jobs", "ls", "--json")
            assert code == 0 and "jobs" in json.loads(out), (url, err)
        # The gateway itself, asked under a path it does not serve: it got /api/v1/jobs, the prefix on.
        monkeypatch.setenv("PHONOS_URL", f"{root}/api")
        code, _, err = phonos("jobs", "ls")
        assert code == 2, err
        assert err == (f"phonos: no phonos API under /api: the phonos server at {root} was asked for /api/v1/jobs, "
                       f"with /api still on (its routes begin /v1/); the URL should be {root}, or a reverse proxy in "
                       "front of it should strip /api before passing requests on; it came from PHONOS_URL: set "
                       "PHONOS_URL=http://HOST:PORT\n"), err
        # The proxy under another path than it serves the API at: its own 404, no API there.
        monkeypatch.setenv("PHONOS_URL", proxy.url.replace("/api", "/phonos"))
        code, _, err = phonos("jobs", "ls")
        assert code == 2, err
        assert err.startswith(f"phonos: no phonos API under /phonos: {proxy.url.replace('/api', '/phonos')} answered "
                              "HTTP 404, not as a phonos server answers; it came from PHONOS_URL"), err
        # A 404 of the API's own under a path that works is still "not found".
        monkeypatch.setenv("PHONOS_URL", proxy.url)
        code, _, err = phonos("jobs", "show", "fcdf4066-a637-4328-b42a-5bfec7c767d5")
        assert code == 4 and err.startswith("phonos: not found"), err


def test_a_rerun_whose_answer_was_lost_is_fetched_again_not_charged_again(
        service: InProcessService, phonos: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """`jobs rerun` sent its POST with a fresh key each time it was typed: a lost answer lost the new job (made and
    charged) to the user. Now one key an invocation, and the command printed with it, as fold's is."""
    key = service.new_key(credits=100)
    with Client(service.base_url, key) as client:
        first = client.predict("esmfold", SEQUENCE, name="first").job_id
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.setenv("PHONOS_MAX_RETRY_WAIT", "1")  # the SDK's own tries of the POST (the same key) are lost too
    with answer_lost(service.base_url, methods=frozenset({"POST"})) as proxy:  # the request's GET is answered
        monkeypatch.setenv("PHONOS_URL", proxy.url)
        code, out, err = phonos("jobs", "rerun", first, "--json")
    assert code == 7 and out == "", err
    posts = [key for key, done in zip(proxy.keys, proxy.forwarded, strict=True) if done == "POST /v1/predict"]
    assert len(posts) >= 2 and len(set(posts)) == 1 and posts[0], proxy.forwarded  # each try: the same key
    lines = err.splitlines()
    assert "a job this command did not hear of; run it again with its key," in err, err
    assert "which gets that job (charged once), not a new one:" in err, err
    command = shlex.split(lines[-1])
    assert command == ["phonos", "jobs", "rerun", first, "--json", "--idempotency-key", posts[0]], lines[-1]
    with Client(service.base_url, key) as client:
        made = [job.job_id for job in client.list_jobs().jobs if job.job_id != first]
        assert len(made) == 1 and client.account().balance == 80  # made and charged, its id never said
    for transport in ("rest", "grpc"):  # the stored answer replays over either
        monkeypatch.setenv("PHONOS_URL", service.url_for(transport))
        code, out, err = phonos(*command[1:])
        assert code == 0, err
        assert json.loads(out)["job_id"] == made[0], transport
    with Client(service.base_url, key) as client:
        assert len(client.list_jobs().jobs) == 2 and client.account().balance == 80


def test_the_sdks_own_retry_after_a_lost_answer_gets_the_same_job(service: InProcessService) -> None:
    """One logical call, one key across the SDK's automatic tries: the first POST's answer dropped (the server made
    and charged the job), the retry is answered with that job, not a second one. A caller's own key is used as given,
    so its own retry of the call gets the same job too."""
    key = service.new_key(credits=100)
    with answer_lost(service.base_url, methods=frozenset({"POST"}), times=1) as proxy, \
            Client(proxy.url, key, max_retry_wait=5) as client:
        job = client.predict("esmfold", SEQUENCE, name="retried")
        assert proxy.forwarded == ["POST /v1/predict"] * 2 and len(set(proxy.keys)) == 1, proxy.forwarded
        proxy.times = 1
        batch = client.submit_batch([{"model": "esmfold", "sequence": SEQUENCE, "name": "b"}])
        assert proxy.forwarded[2:] == ["POST /v1/batch"] * 2 and proxy.keys[2] == proxy.keys[3] != proxy.keys[0]
        again = client.predict("esmfold", SEQUENCE, name="mine", idempotency_key="cli3-own-key")
        assert client.predict("esmfold", SEQUENCE, name="mine", idempotency_key="cli3-own-key").job_id == again.job_id
        assert proxy.keys[-2:] == ["cli3-own-key"] * 2
    with Client(service.base_url, key) as client:
        made = sorted(j.job_id for j in client.list_jobs().jobs)
        assert made == sorted([job.job_id, batch.results[0].job_id, again.job_id])
        assert client.account().balance == 70  # three jobs, each charged once


def test_fold_json_names_the_formats_a_finished_job_lacks(
        service: InProcessService, key: str, phonos: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Exit 4 for a file --formats asked for that the job does not have (relax's); --json said nothing of which."""
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    code, out, err = phonos("fold", SEQUENCE, "--out", str(tmp_path), "--formats", "pdb,relaxed_pdb", "--json")
    assert code == 4, err
    (job,) = json.loads(out)["jobs"]
    assert job["status"] == "completed" and job["missing_formats"] == ["relaxed_pdb"], job
    assert job["files"] == [str(tmp_path / "sequence.pdb")]
    # `jobs download` of it: the same outcome (it was the server's 400, exit 8), the same name in its --json
    code, out, err = phonos("jobs", "download", job["job_id"], "--format", "relaxed_pdb", "--json",
                            "--out", f"{tmp_path}/")
    assert code == 4, (out, err)
    assert json.loads(out) == {"job_id": job["job_id"], "file": None, "missing_formats": ["relaxed_pdb"]}
    assert err.startswith('phonos: not found: --format "relaxed_pdb" is not available for this job; choose one of pdb'), err
    code, out, err = phonos("jobs", "download", job["job_id"], "--format", "relaxed_pdb", "--out", "-")
    assert code == 4 and out == "" and err.count("\n") == 1, (out, err)


def lost_then_replayed(service: InProcessService, phonos: Run, monkeypatch: pytest.MonkeyPatch, *argv: str
                       ) -> tuple[list[str], list[str]]:
    """`phonos ARGV` through a proxy that drops every POST's answer (the server does the work): exit 7, each of the
    SDK's tries under the command's one key, the words over the printed command. Then that command, run at the server
    over REST and over gRPC: each one's stdout (the stored answer, replayed), and the command."""
    # the SDK's own tries of the POST (the same key) are lost too: at least a second one, however short the wait
    monkeypatch.setenv("PHONOS_MAX_RETRY_WAIT", "0.2")
    with answer_lost(service.base_url, methods=frozenset({"POST"})) as proxy:
        monkeypatch.setenv("PHONOS_URL", proxy.url)
        code, out, err = phonos(*argv)
    assert code == 7 and out == "", err
    posts = [key for key, done in zip(proxy.keys, proxy.forwarded, strict=True) if done.startswith("POST ")]
    assert len(posts) >= 2 and len(set(posts)) == 1 and posts[0], proxy.forwarded  # each try: the same key
    assert "did not hear of" in err or "without this command hearing of it" in err, err
    command = shlex.split(err.splitlines()[-1])
    assert command == ["phonos", *argv, "--idempotency-key", posts[0]], err
    outs = []
    for transport in ("rest", "grpc"):
        monkeypatch.setenv("PHONOS_URL", service.url_for(transport))
        code, out, err = phonos(*command[1:])
        assert code == 0, (transport, err)
        outs.append(out)
    monkeypatch.delenv("PHONOS_MAX_RETRY_WAIT")
    return outs, command


def test_a_webhook_verb_whose_answer_was_lost_gets_it_again_done_once(
        service: InProcessService, phonos: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """`webhooks create`, `test`, `rotate-secret` and `redeliver` sent their POST without a key: a lost answer left a
    webhook whose secret nobody saw (and the command typed again made a second one), a rotation's new secret unseen
    (typed again: a second rotation). Now each prints itself with its key, and that command shows the server's stored
    answer, the secret included, over REST and gRPC; the server did each thing once."""
    key = service.new_key()
    monkeypatch.setenv("PHONOS_API_KEY", key)
    with WebhookReceiver() as receiver, Client(service.base_url, key) as client:
        outs, _ = lost_then_replayed(service, phonos, monkeypatch, "webhooks", "create", receiver.url)
        assert outs[0] == outs[1] and outs[0].count("\t") == 1, outs  # piped: ID<TAB>SECRET, the same one
        hook_id, secret = outs[0].strip().split("\t")
        assert [h.webhook_id for h in client.list_webhooks()] == [hook_id] and secret.startswith("whsec_")

        outs, _ = lost_then_replayed(service, phonos, monkeypatch, "webhooks", "test", hook_id)
        assert outs[0] == outs[1] and "200" in outs[0], outs
        (tested,) = receiver.requests  # one test event, signed with the secret the replay showed
        assert verify_webhook(tested["body"], tested["headers"]["X-Phonos-Signature"], secret)

        outs, _ = lost_then_replayed(service, phonos, monkeypatch, "webhooks", "rotate-secret", hook_id,
                                     "--expire-current-after", "0", "--json")
        rotated = [json.loads(out) for out in outs]
        assert rotated[0] == rotated[1] and rotated[0]["secret"] not in (secret, None), rotated
        assert len(client.account_activity(action="webhook.secret_rotated").entries) == 1  # rotated once

        # A job event to send again (a test is sent once: it is never redelivered).
        client.wait(client.predict("esmfold", SEQUENCE).job_id)
        wait_until(lambda: client.webhook_deliveries(hook_id, event="job.completed", status="delivered").deliveries, 15)
        (delivery,) = client.webhook_deliveries(hook_id, event="job.completed").deliveries
        before = client.webhook_deliveries(hook_id).total
        received = len(receiver.requests)
        outs, _ = lost_then_replayed(service, phonos, monkeypatch, "webhooks", "redeliver", hook_id,
                                     delivery.delivery_id)
        assert outs[0] == outs[1] and outs[0].startswith("queued again as delivery "), outs
        assert client.webhook_deliveries(hook_id).total == before + 1  # sent again once
        again = wait_until(lambda: receiver.requests[received:], 15)[0]
        assert again["body"] == next(r["body"] for r in receiver.requests if '"job.completed"' in r["body"])
        assert verify_webhook(again["body"], again["headers"]["X-Phonos-Signature"], rotated[0]["secret"])


def test_a_cancel_whose_answer_was_lost_gets_it_again(
        service: InProcessService, phonos: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """`jobs cancel` sent its POST without a key: a lost answer lost the refund's words, and the command typed again
    was refused (the job is cancelled already). The printed command replays the cancel's answer."""
    key = service.new_key(credits=100)
    service.settle()
    service.inference.script("esmfold", Slow(30))
    with Client(service.base_url, key) as client:
        job_id = client.predict("esmfold", SEQUENCE, name="to cancel").job_id
        monkeypatch.setenv("PHONOS_API_KEY", key)
        outs, _ = lost_then_replayed(service, phonos, monkeypatch, "jobs", "cancel", job_id, "--json")
        answers = [json.loads(out) for out in outs]
        assert answers[0] == answers[1] and answers[0]["job_id"] == job_id, answers
        assert client.get_job(job_id).status == "cancelled"
        refunds = [e for e in client.credit_history().entries if e.kind == "refund"]
        assert len(refunds) == (1 if answers[0]["credits_refunded"] else 0), refunds
        assert client.account().balance == 100 - 10 + answers[0]["credits_refunded"]
    service.settle()


def test_a_fasta_larger_than_the_balance_keeps_what_was_submitted_and_names_what_was_not(
        service: InProcessService, phonos: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """12 records with 110 credits: the first batch of 10 went in, the second was a 402, and the command ended there
    (exit 5, a `jobs watch` line), saying nothing of the 2 records never sent and downloading nothing. The 10 are
    followed and downloaded; the 2 are listed as not submitted, with the reason; the exit status is the 402's."""
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", service.new_key(credits=110))
    fasta = tmp_path / "many.fasta"
    fasta.write_text("".join(f">p{n}\n{SEQUENCE}\n" for n in range(12)))
    code, out, err = phonos("fold", str(fasta), "--model", "esmfold", "--out", str(tmp_path / "folds"), "--json")
    assert code == 5, err
    jobs = json.loads(out)["jobs"]
    done = [j for j in jobs if j["status"] == "completed"]
    assert [j["name"] for j in done] == [f"p{n}" for n in range(10)]
    assert all(Path(j["files"][0]).is_file() for j in done)
    refused = [j for j in jobs if j["status"] == "rejected"]
    assert [j["name"] for j in refused] == ["p10", "p11"]
    assert all(j["job_id"] is None and j["error"].startswith("Insufficient credits: ") and "balance is 10" in j["error"]
               for j in refused), refused
    assert "2 of 12 records were rejected by the server (not submitted, not charged)" in err, err


def signed_in(service: InProcessService, key: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command pointed at the service with the key, run from tmp_path (its --out folders there)."""
    monkeypatch.setenv("PHONOS_URL", service.base_url)
    monkeypatch.setenv("PHONOS_API_KEY", key)
    monkeypatch.chdir(tmp_path)


def test_watching_a_deleted_job_with_others_still_downloads_the_others(service: InProcessService, key: str,
                                                                       phonos: Run, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """`jobs watch A B --out DIR` where B was deleted follows and downloads A and says B is gone (exit 4); the
    first 404 ended the command, downloading nothing."""
    signed_in(service, key, monkeypatch, tmp_path)
    with Client(service.base_url, key) as client:
        kept = client.wait(client.predict("esmfold", SEQUENCE, name="kept").job_id, timeout=60)
        deleted = client.wait(client.predict("esmfold", SEQUENCE, name="deleted").job_id, timeout=60)
        client.delete_job(deleted.job_id)
        kept_pdb = client.download(kept.job_id, "pdb").content
    code, out, err = phonos("jobs", "watch", kept.job_id, deleted.job_id, "--out", "out")
    assert code == 4, err  # as `jobs show` of the deleted one: not found
    assert (tmp_path / "out" / "kept.pdb").read_bytes() == kept_pdb
    assert f"phonos: no job {deleted.job_id} (deleted, or not yours): following the other 1" in err
    rows = [line.split("\t") for line in out.splitlines()]
    assert [row[:3] for row in rows] == [["kept", kept.job_id, "completed"], ["-", deleted.job_id, "not found"]]
    # Every id gone: the server's refusal, as for one id, and nothing made
    code, out, err = phonos("jobs", "watch", deleted.job_id, deleted.job_id, "--out", "none")
    assert code == 4 and "not found" in err and not list((tmp_path / "none").iterdir())
    code, out, err = phonos("jobs", "watch", deleted.job_id)
    assert code == 4 and "not found" in err


def test_a_reused_run_key_is_named_as_typed(service: InProcessService, key: str, phonos: Run, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The key as typed, not with the `.0` the command adds for its first POST (submission_key)."""
    signed_in(service, key, monkeypatch, tmp_path)
    code, out, err = phonos("fold", SEQUENCE, "--idempotency-key", "run-7", "--no-wait")
    assert code == 0, err
    code, out, err = phonos("fold", SEQUENCE + "A", "--idempotency-key", "run-7", "--no-wait")
    assert code == 8, err
    assert '--idempotency-key "run-7" was already used with a different request' in err, err
    assert "run-7.0" not in err and "Idempotency-Key" not in err
    assert "give a new key" in err


def test_a_sequence_pasted_with_gaps_and_a_stop_codon_gets_the_servers_hints(
        service: InProcessService, key: str, phonos: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's own check said only "letters only"; the server's refusal names what to remove (not charged)."""
    signed_in(service, key, monkeypatch, tmp_path)
    with Client(service.base_url, key) as client:
        before = client.account().balance
    code, out, err = phonos("fold", "MKTVRQERLK-SIVRILERSK*")
    assert code == 8, err
    assert "'*' (a stop codon: remove it)" in err and "'-' (alignment gaps: remove them)" in err, err
    with Client(service.base_url, key) as client:
        assert client.account().balance == before
    code, out, err = phonos("fold", "seq-1")  # a short word: a file name mistyped, said by the command
    assert code == 2 and '"seq-1" is neither a file nor an amino-acid sequence' in err, err


def test_cancelling_a_running_job_says_why_nothing_was_refunded(service: InProcessService, key: str, phonos: Run,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It said `<id> cancelled (0 credits refunded)`, which read as a fault."""
    signed_in(service, key, monkeypatch, tmp_path)
    service.inference.script("esmfold", Slow(60))
    with Client(service.base_url, key) as client:
        job_id = client.predict("esmfold", SEQUENCE).job_id
        wait_until(lambda: client.get_job(job_id).status == "running", timeout_s=30)
    code, out, err = phonos("jobs", "cancel", job_id)
    assert code == 0, err
    assert out == f"{job_id} cancelled (not refunded: it had started running)\n"
