"""The `phonos` command as a person uses it day to day, where it tripped them (found walking every verb in a pty at
80 and 120 columns and piped, against a job service on the inference twin):

- a flag's value out of the API's range (`jobs ls --limit 0`, `usage --days 91`, `fold --num-recycles 99`) or not
  one of a filter's words (`jobs ls --model bogus`, `account activity --action bogus`) was sent, and the server's
  400 came back as exit 8; now it is a usage error (exit 2) before any request, naming the flag and its range;
- a watch that lost its server said "lost the connection to URL; retrying..." and, once the stream was back,
  left the note standing under the progress bars (and a piped log ended on it);
- a connection that broke without words (httpx's ReadError('')) was said "could not reach the server at URL: ;";
- `jobs download --out -` wrote a file named "-" instead of the file to stdout.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from phonos_client import cli, flag_ranges, result_formats
from phonos_client.client import Client
from phonos_client.display import Display
from phonos_client.rest import connection_error
from phonos_client.retry import RetryPolicy, Tries
from phonos_models.common import relax_step
from phonos_models.common.relax import RelaxedStructure, RelaxOutcome

from jobservice import paging, shares
from jobservice.activity import ACTIONS
from jobservice.modelspecs.registry import SPEC_MODULES, build_specs
from phonos_config import alphafold2, diffdock, esmfold
from tests.support import LoopbackServer, wait_until

pytestmark = pytest.mark.unit

JOB_ID = "fcdf4066-a637-4328-b42a-5bfec7c767d5"


def unused_port() -> int:
    """A loopback port nothing listens on: a command that sent a request there would exit 7, not 2."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PHONOS_URL", f"http://127.0.0.1:{unused_port()}")
    monkeypatch.setenv("PHONOS_API_KEY", "pk_test")
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))


OUT_OF_RANGE = [
    (["jobs", "ls", "--limit", "0"], "phonos jobs ls: --limit must be between 1 and 100, got 0"),
    (["jobs", "ls", "--limit", "101"], "--limit must be between 1 and 100, got 101"),
    (["jobs", "ls", "--limit", "-5"], "--limit must be between 1 and 100, got -5"),
    (["jobs", "ls", "--since", "2h", "--limit", "500"], "--limit must be between 1 and 100, got 500"),
    (["jobs", "ls", "--model", "bogus"], '--model "bogus" is not one of esmfold, alphafold2, diffdock, all'),
    (["account", "credits", "--limit", "0"], "phonos account credits: --limit must be between 1 and 100, got 0"),
    (["account", "activity", "--limit", "1000"], "--limit must be between 1 and 100, got 1000"),
    (["account", "activity", "--action", "bogus"], '--action "bogus" is not one of api_key.created, '),
    (["webhooks", "deliveries", "wh_x", "--limit", "0"], "--limit must be between 1 and 100, got 0"),
    (["usage", "--days", "0"], "phonos usage: --days must be between 1 and 90, got 0"),
    (["usage", "--days", "91"], "--days must be between 1 and 90, got 91"),
    (["jobs", "share", JOB_ID, "--expires-in-days", "0"], "--expires-in-days must be between 1 and 365, got 0"),
    (["jobs", "share", JOB_ID, "--expires-in-days", "366"], "--expires-in-days must be between 1 and 365, got 366"),
    (["fold", "MKTAYIAKQ", "--num-recycles", "0"], "--num-recycles must be between 1 and 24 for esmfold, got 0"),
    (["fold", "MKTAYIAKQ", "--num-recycles", "25", "--model", "alphafold2"],
     "--num-recycles must be between 0 and 24 for alphafold2, got 25"),
    (["dock", "--protein", JOB_ID, "--ligand", "CCO", "--steps", "5"], "--steps must be between 10 and 40, got 5"),
    (["dock", "--protein", JOB_ID, "--ligand", "CCO", "--samples", "0"], "--samples must be at least 1, got 0"),
    (["webhooks", "rotate-secret", "wh_x", "--expire-current-after", "9d"],
     "--expire-current-after must be between 0 (at once) and 7d, got 9d"),
    # A format no job of the model makes (a typo) was submitted, charged and waited for, then fetched nothing.
    (["fold", "MKTAYIAKQ", "--formats", "pdb,pbd"], '--formats "pbd" is not a format esmfold makes; it makes pdb, '
     "cif, json, pae, plddt_plot, pae_plot, zip, relaxed_pdb, relaxed_cif, or all"),
    (["fold", "MKTAYIAKQ", "--model", "alphafold2", "--formats", "rank_6_pdb,a3m,"],
     '--formats "rank_6_pdb", "" are not formats alphafold2 makes; it makes pdb, cif, json, a3m, '),
    (["fold", "MKTAYIAKQ", "--formats", "a3m"], '--formats "a3m" is not a format esmfold makes'),
    (["dock", "--protein", JOB_ID, "--ligand", "CCO", "--formats", "pdb,pae"],
     '--formats "pae" is not a format diffdock makes; it makes pdb, sdf, json, confidence_plot, zip, or all'),
    (["jobs", "watch", JOB_ID, "--out", "x", "--formats", "pbd"], '--formats "pbd" is not a format any model makes'),
    (["jobs", "download", JOB_ID, "--format", "all"], '--format "all" is not a format any model makes; the models '
     "make pdb, cif, json, pae, plddt_plot, pae_plot, zip, relaxed_pdb, relaxed_cif, a3m, timings, coverage_plot, "
     "rank_N_pdb, rank_N_relaxed_pdb, sdf, confidence_plot, txt"),
    # rank_N_pdb in the list read as if rank 1 had one too: the best model's file is the plain pdb
    (["jobs", "download", JOB_ID, "--format", "rank_1_pdb"], 'confidence_plot, txt; rank 1 is "pdb"'),
    (["fold", "MKTAYIAKQ", "--model", "alphafold2", "--formats", "rank_1_relaxed_pdb"],
     'rank_N_relaxed_pdb, or all; rank 1 is "relaxed_pdb"'),
]


@pytest.mark.usefixtures("nowhere")
@pytest.mark.parametrize("argv", [["fold", "MKTAYIAKQ", "--model", "alphafold2", "--formats", "rank_5_relaxed_pdb,pae"],
                                  ["fold", "MKTAYIAKQ", "--formats", "relaxed_cif"], ["jobs", "download", JOB_ID,
                                  "--format", "rank_2_pdb"], ["jobs", "watch", JOB_ID, "--formats", "sdf,txt"]])
def test_a_format_only_some_jobs_make_is_asked_for(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Not refused: the request is sent (to nothing listening here: exit 7, not 2)."""
    assert cli.main(argv) == 7, capsys.readouterr().err


@pytest.mark.usefixtures("nowhere")
@pytest.mark.parametrize(("argv", "said"), OUT_OF_RANGE, ids=[" ".join(argv) for argv, _ in OUT_OF_RANGE])
def test_a_flag_out_of_range_is_a_usage_error_before_any_request(
        argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2, err  # not 8 (the server's 400), nor 7 (nothing listens there: never asked)
    verb = " ".join(argv[:2] if argv[0] in ("jobs", "account", "webhooks") else argv[:1])
    assert said in err and err.endswith(f"; see phonos {verb} --help\n"), err
    assert err.count("\n") == 1  # one line, as argparse's own refusals are here


@pytest.mark.usefixtures("nowhere")
def test_a_word_that_is_no_number_is_still_said_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["usage", "--days", "a week"])
    assert exited.value.code == 2
    assert capsys.readouterr().err == 'phonos usage: --days takes a whole number, not "a week"; see phonos usage --help\n'


def test_the_commands_bounds_are_the_services() -> None:
    """The command checks what the service would refuse: the two keep the same numbers (a bound the command had
    narrower would refuse what the server takes)."""
    assert flag_ranges.ACTIVITY_ACTIONS == ACTIONS
    assert flag_ranges.RECYCLES == {"esmfold": (esmfold.MIN_RECYCLES, esmfold.MAX_RECYCLES),
                                    "alphafold2": (0, alphafold2.MAX_RECYCLES)}
    assert (flag_ranges.STEPS.lo, flag_ranges.STEPS.hi) == (diffdock.MIN_INFERENCE_STEPS, diffdock.MAX_INFERENCE_STEPS)
    assert (flag_ranges.PAGE.lo, flag_ranges.PAGE.hi) == (1, paging.MAX_LIMIT)
    assert (flag_ranges.SHARE_DAYS.lo, flag_ranges.SHARE_DAYS.hi) == (1, shares.MAX_DAYS)
    # Every result's files are the service's model specs' (every model it can serve), in their order; the rank_N
    # files go up to AlphaFold2's most models, and the relax step's files are named as the client knows them.
    specs = build_specs(SPEC_MODULES)
    assert result_formats.FIXED == {model: spec.formats for model, spec in specs.items()}
    assert result_formats.ALPHAFOLD2_MAX_MODELS == alphafold2.MAX_MODELS
    structure = RelaxedStructure("m", "ATOM\n", 0, 0, 0, 0, 0.0, 0.0, 0.0, 1, 0.0)
    relaxed = relax_step.files(["a", "b"], RelaxOutcome("completed", {"a": structure, "b": structure}),
                               lambda _s, _r: "", lambda _s, _r: "")
    assert {f.format for f in relaxed} <= set(result_formats.SOME_JOBS["alphafold2"])
    assert {"relaxed_pdb", "relaxed_cif"} == set(result_formats.SOME_JOBS["esmfold"])


# -- the reconnect note -----------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


LOST = "phonos: lost the connection to http://127.0.0.1:9; retrying..."
BACK = "phonos: reconnected to http://127.0.0.1:9"


def test_on_a_terminal_the_note_goes_when_the_stream_is_back() -> None:
    screen = Terminal()
    display = Display(screen, tty=True)
    display.add("j1", "prot1", "running")
    display.notice(LOST)
    assert LOST in screen.getvalue()
    frame = len(screen.getvalue())
    display.back(BACK)  # the job's row does not change (a quiet job): the note went all the same
    redrawn = screen.getvalue()[frame:]
    assert redrawn.startswith("\x1b[2F") and LOST not in redrawn and BACK not in redrawn
    assert redrawn.endswith("\x1b[2K\n")  # the note's line wiped, not left behind under the row


@pytest.mark.parametrize("tty", [False, True], ids=["piped", "json-on-a-terminal"])
def test_as_plain_lines_the_stream_coming_back_is_said_once(tty: bool) -> None:
    stream = Terminal() if tty else io.StringIO()
    display = Display(stream, tty=tty, quiet=tty)  # --json on a terminal: lines, as piped
    display.add("j1", "prot1", "running")
    display.add("j2", "prot2", "running")
    for _ in range(2):  # both jobs' streams lost and back
        display.notice(LOST)
    for _ in range(2):
        display.back(BACK)
    said = stream.getvalue().splitlines()
    assert said[-2:] == [LOST, BACK] and said.count(BACK) == 1 and "\x1b" not in stream.getvalue()


def test_the_sdk_says_the_loss_once_and_the_coming_back_once(caplog: pytest.LogCaptureFixture) -> None:
    policy, tries = RetryPolicy(), Tries()
    refused = cli.errors.ServerUnreachableError("could not reach the server at http://127.0.0.1:9: refused")
    with caplog.at_level("INFO", logger="phonos_client"):
        policy.watch_opened(tries, "http://127.0.0.1:9")  # never lost: nothing said
        policy.watch_pause(refused, tries, "http://127.0.0.1:9")
        policy.watch_pause(refused, tries, "http://127.0.0.1:9")
        policy.watch_opened(tries, "http://127.0.0.1:9")
        policy.watch_opened(tries, "http://127.0.0.1:9")
        policy.watch_pause(refused, tries, "http://127.0.0.1:9")  # opened, then broke again: said again
    assert [(r.getMessage(), getattr(r, "action", "")) for r in caplog.records] == [
        (LOST.removeprefix("phonos: "), "watch_lost"), (BACK.removeprefix("phonos: "), "watch_reconnected"),
        (LOST.removeprefix("phonos: "), "watch_lost")]


class FlakyEvents(LoopbackServer):
    """A job's event stream that fails its first connection (503, the job service restarting behind the gateway),
    then opens and stays quiet (keep-alives only) until the test lets it send the job's last event."""

    path = ""

    def __init__(self) -> None:
        super().__init__()
        self.tries = 0
        self.release: asyncio.Event | None = None

    def routes(self, app: Any) -> None:
        from aiohttp import web

        async def events(request: web.Request) -> web.StreamResponse:
            self.tries += 1
            if self.tries == 1:
                return web.json_response({"error": "Service unavailable", "message": "restarting"}, status=503)
            self.release = asyncio.Event()
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b": keep-alive\n\n")
            await self.release.wait()
            job = {"job_id": JOB_ID, "status": "completed", "model": "esmfold"}
            event = {"type": "state", "job_id": JOB_ID, "event_id": "7", "job": job}
            await response.write(f"id: 7\ndata: {json.dumps(event)}\n\n".encode())
            return response

        app.router.add_get(f"/v1/jobs/{JOB_ID}/events", events)

    def let_go(self) -> None:
        assert self._loop is not None and self.release is not None
        self._loop.call_soon_threadsafe(self.release.set)


@pytest.fixture
def flaky() -> Iterator[FlakyEvents]:
    with FlakyEvents() as server:
        yield server


def test_a_quiet_stream_that_comes_back_is_said_back_before_its_next_event(
        flaky: FlakyEvents, caplog: pytest.LogCaptureFixture) -> None:
    """The job sends nothing for a while after the reconnect (pending, or resumed after its last event): the
    "retrying..." note stood until its next event. Now the stream opening says it."""
    url = f"http://127.0.0.1:{flaky.port}"
    with caplog.at_level("INFO", logger="phonos_client"), Client(url, "pk_test", max_retry_wait=5) as client:
        watching = client.watch(JOB_ID)

        def said() -> list[str]:
            return [r.getMessage() for r in caplog.records if getattr(r, "action", "").startswith("watch_")]

        first: list[Any] = []

        def step() -> None:
            first.append(next(watching))

        reader = threading.Thread(target=step, daemon=True)
        reader.start()
        wait_until(lambda: len(said()) == 2, 10)  # said while no event has come yet
        assert said() == [f"lost the connection to {url}; retrying...", f"reconnected to {url}"] and not first
        flaky.let_go()
        reader.join(10)
    assert first[0].job.status == "completed"


def test_the_command_routes_the_coming_back_to_the_display() -> None:
    """cli.Notices: a `watch_reconnected` record goes to `back` (the display's), everything else to `say`."""
    said: list[tuple[str, str]] = []
    notices = cli.Notices()
    notices.say = lambda text: said.append(("say", text))
    notices.back = lambda text: said.append(("back", text))
    logger = logging.getLogger("phonos_client.test")
    for message, action in (("lost the connection to X; retrying...", "watch_lost"), ("reconnected to X",
                                                                                      "watch_reconnected")):
        notices.emit(logger.makeRecord(logger.name, logging.INFO, __file__, 0, message, (), None,
                                       extra={"action": action}))
    assert said == [("say", "phonos: lost the connection to X; retrying..."), ("back", "phonos: reconnected to X")]


# -- a connection broken without words -----------------------------------------------------------------------


def test_a_broken_connection_without_words_is_said_in_words() -> None:
    server = httpx.URL("http://127.0.0.1:9/")
    assert connection_error(httpx.ReadError(""), server).message == \
        "could not reach the server at http://127.0.0.1:9: the connection broke off"
    assert connection_error(httpx.ConnectError(""), server).message == \
        "could not reach the server at http://127.0.0.1:9: no connection could be made"
    assert connection_error(httpx.ConnectError("refused"), server).message == \
        "could not reach the server at http://127.0.0.1:9: refused"
    # h11's words end in a full stop, which the clauses after them doubled (".; trying again")
    assert connection_error(httpx.RemoteProtocolError("Server disconnected without sending a response."),
                            server).message.endswith(": Server disconnected without sending a response")


# -- jobs download --out - ---------------------------------------------------------------------------------------


class Stdout(io.TextIOWrapper):
    def __init__(self, tty: bool) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8")
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


class Downloads:
    def __init__(self, content: bytes) -> None:
        self.content = content
        self.asked: list[tuple[str, str | None]] = []

    def download(self, job_id: str, fmt: str | None = None) -> Any:
        self.asked.append((job_id, fmt))
        return type("Download", (), {"content": self.content, "file_name": f"{job_id}.pdb"})()


def download_to_stdout(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, content: bytes, *flags: str,
                       tty: bool = False) -> tuple[int, bytes, Downloads]:
    monkeypatch.chdir(tmp_path)
    stdout = Stdout(tty)
    monkeypatch.setattr(sys, "stdout", stdout)
    client = Downloads(content)
    args = cli.build_parser().parse_args(["jobs", "download", JOB_ID, "--out", "-", *flags])
    try:
        code = cli.run_sync(args, client)  # type: ignore[arg-type]
    except cli.UsageError:
        code = 2
    stdout.flush()
    return code, stdout.buffer.getvalue(), client  # type: ignore[attr-defined]


def test_download_to_stdout_writes_the_file_there_and_no_file_named_dash(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    pdb = b"ATOM      1  N   MET A   1      0.000   0.000   0.000\nEND\n"
    code, out, _ = download_to_stdout(monkeypatch, tmp_path, pdb)
    assert (code or 0, out) == (0, pdb) and not (tmp_path / "-").exists()
    code, out, client = download_to_stdout(monkeypatch, tmp_path, pdb, "--json")
    assert code == 2 and out == b"" and client.asked == []  # refused before the download
    code, out, _ = download_to_stdout(monkeypatch, tmp_path, b"PK\x03\x04\x00\x00", "--format", "zip", tty=True)
    assert code == 2 and out == b""  # a zip's bytes are not thrown onto a terminal
    code, out, _ = download_to_stdout(monkeypatch, tmp_path, pdb, tty=True)
    assert (code or 0, out) == (0, pdb)  # a text file is


# -- empty arguments (a shell variable that was not set) ---------------------------------------------------------

EMPTY = [
    (["fold", ""], "phonos: the input is empty: give a FASTA file, - for FASTA on standard input, or a sequence"),
    (["fold", "  "], "phonos: the input is empty: give a FASTA file"),  # was sent: an empty sequence, the server's 400
    (["dock", "--protein", JOB_ID, "--ligand", ""], "phonos: --ligand is empty: give a SMILES"),  # was a traceback
    (["dock", "--protein", JOB_ID, "--ligands", ""], "phonos: --ligands is empty: give a .smi, .csv or .sdf file"),
    (["login", "--url", "", "--api-key", "pk_test"], "phonos: --url is empty: give the server's address"),
    (["login", "--api-key", " "], "phonos: --api-key is empty: give the key"),
]


@pytest.mark.usefixtures("nowhere")
@pytest.mark.parametrize(("argv", "said"), EMPTY, ids=[" ".join(argv) for argv, _ in EMPTY])
def test_an_empty_argument_is_said_as_empty_before_any_request(
        argv: list[str], said: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`phonos fold ""` said "phonos: .: a directory, not a FASTA file"; `login --url ""` logged in to the stored
    address (or the default) as if no --url had been given."""
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(said) and err.count("\n") == 1, err


@pytest.mark.usefixtures("nowhere")
def test_watching_every_job_with_out_is_refused_not_ignored(
        capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`jobs watch --out d` (no ids: every job's events, until Ctrl-C) made the folder and fetched nothing."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        cli.main(["jobs", "watch", "--out", "d"])
    assert exited.value.code == 2 and not (tmp_path / "d").exists()
    assert capsys.readouterr().err == ("phonos jobs watch: --out fetches the files of the jobs named: give their ids; "
                                       "see phonos jobs watch --help\n")


def test_the_reports_files_are_never_cut_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """`phonos dock ... --out docks` at 80 columns listed `docks/ethanol…` for `docks/ethanol.pdb, docks/ethanol.sdf`:
    the files are what the report is for. A table too narrow for them is shown as records; an error is still cut."""
    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    monkeypatch.setenv("COLUMNS", "80")
    files = ["docks/ethanol.pdb", "docks/ethanol.sdf"]
    outcomes = [cli.Outcome("ethanol", JOB_ID, "completed", files=files),
                cli.Outcome("benzene", JOB_ID, "completed", files=["docks/benzene.pdb", "docks/benzene.sdf"])]
    assert cli.report(outcomes, as_json=False) == 0
    shown = screen.getvalue()
    assert all(f in shown for f in files) and "…" not in shown, shown
    assert all(len(line) < 80 for line in shown.splitlines())
    screen.seek(0), screen.truncate()
    failed = [cli.Outcome("ethanol", JOB_ID, "failed", error="model_error: " + "the model ran out of memory " * 4)]
    assert cli.report(failed, as_json=False) == 1
    assert "…" in screen.getvalue() and all(len(line) < 80 for line in screen.getvalue().splitlines())


class GrpcPort:
    """A loopback port that answers an HTTP/1.1 request with HTTP/2 frames, as the job service's gRPC port does."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.answered = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                self.answered += 1  # before the answer: the client may have read it and gone before a later +=
                # a SETTINGS frame, then GOAWAY (PROTOCOL_ERROR): what a gRPC server sends an HTTP/1.1 client
                conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00" + b"\x00\x00\x08\x07\x00\x00\x00\x00\x00"
                             + b"\x00\x00\x00\x00\x00\x00\x00\x01")


def test_an_http_url_for_a_grpc_port_is_said_at_once(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`phonos login --url http://HOST:50051` (the gRPC port): "could not reach the server at ...: illegal request
    line; trying again for up to 8 s", then the same after 8 s, exit 7. The address answered: it is said at once,
    with the URL to give instead, exit 2 as for any wrong URL (another web server's 4xx there; then it was still 7)."""
    grpc_port = GrpcPort()
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    try:
        assert cli.main(["login", "--url", f"http://127.0.0.1:{grpc_port.port}", "--api-key", "pk_test"]) == 2
    finally:
        grpc_port.sock.close()
    assert capsys.readouterr().err == (f"phonos: http://127.0.0.1:{grpc_port.port} answered, but not in HTTP: a gRPC "
                                       f"port is given as grpc://127.0.0.1:{grpc_port.port}\n")
    assert grpc_port.answered == 1  # asked once: no wait makes it speak HTTP


class HttpPort(LoopbackServer):
    """An HTTP/1.1 server (aiohttp, as the gateway is) with nothing on it."""

    def routes(self, app: Any) -> None:
        pass


def test_a_grpc_url_for_an_http_port_is_said_as_that(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`phonos login --url grpc://HOST:8080` (the REST port) said "nothing answers at grpc://... (failed to connect to
    all addresses; ... Trying to connect an http1.x server (HTTP status 400))": something did answer."""
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    with HttpPort() as http_port:
        assert cli.main(["login", "--url", f"grpc://127.0.0.1:{http_port.port}", "--api-key", "pk_test"]) == 2
    assert capsys.readouterr().err == (
        f"phonos: grpc://127.0.0.1:{http_port.port} answered, but not in gRPC: an HTTP port (the REST API's) is given "
        f"as http://127.0.0.1:{http_port.port}\n")


def test_an_https_url_for_a_plain_http_server_is_said_as_that(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`https://` for `phonos serve`'s plain HTTP gateway said "nothing answers at https://... ([SSL:
    WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006))": it answered, without TLS."""
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    with HttpPort() as http_port:
        assert cli.main(["login", "--url", f"https://127.0.0.1:{http_port.port}", "--api-key", "pk_test"]) == 2
    assert capsys.readouterr().err == (f"phonos: https://127.0.0.1:{http_port.port} answered, but not in TLS: a plain "
                                       f"HTTP server is given as http://127.0.0.1:{http_port.port}\n")


# -- Ctrl-C while a submission is sent ---------------------------------------------------------------


def interrupted_at_the_post(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, argv: list[str],
                            get_answer: bytes = b"{}") -> tuple[int, list[str]]:
    """`phonos ARGV` against a server on loopback that answers each GET with `get_answer` and, once a POST has come
    whole (the jobs made and charged, as far as the command knows), answers nothing and says so with Ctrl-C: the exit
    status, and the heads of the requests it got (lower case)."""
    listener = socket.create_server(("127.0.0.1", 0))
    heads: list[str] = []
    held: list[socket.socket] = []

    def answer_gets_then_interrupt_the_post() -> None:
        while True:
            conn, _ = listener.accept()
            held.append(conn)
            data = b""
            while b"\r\n\r\n" not in data and (chunk := conn.recv(65536)):
                data += chunk
            heads.append(data.decode("latin-1").lower())
            if heads[-1].startswith("post"):
                os.kill(os.getpid(), signal.SIGINT)  # the POST went out; its answer has not come
                return
            conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
                         b"content-length: %d\r\n\r\n%s" % (len(get_answer), get_answer))

    monkeypatch.setenv("PHONOS_URL", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setenv("PHONOS_API_KEY", "pk_test")
    monkeypatch.setenv("PHONOS_CONFIG", str(tmp_path / "config.toml"))
    thread = threading.Thread(target=answer_gets_then_interrupt_the_post, daemon=True)
    thread.start()
    try:
        code = cli.main(argv)
    finally:
        thread.join(10)
        for conn in held:
            conn.close()
        listener.close()
    assert heads and heads[-1].startswith("post"), heads
    return code, heads


def test_ctrl_c_during_the_submission_prints_the_command_that_gets_its_jobs(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The POST went out and its answer (the jobs made and charged) had not come: the command did not know their ids.
    It prints itself with its run's key, which the server would answer with the same jobs
    (tests/service/test_cli_small_fixes.py runs that command against the real service)."""
    code, heads = interrupted_at_the_post(
        monkeypatch, tmp_path, ["fold", "MKTAYIAKQ", "--name", "p 1", "--out", str(tmp_path), "--idempotency-key", "k0"])
    err = capsys.readouterr().err
    assert code == 130, err
    assert "idempotency-key: k0.0\r\n" in heads[0]  # the run's key, and the batch's place in the run
    lines = err.strip().splitlines()
    assert lines[0].startswith("interrupted while submitting. The server may have made (and charged) jobs"), err
    # The same words, the run's key in place of the one given (the same key: the same answer).
    assert lines[-1] == f"  phonos fold MKTAYIAKQ --name 'p 1' --out {tmp_path} --idempotency-key k0", err


def test_ctrl_c_during_a_reruns_submission_prints_the_command_that_gets_its_job(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """`jobs rerun`'s POST, sent with a fresh key each time the command was typed, had no way back to its job: now
    one key an invocation, printed with the command (tests/service/test_cli_small_fixes.py: that command gets it)."""
    request = json.dumps({"model": "esmfold", "sequence": "MKTAYIAKQ", "params": {}, "name": "first"}).encode()
    code, heads = interrupted_at_the_post(monkeypatch, tmp_path, ["jobs", "rerun", JOB_ID, "--name", "second try"],
                                          request)
    err = capsys.readouterr().err
    assert code == 130 and heads[-1].startswith("post /v1/predict"), err
    key = next(line.split(": ", 1)[1] for line in heads[-1].splitlines() if line.startswith("idempotency-key:"))
    lines = err.strip().splitlines()
    assert lines[0].startswith("interrupted while submitting. The server may have made (and charged) a job"), err
    assert lines[-1] == f"  phonos jobs rerun {JOB_ID} --name 'second try' --idempotency-key {key}", err


@pytest.mark.parametrize(("argv", "interrupted", "gets"), [
    (["jobs", "cancel", JOB_ID], "cancelling", "which gets that answer, the refund said:"),
    (["webhooks", "create", "https://example.org/hook", "--event", "job.failed"], "creating the webhook",
     "which shows that webhook and its secret, not a new one:"),
    (["webhooks", "rotate-secret", "wh_1", "--expire-current-after", "1h", "--json"], "rotating the secret",
     "which shows that secret, not another rotation:"),
    (["webhooks", "test", "wh_1"], "testing", "which says what the receiver answered to it, not a second test:"),
    (["webhooks", "redeliver", "wh_1", "dl_1", "--idempotency-key", "mine"], "redelivering",
     "which shows that delivery, not a third sending:"),
])
def test_ctrl_c_during_a_fenced_post_prints_the_command_that_gets_its_answer(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str], argv: list[str],
        interrupted: str, gets: str) -> None:
    """Each verb whose POST the server fences with an Idempotency-Key sent it without one: a lost answer (a webhook's
    secret shown once, a cancel's refund) was lost for good, and typing the command again did it again (a second
    webhook, another rotation). Now one key an invocation, printed with the command (tests/service/
    test_cli_small_fixes.py: that command gets the server's stored answer)."""
    monkeypatch.setenv("COLUMNS", "400")  # the words on one line, whatever the test's terminal
    code, heads = interrupted_at_the_post(monkeypatch, tmp_path, argv)
    err = capsys.readouterr().err
    assert code == 130, err
    key = next(line.split(": ", 1)[1] for line in heads[-1].splitlines() if line.startswith("idempotency-key:"))
    assert key and (key == "mine" or "mine" not in argv)  # the one given, or the invocation's own
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"interrupted while {interrupted}. The server may have "), err
    assert gets in err, err
    typed = [word for word in argv if word != "--idempotency-key" and word != "mine"]
    assert shlex.split(lines[-1]) == ["phonos", *typed, "--idempotency-key", key], err


def test_a_docks_report_shows_its_best_poses_confidence(capsys: pytest.CaptureFixture[str]) -> None:
    """A fold's row had its mean pLDDT beside its status, a dock's nothing: its headline number is its best pose's
    confidence (metrics.top_confidence)."""
    outcomes = [cli.Outcome("ethanol", JOB_ID, "completed", files=["ethanol.pdb"], metrics={"top_confidence": -0.42}),
                cli.Outcome("p1", JOB_ID, "completed", files=["p1.pdb"], metrics={"mean_plddt": 71.3})]
    assert cli.report(outcomes, as_json=False) == 0
    assert capsys.readouterr().out.splitlines() == [f"ethanol\t{JOB_ID}\tcompleted top_confidence=-0.42\tethanol.pdb",
                                                    f"p1\t{JOB_ID}\tcompleted mean_plddt=71.3\tp1.pdb"]
