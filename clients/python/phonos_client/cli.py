"""`phonos`: the command line for users of a phonos server (nouns, then verbs).

    phonos login [--url URL] [--api-key KEY]
    phonos fold FASTA|SEQUENCE|- --model esmfold|alphafold2 [--param K=V]... [--out DIR] [--no-wait] [--json]
    phonos dock [--protein PDB|JOB_ID] (--ligand SMILES | --ligands FILE.smi|.csv|.sdf) [--out DIR] [--json]
                 (--protein: required unless a DiffDock .csv gives each row its protein_path)
    phonos jobs ls|show|watch|download|cancel|rerun|rm ...
    phonos usage [--days N]      phonos account [credits|activity [--limit N] [--all]]      phonos models
    phonos webhooks ls|create|delete|test|rotate-secret|deliveries|redeliver ...

The server URL (PHONOS_URL, `login --url`) picks the transport: http(s)://... is the REST API,
grpc://host:port the job service's gRPC port (needs `phonos-client[grpc]`); every user verb works over
both. A key's rate limit slows the command down rather than failing it: a call the server refuses with
429 waits its Retry-After, up to PHONOS_MAX_RATE_LIMIT_WAIT seconds in all (default 120; the SDK's
`max_rate_limit_wait`), and downloads go a few at a time; a server that cannot be reached (or answers
502/503/504) is tried again for up to PHONOS_MAX_RETRY_WAIT seconds (default 8: a restarting server is waited for),
except that a first request refused by an address that never answered the command fails at once, naming the
address and where it came from (client_options); a submission refused because the account's queue of
waiting jobs is full (429 "Too many jobs") waits the same way, and is said as that, not as the rate limit. The server's own verbs (`phonos serve`,
`phonos keys create`, `phonos db build`) are in the same command when the server package is installed.
Exit codes: see EXIT in this module (and the README).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import importlib.util
import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Coroutine, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from getpass import getpass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from phonos_client import config, errors, flag_ranges, result_formats
from phonos_client.client import AsyncClient, Client, bare_key, choose_transport
from phonos_client.columns import (
    broken,
    command_in_lines,
    message_in_lines,
    pieces_in_lines,
    table,
    visible,
    width,
)
from phonos_client.display import Display
from phonos_client.durations import created_time, overlap_seconds, since_time
from phonos_client.flag_words import in_flag_words, option_dests
from phonos_client.inputs import (
    InputError,
    Record,
    decoded_text,
    is_file,
    job_file_id,
    ligands_from,
    quoted,
    read_text,
    sequences_from,
    unique,
)
from phonos_client.models import (
    ActivityEntry,
    BatchItem,
    CreditEntry,
    Download,
    Job,
    JobEvent,
    Webhook,
    WebhookDelivery,
    WebhookLastDelivery,
)
from phonos_client.pipes import ending_quietly_on_a_closed_pipe
from phonos_client.saving import holds, write_whole

WATCH_FORMATS = "pdb"  # `jobs watch --formats`' default
T = TypeVar("T")

# The command's own exit codes; a failed call exits with its error's `exit_code` (errors.py: 3 authentication,
# 4 not found, 5 credits, 6 rate limit, 7 server, 8 invalid request), and so does a batch whose records the
# server rejected one by one (report()).
EXIT = {"ok": 0, "job_failed": 1, "usage": 2, "file_absent": errors.NotFoundError.exit_code, "interrupted": 130}
# Said after a server or connection error that ended the following of submitted jobs (run()), over the command
# that picks them up again; in its two pieces where a terminal is narrower than the line.
FOLLOW_AGAIN = ("the jobs were submitted and may still run on the server;", "follow them again with:")
# Said when a submission's answer was lost (Ctrl-C or a connection gone during the POST), over the same command
# with the run's idempotency key: the server replays its answer to it.
SUBMIT_AGAIN = ("The server may have made (and charged) jobs this command did not hear of; run it again with its key,",
                "which gets those jobs (charged once), not new ones:")
# The same for `jobs rerun`, whose one POST makes one job.
RESUBMIT_AGAIN = ("The server may have made (and charged) a job this command did not hear of; run it again with its key,",
                  "which gets that job (charged once), not a new one:")
# The other verbs whose POST the server fences with an Idempotency-Key (CancelJob, CreateWebhook, RotateWebhookSecret,
# TestWebhook, RedeliverWebhookDelivery): what a lost answer may have done, and what the command run again with its
# key gets (the server's stored answer, never the POST's effect a second time); then what Ctrl-C interrupted.
ANSWER_AGAIN: dict[str, tuple[tuple[str, str], str]] = {
    "jobs rerun": (RESUBMIT_AGAIN, "submitting"),
    "jobs cancel": (("The server may have cancelled the job (and refunded its credits) without this command hearing "
                     "of it; run it again with its key,", "which gets that answer, the refund said:"), "cancelling"),
    "webhooks create": (("The server may have made a webhook this command did not hear of, its signing secret "
                         "unseen; run it again with its key,", "which shows that webhook and its secret, not a new "
                         "one:"), "creating the webhook"),
    "webhooks rotate-secret": (("The server may have given the webhook a new signing secret this command did not hear "
                                "of; run it again with its key,", "which shows that secret, not another rotation:"),
                               "rotating the secret"),
    "webhooks test": (("The server may have sent a test event this command did not hear of; run it again with its "
                       "key,", "which says what the receiver answered to it, not a second test:"), "testing"),
    "webhooks redeliver": (("The server may have queued the delivery again without this command hearing of it; run "
                            "it again with its key,", "which shows that delivery, not a third sending:"),
                           "redelivering"),
}
# The server package's verbs (launcher/cli.py reads this list too): listed here, run there.
OPERATOR_VERBS = ("serve", "keys", "accounts", "credits", "users", "db", "weights", "backup", "status")
# `phonos --help`'s last lines: what a script can branch on (docs/clients.md says the same, in more words).
EXIT_CODES_HELP = ("exit codes: 0 ok; 1 a job failed or was cancelled (or a webhook test failed); 2 usage (bad "
                   "arguments, input file, or server URL: also one with no phonos API at it, or in another protocol than its port's); 3 authentication (a key refused, expired or read-only); "
                   "4 not found (or results deleted, or a file --formats asked for); 5 insufficient credits; 6 rate limited; 7 server or connection "
                   "error (nothing answers at the address); 8 invalid request (also records of a batch the server "
                   "refused); 130 interrupted; 141 output closed early (`| head`); the operator's `status`: 1 "
                   "degraded, 7 nothing answers, 9 a gateway answers but its job service does not")
BATCH_SIZE = 10  # the API's limit per /v1/batch
# Result files fetched at once: enough to overlap round trips, few enough that under a per-minute rate limit
# each download waits for a turn among a handful, not among every file of a bulk run (and its 429 budget).
DOWNLOADS_AT_ONCE = 4
_JOB_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


class UsageError(Exception):
    """Wrong command-line input (exit 2)."""


@dataclass
class Outcome:
    """One job the command submitted or followed, as `--json` prints it."""

    name: str
    job_id: str | None
    status: str
    files: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    # A record the server refused: the exit code of its error, as if it had been sent alone (not in --json).
    refused_exit: int = field(default=0, compare=False)
    # Formats asked for that this completed job lacks (a model's file only some jobs have: `relaxed_pdb`).
    absent: list[str] = field(default_factory=list, compare=False)
    # A record refused before it was sent: the command could not read it from its file (not in --json).
    unread: bool = field(default=False, compare=False)
    # The result files' name when it is not `name` (not in --json): `name` is the job's, as the server has it (a
    # FASTA id as written, `sp|P01308|INS_HUMAN`, `dup` twice), the files' is that made safe and unique (`dup_2`).
    stem: str = field(default="", compare=False)

    def json(self) -> dict[str, Any]:
        """The job's entry in --json's `jobs`; a completed job without a file --formats asked for (exit 4) names
        them in `missing_formats` (absent where none is missing), so a script knows which without the table."""
        document = {k: v for k, v in asdict(self).items() if k not in ("refused_exit", "absent", "unread", "stem")}
        if self.absent:
            document["missing_formats"] = list(self.absent)
        return document


class Notices(logging.Handler):
    """The SDK's rate-limit waits (INFO on the "phonos_client" logger: phonos_client.retry), said to the user,
    so a pause of up to a minute is explained: on stderr, or under the progress bars while they are up. A watch
    that comes back after its loss was said (action `watch_reconnected`) is `back`: the progress display takes
    its "retrying..." note away on a terminal (it stood there while the stream ran again); elsewhere it is said
    once, so a log does not end on a loss that was over."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.say: Callable[[str], None] = lambda text: complain(text)  # on stderr, fitted to its terminal
        self.back: Callable[[str], None] = lambda text: complain(text)

    def emit(self, record: logging.LogRecord) -> None:
        text = f"phonos: {record.getMessage()}"
        (self.back if getattr(record, "action", "") == "watch_reconnected" else self.say)(text)


NOTICES = Notices()


@contextmanager
def notices_said() -> Iterator[None]:
    logger = logging.getLogger("phonos_client")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(NOTICES)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # said once, here, whatever logging the caller set up
    try:
        yield
    finally:
        logger.removeHandler(NOTICES)
        logger.setLevel(level)
        logger.propagate = propagate


@dataclass
class Session:
    """What a run has submitted so far: printed on Ctrl-C so the user can pick the jobs up again."""

    job_ids: list[str] = field(default_factory=list)
    # fold/dock: the run's Idempotency-Key (each batch's key is made from it: submission_key). While `submitting`,
    # a POST may have been answered with jobs this run never heard of (Ctrl-C, a connection lost): the same command
    # with this key gets the server's stored answer (the same jobs, not charged again) instead of new jobs.
    key: str | None = None
    submitting: bool = False


# ---------------------------------------------------------------------------------------------------
# submitting and following jobs


async def submit(client: AsyncClient, model: str, records: list[Record], params: dict[str, Any],
                 session: Session, extra: dict[str, Any] | None = None,
                 flags: Mapping[str, str] | None = None) -> list[Outcome]:
    """Batches of at most 10; each job named after its record; rejected items come back as failed, a param a
    flag set named by the flag (`flags`: param -> flag)."""
    outcomes: dict[int, Outcome] = {}
    set_by = {flag: name for name, flag in (flags or {}).items()}
    for place, record in enumerate(records):  # refused while reading its file (an SDF record RDKit cannot read)
        if record.error:
            outcomes[place] = Outcome(record.job_name, None, "rejected", stem=record.id, unread=True,
                                      error=error_words(LOCAL_REFUSAL, record.error),
                                      refused_exit=refusal_exit_code(LOCAL_REFUSAL))
    sendable = [(place, record) for place, record in enumerate(records) if not record.error]
    for start in range(0, len(sendable), BATCH_SIZE):
        chunk = sendable[start:start + BATCH_SIZE]
        items = [{"model": model, "sequence": r.text, "name": r.job_name,
                  "params": {**params, **(extra or {}), **r.params}} for _, r in chunk]
        try:
            results = await submit_in_parts(client, items, submission_key(session.key, start // BATCH_SIZE))
        except errors.InsufficientCreditsError as exc:
            if not session.job_ids:
                raise  # nothing submitted: the refusal is the command's answer
            # The balance ran out after earlier batches: those jobs run on (followed and downloaded as ever), and
            # each record not sent says so (it said nothing of them; a rerun sent every record again).
            for place, record in sendable[start:]:
                outcomes[place] = Outcome(record.job_name, None, "rejected", stem=record.id,
                                          error=error_words(exc.error, exc.message),
                                          refused_exit=exc.exit_code)
            break
        for (place, record), item in zip(chunk, results, strict=True):
            if item.success and item.job_id:
                session.job_ids.append(item.job_id)
                outcomes[place] = Outcome(record.job_name, item.job_id, "pending", stem=record.id)
            else:
                message = in_flag_words(item.message or "", set_by, set_by)
                outcomes[place] = Outcome(record.job_name, None, "rejected", error=error_words(item.error, message),
                                          refused_exit=refusal_exit_code(item.error), stem=record.id)
    return [outcomes[place] for place in sorted(outcomes)]


LOCAL_REFUSAL = "Invalid request"  # a record the command could not read is what the server would have refused (8)


_STATUS_BY_TITLE = {title: status for status, title in errors.DEFAULT_TITLES.items()}


def refusal_exit_code(title: str | None) -> int:
    """The exit code of a batch item's error (its `error` title: the API answers items without a status), the
    one the same record sent alone would have given: "Invalid request" is 8, "Not found" (dock's protein job) 4."""
    status = _STATUS_BY_TITLE.get(title or "", 400)
    return errors.from_response(status, {"error": title, "message": ""}, {}).exit_code


def submission_key(key: str | None, *place: int) -> str | None:
    """The Idempotency-Key of one POST of a run (its batch, and part): the run's key and the POST's place in it, so
    the same command run again sends each batch, the same request, under the same key (a key is one request's)."""
    return None if key is None else ".".join((key, *map(str, place)))


async def submit_in_parts(client: AsyncClient, items: list[dict[str, Any]], key: str | None = None
                          ) -> list[BatchItem]:
    """One batch's results; a batch larger than the account's cap on waiting jobs (which the server refuses as
    a 400 that no wait would change) goes in parts of at most the cap, one after another, each waiting its
    turn (a 429 "Too many jobs" while the earlier parts are still waiting: the SDK waits it out)."""
    try:
        return list((await client.submit_batch(items, idempotency_key=key)).results)
    except errors.BatchTooLargeError as exc:
        part = exc.queue_limit
        if not 0 < part < len(items):
            raise
        logging.getLogger("phonos_client").info(
            "this server lets an account have at most %d jobs waiting: submitting these %d in parts of %d",
            part, len(items), part)
        results: list[BatchItem] = []
        for start in range(0, len(items), part):
            results += (await client.submit_batch(items[start:start + part], idempotency_key=submission_key(
                key, start // part))).results
        return results


async def follow(client: AsyncClient, outcomes: list[Outcome], display: Display, out: Path | None,
                 formats: Sequence[str], finished: Mapping[str, Job] | None = None) -> None:
    """Watch every submitted job to its end (one stream each; none for the `finished` ones), then download
    its files into `out`, DOWNLOADS_AT_ONCE at a time across the jobs."""
    turns = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

    async def one(outcome: Outcome) -> None:
        assert outcome.job_id is not None
        job: Job | None = (finished or {}).get(outcome.job_id)
        if job is None or not job.done:
            job = None
            async for event in client.watch(outcome.job_id):
                display.update(outcome.job_id, event.job.status_text, event.progress)  # "pending (2 jobs ahead)"
                if event.terminal:
                    job = event.job
        job = job or await client.get_job(outcome.job_id)
        display.update(outcome.job_id, job.status)  # said already when watched; a finished job was not
        outcome.status, outcome.metrics, outcome.error = job.status, dict(job.metrics), job.error
        if job.status == "completed" and out is not None:
            for fmt in formats if formats != ("all",) else job.formats:
                if fmt in job.formats:
                    async with turns:
                        download = await client.download(outcome.job_id, fmt)
                    target = unused_target(out, outcome.stem or outcome.name, outcome.job_id, fmt,
                                           download.file_name, download.content)
                    if not holds(target, download.content):  # there from an earlier run of the command: kept
                        await asyncio.to_thread(write_whole, target, download.content)
                    outcome.files.append(str(target))
            absent = [fmt for fmt in formats if fmt != "all" and fmt not in job.formats]
            outcome.absent = absent
            note = ", ".join(Path(f).name for f in outcome.files)
            if absent:  # a file only some jobs of the model make (a typo was refused before): said, exit 4
                note += f"{'; ' if note else ''}no {', '.join(absent)} (this job has {', '.join(job.formats)})"
            display.update(outcome.job_id, job.status, note=note)
        elif job.status != "completed":
            display.update(outcome.job_id, job.status, note=job.error_code or "")

    labels = progress_labels(outcomes)
    for outcome in outcomes:
        if outcome.job_id:
            display.add(outcome.job_id, labels[outcome.job_id], outcome.status)  # `jobs watch` knows where each one is
    said, back = NOTICES.say, NOTICES.back
    NOTICES.say, NOTICES.back = display.notice, display.back
    tasks = [asyncio.create_task(one(o)) for o in outcomes if o.job_id]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        # The first failure ends the run (a rate limit that outlasted its wait, Ctrl-C): the other jobs' streams
        # stop here, quietly. They ran on and, with the client closed under them, each said "lost the connection
        # ... retrying" (17 such lines before a 429's exit 6), though the server had dropped nothing.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        NOTICES.say, NOTICES.back = said, back
        display.close()


def progress_labels(outcomes: Sequence[Outcome]) -> dict[str, str]:
    """Each followed job's row in the progress display, by job id: its name, or, for jobs that share a name (two
    `>dup` records), its files' name (`dup`, `dup_2`), so their lines are told apart before the files exist."""
    jobs = Counter(o.name for o in outcomes if o.job_id)
    return {o.job_id: o.stem if o.stem and jobs[o.name] > 1 else o.name for o in outcomes if o.job_id}


def output_name(name: str, job_id: str, fmt: str, server_name: str | None) -> str:
    """`name` with the ending of the server's file name (`<job_id>.plddt.png` -> `<name>.plddt.png`), so every
    file keeps the extension that says what it is; `<name>.<fmt>` when the server named none."""
    if server_name and server_name.startswith(job_id) and server_name != job_id:
        return name + server_name[len(job_id):]
    return f"{name}.{fmt}"


def unused_target(out: Path, name: str, job_id: str, fmt: str, server_name: str | None, content: bytes) -> Path:
    """Where a downloaded file goes: `out/<name><ending>` (output_name), or, when a different file is there already
    (an earlier run's: a second `phonos fold SEQ --out folds/` wrote folds/sequence.pdb again, silently), the name
    with the job's id added (`sequence.<job id>.pdb`, the id that names `jobs download`'s file), so no run replaces
    another's result. A name that holds this very file (the command run again: `jobs watch ... --out` after an
    interruption) is the one it goes to, and kept, not saved a second time under the job id. The report lists every
    file under the name it got."""
    candidates = [output_name(name, job_id, fmt, server_name), output_name(f"{name}.{job_id}", job_id, fmt, server_name)]
    for file_name in candidates:
        if holds(out / file_name, content):
            return out / file_name
    for file_name in candidates:
        if not (out / file_name).exists():
            return out / file_name
    # Both taken by other files (one edited by hand under the job's name): a number, as wget does, never a loss.
    number = 2
    while True:
        target = out / output_name(f"{name}.{job_id}.{number}", job_id, fmt, server_name)
        if not target.exists() or holds(target, content):
            return target
        number += 1


# The headline number of a finished job beside its status: a fold's mean pLDDT, a dock's best pose's confidence.
SCORE_METRICS = ("mean_plddt", "top_confidence")
REPORT_HEADER = ("NAME", "JOB ID", "STATUS", "FILES / ERROR")  # a refused or failed record's row holds its error


def report(outcomes: list[Outcome], as_json: bool) -> int:
    """Every record's row (a table on a terminal, tab-separated piped; or --json's document), then the exit status:
    a record the server refused decides it (8, invalid request, for a bad sequence or a model not served), whether
    or not the others ran, because the input needs fixing; stderr names the refused records and why. Otherwise a
    failed or cancelled job is 1, and then a completed job without a file --formats asked for is 4 (not found)."""
    if as_json:
        print(json.dumps({"jobs": [o.json() for o in outcomes]}, indent=2))
    else:
        rows = []
        for o in outcomes:
            detail = ", ".join(o.files) if o.files else (o.error or "")
            score = "".join(f" {name}={o.metrics[name]}" for name in SCORE_METRICS if name in o.metrics)
            rows.append((o.name, o.job_id or "-", o.status + score, detail))
        # The files are what the report is for: never cut (`docks/ethanol…` at 80 columns said nothing), so a table
        # too wide for them is shown as records, their list broken between the files. An error is free text.
        free = FREE_COLUMNS - {REPORT_HEADER[-1]} if any(o.files for o in outcomes) else FREE_COLUMNS
        print(on_screen(REPORT_HEADER, rows, free) if sys.stdout.isatty() else "\n".join("\t".join(row) for row in rows))
    refused = [o for o in outcomes if o.refused_exit]
    if refused:
        by_reason: dict[str, list[str]] = {}  # one line a reason: a FASTA sent to a model not served is one line
        for o in refused:
            by_reason.setdefault(visible(o.error or ""), []).append(visible(o.name))
        # "by the server" only when it was: an SDF record the command could not read was never sent
        who = "" if any(o.unread for o in refused) else " by the server"
        complain(f"phonos: {len(refused)} of {len(outcomes)} records were rejected{who} (not submitted, "
                 "not charged):\n" + "\n".join(f"  {', '.join(names)}: {reason}" for reason, names in by_reason.items()))
        return refused[0].refused_exit
    failed = [o for o in outcomes if o.status not in ("completed", "pending", "running")]
    if failed:
        return EXIT["job_failed"]
    # A file asked for that a completed job lacks is what `jobs download --format` of it answers: not found (4). A
    # script's `phonos fold ... --formats relaxed_pdb && use it` must not go on without the file; the table says which.
    return EXIT["file_absent"] if any(o.absent for o in outcomes) else EXIT["ok"]


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        key = key.strip()  # `-p "num_recycles = 4"`: was the unknown parameter "num_recycles " (a space unseen)
        if not eq or not key:
            raise UsageError(f"--param takes KEY=VALUE, got {quoted(pair)}")
        try:
            params[key] = json.loads(value)  # numbers and booleans as such
        except ValueError:
            params[key] = value
        if isinstance(params[key], float) and not math.isfinite(params[key]):  # NaN, Infinity: JSON has no such
            raise UsageError(f"--param {key}: {value.strip()} is no number JSON can carry; give a finite number")
    return params


def out_folder(out: str) -> Path:
    """The --out folder, made if missing, or a UsageError that says what is wrong with it in the flag's words
    (not Python's "[Errno 17] File exists: 'folds'"), before anything is submitted."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out {out}: a file is there, not a folder; give a folder for the result files")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot make the folder ({exc.strerror or exc})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: the folder cannot be written to (permission denied)")
    return folder


def out_file_can_be_written(out: str) -> None:
    """`jobs download --out FILE`: its folder must exist and take files (said before the download is fetched)."""
    folder = Path(out).parent
    if not folder.is_dir():
        raise UsageError(f"--out {out}: there is no folder {folder} (end --out with / to make it a new folder)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: the folder {folder} cannot be written to (permission denied)")


def display_for(args: argparse.Namespace) -> Display:
    """The progress display: bars redrawn in place on a terminal that moves its cursor, plain lines elsewhere; TERM=dumb
    (Emacs' shell, some CI logs on a pty) cannot move it, so its bars came out as `\\x1b[3F` litter: plain lines
    there. --json and --quiet show none."""
    tty = sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
    return Display(sys.stderr, tty=tty, quiet=args.json or getattr(args, "quiet", False))


def blank_id(args: argparse.Namespace) -> str | None:
    """The name of an id argument given as empty or blank (`phonos jobs cancel ""`, an unset shell variable),
    refused as a usage error rather than sent as an address with an empty segment."""
    for name, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        if name.endswith(("_id", "_ids")) and any(isinstance(v, str) and not v.strip() for v in values):
            return name.removesuffix("s") if name.endswith("_ids") else name
    return None


@dataclass(frozen=True)
class Work:
    """A fold or dock run, read from the command line and the input files before anything is sent."""

    model: str
    records: list[Record]
    params: dict[str, Any]
    extra: dict[str, Any]
    flags: dict[str, str] = field(default_factory=dict)  # a param a flag set -> that flag, to name it in refusals


def stdin_text() -> str:
    """Standard input as text, read as input files are (decoded_text: a byte-order mark dropped, UTF-16 decoded,
    another encoding said in one line; was a UnicodeEncodeError traceback, exit 1, for Latin-1 or UTF-16 input)."""
    if sys.stdin.isatty():  # `phonos fold -` typed with nothing piped in: it waited, saying nothing
        end = "Ctrl-Z then Enter" if os.name == "nt" else "Ctrl-D"
        print(f"phonos: reading FASTA or a sequence from the terminal: paste it, then press {end} on a new line "
              "(Ctrl-C to stop)", file=sys.stderr, flush=True)
    raw = getattr(sys.stdin, "buffer", None)
    return decoded_text(raw.read(), "standard input") if raw is not None else sys.stdin.read()


def prepare_fold(args: argparse.Namespace) -> Work:
    try:
        records = sequences_from(args.input, stdin_text() if args.input == "-" else None)
    except (InputError, OSError) as exc:
        raise UsageError(str(exc)) from None
    if args.name is not None:
        if len(records) != 1:
            raise UsageError(f"--name names one sequence's job; the {len(records)} records here are named after "
                             "their FASTA ids")
        # The job's name as typed (`jobs ls --name` finds it; one the API refuses is its 400), the files' made safe.
        records = [Record(job_file_id(args.name, "sequence"), records[0].text, name=args.name.strip())]
    for record in records:
        if record.note:  # a FASTA id the API would refuse as a name: the job is named after its file name
            complain(f"phonos: {record.note}")
    params = parse_params(args.param)
    flags = {}
    if args.num_recycles is not None:
        params["num_recycles"] = args.num_recycles
        flags["num_recycles"] = "--num-recycles"
    return Work(args.model, records, params, {}, flags)


def prepare_dock(args: argparse.Namespace) -> Work:
    """The ligands, and the receptor each is docked into: --protein's for all of them, or -- for a DiffDock CSV
    without --protein -- each row's own protein_path (a local PDB file, sent as --protein's file is). Both at
    once is refused: which receptor a row meant would be a guess."""
    try:
        for flag, what in {"--ligand": "a SMILES", "--ligands": "a .smi, .csv or .sdf file"}.items():
            value = getattr(args, flag.removeprefix("--"))
            if value is not None and not value.strip():  # an unset shell variable: not a traceback, not ": ..."
                raise UsageError(f"{flag} is empty: give {what}")
        ligands = [Record("ligand", args.ligand)] if args.ligand is not None else ligands_from(Path(args.ligands))
        for record in ligands:
            if record.note:  # e.g. an SDF record whose SMILES property is not the molecule drawn in it
                complain(f"phonos: {record.note}")
        extra: dict[str, Any] = {}
        flags = {"protein_pdb": "--protein"}  # a refused receptor is said as the flag that gave it
        own = next((r for r in ligands if r.protein_path), None)
        if args.protein is not None:
            if own is not None:
                raise UsageError(f"--protein and {_row(args, own)}'s protein_path ({own.protein_path}) both name a "
                                 "receptor: drop --protein to dock each row into its own protein_path, or empty that "
                                 "column to dock every ligand into --protein")
            extra["protein_pdb"] = _dock_protein(args.protein)
        else:
            if (bare := next((r for r in ligands if not r.protein_path), None)) is not None:
                raise UsageError(_no_receptor(args, bare))
            # One read of each file, one text shared by its rows: a screen of thousands of ligands into one
            # receptor names the same protein_path on every row (a copy each: gigabytes).
            texts: dict[Path, str] = {}
            ligands = [replace(r, params={"protein_pdb": _row_protein(args, r, texts)}) for r in ligands]
            flags["protein_pdb"] = "protein_path"
    except (InputError, OSError) as exc:
        raise UsageError(str(exc)) from None
    params = parse_params(args.param)
    for name, flag in (("samples_per_complex", "--samples"), ("inference_steps", "--steps")):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
            flags[name] = flag
    return Work("diffdock", ligands, params, extra, flags)


def _dock_protein(argument: str) -> str:
    """--protein's receptor: a PDB file's text, or a completed fold job's id."""
    path = Path(argument)
    if is_file(path):
        return _pdb_text(path, f"--protein {argument}")
    if _JOB_ID.match(argument):
        return argument  # a completed esmfold/alphafold2 job of this account: fold-then-dock
    if "." in argument or "/" in argument:  # a file name (a job id has neither)
        raise UsageError(f"--protein {argument}: no such file")
    raise UsageError(f"--protein {quoted(argument)} is neither a PDB file nor a job id")


def _pdb_text(path: Path, said: str) -> str:
    protein = read_text(path)
    if not re.search(r"^(ATOM  |HETATM|data_)", protein, re.M):  # (mmCIF: the server says what to do)
        raise UsageError(f"{said}: no ATOM records, so not a PDB file; give the receptor's .pdb, or the id of a "
                         "completed fold job")
    return protein


def _row(args: argparse.Namespace, record: Record) -> str:
    return f"{Path(args.ligands).name} row {record.protein_row} ({quoted(record.id)})"


def _row_protein(args: argparse.Namespace, record: Record, texts: dict[Path, str]) -> str:
    """A CSV row's protein_path as DiffDock reads it (from the current folder), or else from the CSV's folder;
    `texts`: the files read so far, by resolved path."""
    path = Path(record.protein_path).expanduser()
    beside = Path(args.ligands).parent / path
    found = next((p for p in (path, beside) if is_file(p)), None)
    said = f"{_row(args, record)}: protein_path {record.protein_path}"
    if found is None:
        raise UsageError(f"{said}: no such file")
    resolved = found.resolve()
    if resolved not in texts:
        texts[resolved] = _pdb_text(found, said)
    return texts[resolved]


def _no_receptor(args: argparse.Namespace, record: Record) -> str:
    """What a dock with neither --protein nor a protein_path for `record` is told."""
    if args.ligands is None or not record.protein_row:
        return "--protein missing: give the receptor's PDB file or a completed fold job's id"
    if record.protein_sequence:  # DiffDock would fold it with ESMFold first
        return (f"{_row(args, record)} has a protein_sequence but no protein_path: fold it first: phonos fold FASTA "
                "--model esmfold, then --protein JOB_ID")
    return (f"--protein missing: {_row(args, record)} has no protein_path (give --protein for the whole file, or "
            "a protein_path on every row)")


async def run_work(args: argparse.Namespace, client: AsyncClient, session: Session, work: Work) -> int:
    session.submitting = True
    outcomes = await submit(client, work.model, work.records, work.params, session, work.extra, work.flags)
    session.submitting = False
    if not args.no_wait:
        await follow(client, outcomes, display_for(args), Path(args.out), tuple(args.formats.split(",")))
    code = report(outcomes, args.json)
    if args.no_wait and session.job_ids and not args.json:
        print(f"phonos: submitted; follow them and fetch their files with:\n"
              f"{command_to_fit(follow_again(session.job_ids, args), sys.stderr)}", file=sys.stderr)
    return code


def event_json(event: JobEvent) -> dict[str, Any]:
    """`jobs watch --json`'s line for an event: the job as the API gives it, `event` (its type), and what the text
    line says besides: a progress event's `progress` (stage, step, total, message: it had none of them) and a state
    event's `event_id` (to resume after it: `Last-Event-ID`)."""
    line = event.job.raw | {"event": event.type}
    if event.event_id:
        line["event_id"] = event.event_id
    if event.progress is not None:
        line["progress"] = asdict(event.progress)
    return line


async def run_jobs_watch(args: argparse.Namespace, client: AsyncClient, session: Session) -> int:
    if not args.job_ids:  # every job of the account, until Ctrl-C
        async for event in client.watch():
            # On a terminal an event's line (`<job id> (name): model_1 (1 of 2): pass 1 of 4 (recycle 0 of 3)`, 92 cells) is
            # broken between words at its width, the id whole, as the command's other lines are; piped, one line an
            # event, as scripts read it.
            print(json.dumps(event_json(event)) if args.json
                  else lines_to_fit(visible(event.describe()), sys.stdout), flush=True)
        return EXIT["ok"]
    jobs: list[Job] = []
    gone: list[Outcome] = []  # ids the server knows no job by (deleted, mistyped, another account's)
    first_refusal: errors.NotFoundError | None = None
    for job_id in dict.fromkeys(args.job_ids):  # an id given twice is one job, followed once
        try:
            jobs.append(await client.get_job(job_id))
        except errors.NotFoundError as exc:
            first_refusal = first_refusal or exc
            gone.append(Outcome("-", job_id, "not found", error=exc.message))  # its name went with it
    if first_refusal is not None and not jobs:  # none of them (or the one asked for): its 404 is the answer
        raise first_refusal
    if gone:  # the others are followed (and downloaded) all the same; the exit status says some were not found
        missing = ", ".join(visible(o.job_id or "") for o in gone)
        complain(f"phonos: no job {missing} (deleted, or not yours): following the "
                 f"other {len(jobs)}")
    session.job_ids.extend(job.job_id for job in jobs)
    # Job names are any text a client gave them: as file names they are made safe and unique.
    names = unique(((job_file_id(job.name, job.job_id), "") for job in jobs), "job")
    outcomes = [Outcome(name.id, job.job_id, job.status) for name, job in zip(names, jobs, strict=True)]
    out = Path(args.out) if args.out else None
    await follow(client, outcomes, display_for(args), out, tuple(args.formats.split(",")),
                 {job.job_id: job for job in jobs})
    status = report(outcomes + gone, args.json)
    if gone and not any(o.status not in ("completed", "pending", "running") for o in outcomes):
        return errors.NotFoundError.exit_code  # as `jobs show` of a missing id; a failed job's 1 says more
    return status


# ---------------------------------------------------------------------------------------------------
# one-shot commands


def emit(args: argparse.Namespace, value: Any, human: str) -> None:
    print(json.dumps(value, indent=2, default=str) if args.json else human)


def field_text(value: Any) -> str:
    """A field of the API's JSON as a human line shows it: text as it is, anything else in JSON's words
    (metrics, formats, metadata: `{"num_poses": 2}`, `["pdb", "sdf"]`, never Python's `{'num_poses': 2}`)."""
    return visible(value) if isinstance(value, str) else json.dumps(value, ensure_ascii=False)  # a name: any text


def listing(args: argparse.Namespace, document: dict[str, Any], header: Sequence[str], rows: list[Sequence[str]],
            empty: str, total: int | None = None, next_after: str | None = None) -> None:
    """A list the API gave: --json the API's answer (`document`: Listed.document); on a terminal a table under a header row, in aligned columns (the
    NUMBER_COLUMNS right-aligned); piped, the rows alone with their fields tab-separated (for `cut` and `awk`, as
    they always were), and nothing at all for an empty list (its `empty` words go to stderr). `next_after`: the
    cursor of the page after this one, said under a table; with --json or piped, stdout keeps its shape (the API's
    answer, which holds it as `pagination.next_starting_after`; the rows) and the cursor is said on stderr when that
    is a terminal (a person reads it, a script does not)."""
    if args.json:
        emit(args, document, "")
    elif not rows:  # piped, stdout gets rows only: `for id in $(phonos jobs ls | cut -f1)` must not see "no", "jobs"
        print(empty, file=sys.stdout if sys.stdout.isatty() else sys.stderr)
    elif sys.stdout.isatty():
        print(on_screen(header, rows))
    else:
        print("\n".join("\t".join(row) for row in rows))
    more = more_pages(args, len(rows), total, next_after)
    if more and (sys.stdout.isatty() and not args.json):
        print(note_to_fit(more, "(", ")", sys.stdout))
    elif more and sys.stderr.isatty():
        print(note_to_fit(more, "phonos: ", "", sys.stderr), file=sys.stderr)


def columns_of(stream: Any) -> int:
    """The width of the terminal `stream` is (COLUMNS where set, as the shell's tools read it); 0 when unknown."""
    try:
        return int(os.environ.get("COLUMNS") or os.get_terminal_size(stream.fileno()).columns)
    except (ValueError, OSError, AttributeError):
        return 0


def note_to_fit(more: str, before: str, after: str, stream: Any) -> str:
    """The next-page note (`more_pages`), on a terminal narrower than it in two lines, the cursor on the second,
    whole: `(20 of 57: --all for every one; the next page:` / ` --starting-after <id>)`."""
    line = f"{before}{more}{after}"
    columns = columns_of(stream)
    head, cut, tail = more.partition(", --starting-after ")
    if not cut or columns <= 1 or width(line) < columns:
        return line
    return (f"{before}{head}; the next page:\n{' ' * min(len(before), 2)}--starting-after "
            f"{tail.removesuffix(' for the next page')}{after}")


def more_pages(args: argparse.Namespace, shown: int, total: int | None, next_after: str | None) -> str:
    """How to see the rest of a list of which this is one page (the next page's command to type); "" for all."""
    if next_after:
        return f"{shown} of {total}: --all for every one, --starting-after {next_after} for the next page"
    if total is not None and total > shown and shown and not getattr(args, "starting_after", None):
        # one page of more (a server without the cursor): said, or the rest looks like nothing
        return f"{shown} of {total}: --all for every one, --limit N for more on the page"
    return ""


@dataclass(frozen=True)
class Listed:
    """What a list verb shows: its items, the list's total (one page), and the next page's cursor (if more)."""

    items: list[Any]
    total: int | None = None
    next_after: str | None = None
    page: dict[str, Any] | None = None  # the API's answer, for one page (None: --all)

    def document(self, key: str, raws: list[Any]) -> dict[str, Any]:
        """What --json prints: the API's answer, as `GET /v1/jobs` gives it (`{"jobs": [...], "pagination": {...}}`;
        `key` names the list in it); with --all, every entry in that shape, its pagination saying it is all of
        them, so a script reads one shape whether it pages or not."""
        if self.page is not None:
            return self.page
        return {key: raws, "pagination": {"total": len(raws), "limit": len(raws), "offset": 0, "has_more": False}}


def listed(args: argparse.Namespace, every: Callable[[str | None], Iterable[Any]],
           page_at: Callable[[int | None, str | None], Any], items: Callable[[Any], Sequence[Any]]) -> Listed:
    """A list verb's items: with --all every one (after --starting-after's id, when given: `every(after)` is the
    SDK's walker), else one page of --limit after that id (`page_at(limit, starting_after)`)."""
    after = args.starting_after
    if args.all:
        return Listed(list(every(after)))
    page = page_at(args.limit, after)
    return Listed(list(items(page)), page.total, page.next_starting_after if page.has_more else None, page.raw)


def jobs_since(args: argparse.Namespace, client: Client) -> Listed:
    """`jobs ls --since`: the API filters by status, model and name but not by time, so the jobs are walked newest
    first (the API's order) and the walk stops at the first one created before `--since`. Every job of the window is
    counted (its total, as the API's page says it); --limit of them are shown, and where more are left the next
    page's cursor is the last one shown, which `--starting-after ID --since ...` continues from. With --all, all of
    the window. --json is the API's page shape over the window."""
    window: list[Job] = []
    for job in client.iter_jobs(status=args.status, model=args.model, name=args.name,
                                starting_after=args.starting_after):
        created = created_time(job.created_at)
        if created is not None and created < args.since:
            break  # newest first: every job after this one is older still
        window.append(job)
    if args.all:
        return Listed(window)
    shown = window[:args.limit]
    more = len(window) > len(shown)
    pagination: dict[str, Any] = {"total": len(window), "limit": args.limit, "offset": 0, "has_more": more}
    if more:
        pagination["next_starting_after"] = shown[-1].job_id
    return Listed(shown, len(window), shown[-1].job_id if more else None,
                  {"jobs": [j.raw for j in shown], "pagination": pagination})


CREDIT_HEADER = ("WHEN", "CHANGE", "BALANCE", "WHY")
# Columns of credits, amounts and counts, whichever table has them: right-aligned on a terminal.
NUMBER_COLUMNS = frozenset({"CHANGE", "BALANCE", "COST", "TRIES"})
# Free text, shortened (`…`) where a table is wider than the terminal; ids are never cut (WHY keeps the job id it
# ends with: columns.shortened).
# A webhook's URL and events are not free text: cut to the last few cells ("http://12…", "job.start…") they said
# nothing, so a table that cannot show them whole is shown as records.
FREE_COLUMNS = frozenset({"NAME", "DESCRIPTION", "DETAILS", "WHY", "ANSWER", "FILES / ERROR", "LAST DELIVERY"})
TIME_COLUMNS = frozenset({"CREATED", "WHEN", "EXPIRES", "NEXT TRY", "OLD SECRET UNTIL", "FAILING SINCE"})  # RFC 3339: shown shorter there too


def fields_on_screen(document: Mapping[str, Any]) -> str:
    """`name: value` lines, the values in one column; on a terminal a value longer than the line (metadata, the
    formats) goes on under itself, broken at its spaces, never inside a word (a URL or an id stays whole)."""
    wide = max(map(len, document), default=0) + 1
    columns = shutil.get_terminal_size(fallback=(0, 0)).columns if sys.stdout.isatty() else 0
    room = columns - 1 - wide - 1 if columns > 1 else 0

    def value(text: str) -> str:
        return ("\n" + " " * (wide + 1)).join(broken(text, room, cut=False)) if room > 0 else text
    return "\n".join(f"{k + ':':<{wide}} {value(field_text(v))}" for k, v in document.items())


def clauses_on_screen(line: str) -> str:
    """A line of `; `-separated clauses, on a terminal narrower than it broken after a `;` (the balance, then the
    jobs), rather than wherever the terminal's edge falls; piped, the one line it always was."""
    room = room_on(sys.stdout)
    if not room or width(line) <= room:
        return line
    lines: list[str] = []
    for clause in line.split("; "):
        if lines and width(lines[-1]) + 2 + width(clause) <= room:
            lines[-1] += "; " + clause
            continue
        if lines:
            lines[-1] += ";"
        lines += broken(clause, room, cut=False)  # a clause longer than a line (a long name and email): at its spaces
    return "\n".join(lines)


def room_on(stream: Any) -> int:
    """The cells a line may take on the terminal `stream` is: its width (COLUMNS where set) less the one cell kept
    free (a character in the last column leaves some terminals at the edge, wrapping the newline); 0 when `stream`
    is no terminal, where a line stays the one line a script reads."""
    if not stream.isatty():
        return 0
    columns = columns_of(stream)
    return columns - 1 if columns > 1 else 0


def lines_to_fit(text: str, stream: Any) -> str:
    """Error and notice lines for the terminal `stream` is, each broken between words at its width (columns.
    message_in_lines: never inside an id, a URL, a path or a command), where the terminal would cut a word in two
    at its edge; piped, `text` exactly as it was (scripts and tests read it)."""
    room = room_on(stream)
    if not room:
        return text
    words = command_words()
    return "\n".join(part for line in text.split("\n") for part in message_in_lines(line, room, words))


def complain(text: str) -> None:
    """An error or notice line on stderr, fitted to its terminal (lines_to_fit)."""
    print(lines_to_fit(text, sys.stderr), file=sys.stderr, flush=True)


def command_words(parser: argparse.ArgumentParser | None = None) -> frozenset[str]:
    """Every noun and verb of the command (`jobs`, `ls`, `rotate-secret`): a line is not broken inside
    `phonos jobs ls --help` (columns.message_in_lines). `parser`: the operator's (launcher/), whose verbs
    are more; the client's by default."""
    def names(of: argparse.ArgumentParser) -> Iterator[str]:
        for action in of._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield name
                    yield from names(sub)
    if parser is None:
        return _client_command_words()
    return frozenset(names(parser)) | frozenset(OPERATOR_VERBS)


@functools.cache
def _client_command_words() -> frozenset[str]:
    """The client's own words, once: `jobs watch` asks for every event line it breaks (~10 ms a parser)."""
    return command_words(build_parser())


def said_to_fit(line: str, pieces: Sequence[str], stream: Any = None) -> str:
    """A one-line confirmation (`jobs cancel`, `jobs rerun`): `line` where it fits the terminal, and piped (what
    scripts read, as it always was); on a narrower terminal its `pieces` (the id and what happened, a clause in
    parentheses) in lines that fit, broken between pieces and never inside one, rather than wherever the edge falls."""
    room = room_on(stream or sys.stdout)
    if not room or width(line.expandtabs()) <= room:
        return line
    return "\n".join(pieces_in_lines(pieces, room))


def command_to_fit(words: Sequence[str], stream: Any, indent: str = "  ") -> str:
    """A command to type or paste (`phonos jobs watch <ids> --out ...`), `indent`ed: one line where it fits the
    terminal `stream` is, and piped; on a narrower terminal in lines that end ` \\`, so it still pastes as one."""
    quoted = [shlex.quote(word) for word in words]
    room = room_on(stream)
    line = indent + " ".join(quoted)
    if not room or width(line) <= room:
        return line
    return "\n".join(command_in_lines(quoted, room, indent))


def on_screen(header: Sequence[str], rows: Sequence[Sequence[str]], free: Collection[str] | None = None) -> str:
    """A table for stdout's terminal, fitted to its width (COLUMNS where set, as the shell's tools read it), by
    shortening its `free` columns (FREE_COLUMNS by default)."""
    columns = shutil.get_terminal_size(fallback=(0, 0)).columns
    # One cell is kept free: a character in the last column leaves some terminals at the edge, wrapping the newline.
    return table(header, rows, NUMBER_COLUMNS, cells=columns - 1 if columns > 1 else None,
                 free=FREE_COLUMNS if free is None else free, times=TIME_COLUMNS)


def credit_rows(entries: Sequence[CreditEntry]) -> list[Sequence[str]]:
    """when, change (+/-), balance after, why (the job's id; a deleted job says so)."""
    def why(e: CreditEntry) -> str:
        job = f" {e.job_id}{' (deleted)' if e.job_deleted else ''}" if e.job_id else ""
        return f"{e.kind}: {e.note or ''}{job}"
    return [(e.created_at, f"{e.amount:+d}", str(e.balance_after), why(e)) for e in entries]


ACTIVITY_HEADER = ("WHEN", "ACTION", "BY", "FROM", "TARGET", "DETAILS")


def activity_rows(entries: Sequence[ActivityEntry]) -> list[Sequence[str]]:
    """when, what, who (the key, the dashboard, the operator), from which address, to what, and details."""
    def by(e: ActivityEntry) -> str:
        if e.actor_kind == "api_key":
            # the id (key_...) says it is a key: "key key_..." said it twice
            return (e.actor_key_id or "a key") + (f" ({e.actor_key_name})" if e.actor_key_name else "")
        return {"session": "dashboard"}.get(e.actor_kind, e.actor_kind)

    def target(e: ActivityEntry) -> str:
        if "share_id" in e.target:
            return f"{e.target.get('job_id', '')} {e.target['share_id']}"
        return next(iter(e.target.values()), "")

    def details(e: ActivityEntry) -> str:
        return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in sorted(e.details.items()))
    return [(e.created_at, e.action, by(e), e.client_address or "", target(e), details(e)) for e in entries]


def run_sync(args: argparse.Namespace, client: Client) -> int:
    command = args.command_path
    if command == "jobs ls" and args.since is not None:
        shown = jobs_since(args, client)
        listing(args, shown.document("jobs", [j.raw for j in shown.items]),
                ("JOB ID", "MODEL", "STATUS", "CREATED", "NAME"),
                [(j.job_id, j.model, listed_status(j), j.created_at or "", j.name or "") for j in shown.items],
                "no jobs", shown.total, shown.next_after)
    elif command == "jobs ls":
        shown = listed(args, lambda after: client.iter_jobs(status=args.status, model=args.model, name=args.name,
                                                            starting_after=after),
                       lambda limit, after: client.list_jobs(status=args.status, model=args.model, name=args.name,
                                                             limit=limit, starting_after=after),
                       lambda page: page.jobs)
        jobs: list[Job] = shown.items
        listing(args, shown.document("jobs", [j.raw for j in jobs]), ("JOB ID", "MODEL", "STATUS", "CREATED", "NAME"),
                [(j.job_id, j.model, listed_status(j), j.created_at or "", j.name or "") for j in jobs], "no jobs",
                shown.total, shown.next_after)
    elif command == "jobs show":
        job = client.get_job(args.job_id)
        emit(args, job.raw, fields_on_screen({**job.raw, "status": job.status_text}))  # JSON: the fields as sent
    elif command == "jobs download" and args.out == "-":
        if args.json:  # said before the download is fetched
            raise UsageError("--out - writes the file itself to stdout: without --json")
        to_stdout(fetched(args, client).content)
    elif command == "jobs download":
        if args.out and args.out.endswith(("/", os.sep)):
            out_folder(args.out)
        elif args.out and not Path(args.out).is_dir():
            out_file_can_be_written(args.out)  # before the download is fetched
        download = fetched(args, client)
        target = Path(args.out) if args.out else Path(download.file_name or f"{args.job_id}.out")
        if target.is_dir():
            target = target / (download.file_name or f"{args.job_id}.out")
        same = holds(target, download.content)
        if target.exists() and not same and not args.overwrite:
            # Another file (another job's, or one edited since): said, never replaced unasked, as `gh run
            # download` does. The same job's file is left as it is: the command run again changes nothing.
            raise UsageError(f"{target}: a different file is there already; add --overwrite to replace it, or "
                             "give --out another file or folder")
        try:
            if not same:
                write_whole(target, download.content)
        except OSError as exc:
            raise UsageError(f"{target}: cannot write the file ({exc.strerror or exc})") from None
        emit(args, {"file": str(target), "bytes": len(download.content)}, str(target))
    elif command == "jobs cancel":
        cancelled = answered_once(args, lambda key: client.cancel_job(args.job_id, idempotency_key=key))
        # A bare "(0 credits refunded)" for a running job read as a fault: the rule is said instead.
        refund = (f"({cancelled.credits_refunded} credits refunded)" if cancelled.credits_refunded else
                  "(not refunded: it had started running)")
        done = f"{cancelled.job_id} cancelled"
        emit(args, cancelled.raw, said_to_fit(f"{done} {refund}", (done, refund)))
    elif command == "jobs rerun":
        request = client.job_input(args.job_id)
        name = args.name if args.name is not None else request.get("name")
        # One key for the invocation (the SDK sends it with each of its own tries): where the POST's answer is lost
        # (Ctrl-C, a connection down past the retries), the command prints itself with it, and that command gets
        # the job the server made, charged once, not a second job (as fold's and dock's runs do).
        submitted = answered_once(args, lambda key: client.predict(
            request["model"], request["sequence"], name=name, params=request["params"], idempotency_key=key))
        # Piped, the tab-separated fields scripts cut; on a narrow terminal the new job first, then the cost and the
        # job it copies, each whole.
        cost, source = f"{submitted.credits_used} credits", f"(the request of {args.job_id})"
        emit(args, submitted.raw, said_to_fit(f"{submitted.job_id}\t{submitted.model}\t{submitted.status}\t{cost} {source}",
                                              (f"{submitted.job_id}  {submitted.model}  {submitted.status}", cost, source)))
    elif command == "jobs rm":
        # One after another, each one done said as it is done; --json: the API's answers, a list of one a job. A job
        # refused on its own (not found, still running) is said and the others are still deleted, as `rm a b c`
        # goes on past a missing file; the exit code is the first refusal's. Anything else (a bad key, a rate
        # limit, the server away) would meet the next ones too: it stops, and says which were not tried. (Was: the
        # first refusal stopped, and the jobs after it were neither deleted nor named.)
        answers = []
        refused: errors.APIStatusError | None = None
        for index, job_id in enumerate(args.job_ids):
            try:
                deleted = client.delete_job(job_id)
            except errors.APIStatusError as exc:
                if exc.from_the_api and exc.status in (400, 404, 409):
                    complain(f"phonos: {error_words(exc.error, exc.message)}")
                    refused = refused or exc
                    continue
                if left := args.job_ids[index + 1:]:
                    complain(f"phonos: not tried: {' '.join(left)}")
                raise
            answers.append(deleted.raw)
            if not args.json:
                print(f"{deleted.id} deleted", flush=True)
        if args.json:
            emit(args, answers, "")
        if refused is not None:
            return refused.exit_code
    elif command == "jobs share":
        share = client.share_job(args.job_id, expires_in_days=args.expires_in_days)
        link = share_link(client, share.url or "")
        if args.json or sys.stdout.isatty():
            emit(args, {**share.raw, "link": link}, shared_to_fit(link, share.expires_at or "", share.job_id,
                                                                  share.share_id))
        else:  # piped (`link=$(phonos jobs share ID)`): the link alone; the note to the person, where one reads stderr
            print(link)
            aside(shared_note(share.expires_at or "", share.job_id, share.share_id))
    elif command == "jobs shares":
        shares = client.job_shares(args.job_id)
        listing(args, {"shares": [x.raw for x in shares]}, ("SHARE ID", "CREATED", "EXPIRES"),
                [(x.share_id, x.created_at, x.expires_at) for x in shares], "no share links")
    elif command == "jobs unshare":
        revoked = client.revoke_share(args.job_id, args.share_id)
        emit(args, revoked, f"{args.share_id} revoked")
    elif command == "usage":
        usage = client.usage(args.days)
        totals = usage["totals"]
        days = usage["period"]["days"]
        emit(args, usage, f"last {'day' if days == 1 else f'{days} days'}: {totals['requests']} requests, "
                          f"{totals['credits_used']} credits")
    elif command == "account":
        account = client.account()
        counts = ", ".join(f"{count} {state}" for state, count in account.jobs.items())  # the API's order: total first
        # On a narrow terminal broken after the account's name, then after the balance: never inside "950 credits".
        pieces = [f"{visible(account.username)} ({visible(account.email or 'no email')}):",
                  f"{account.balance} credits" + (";" if counts else ""), *([f"jobs: {counts}"] if counts else [])]
        emit(args, account.raw, said_to_fit(" ".join(pieces), pieces))
    elif command == "account credits":
        shown = listed(args, lambda after: client.iter_credit_history(starting_after=after),
                       lambda limit, after: client.credit_history(limit=limit, starting_after=after),
                       lambda page: page.entries)
        entries: list[CreditEntry] = shown.items
        listing(args, shown.document("entries", [e.raw for e in entries]), CREDIT_HEADER, credit_rows(entries), "no credit history",
                shown.total, shown.next_after)
    elif command == "account activity":
        shown = listed(args, lambda after: client.iter_account_activity(action=args.action, starting_after=after),
                       lambda limit, after: client.account_activity(limit=limit, starting_after=after,
                                                                    action=args.action),
                       lambda page: page.entries)
        activity: list[ActivityEntry] = shown.items
        listing(args, shown.document("entries", [e.raw for e in activity]), ACTIVITY_HEADER, activity_rows(activity), "no activity",
                shown.total, shown.next_after)
    elif command == "models":
        models = client.models()
        listing(args, {"models": models}, ("MODEL", "COST", "DESCRIPTION"),
                [(m["id"], f"{m['cost_credits']} credits", m["description"]) for m in models], "no models")
    elif command == "webhooks ls":
        hooks = client.list_webhooks()
        listing(args, {"webhooks": [h.raw for h in hooks]}, WEBHOOK_HEADER, [webhook_row(h) for h in hooks],
                "no webhooks")
    elif command == "webhooks create":
        hook = answered_once(args, lambda key: client.create_webhook(args.url, args.event or None, idempotency_key=key))
        if args.json or sys.stdout.isatty():
            # the secret on a line of its own: 44 characters after a label ran past a 60-column terminal mid-word
            emit(args, hook.raw, f"{hook.webhook_id}\nits signing secret, shown this once:\n{hook.secret}")
        else:  # piped (`read -r id secret < <(phonos webhooks create URL)`): one line, tab-separated, the secret
            # too: it is shown this once, so a script that got the id alone could never verify a delivery
            print(f"{hook.webhook_id}\t{hook.secret}")
            aside("phonos: the webhook's id and its signing secret (shown this once: keep it)")
    elif command == "webhooks delete":
        removed = client.delete_webhook(args.webhook_id)
        emit(args, removed.raw, f"{removed.id} deleted")
    elif command == "webhooks test":
        result = answered_once(args, lambda key: client.test_webhook(args.webhook_id, idempotency_key=key))
        said = result.message  # the server's words name the receiver's answer ("Receiver answered HTTP 500 ...")
        if result.status_code and str(result.status_code) not in said:
            said = f"receiver answered {result.status_code}: {said}"  # 0: no answer came, as the message says
        emit(args, result.raw, said_to_fit(said, said.split(" ")))
        return EXIT["ok"] if result.success else EXIT["job_failed"]
    elif command == "webhooks rotate-secret":
        hook = answered_once(args, lambda key: client.rotate_webhook_secret(
            args.webhook_id, expire_current_after_s=args.expire_current_after_s, idempotency_key=key))
        if not (args.json or sys.stdout.isatty()):  # piped: one line, as `create`'s, and the end of the old secret
            # as `webhooks ls` says it (OLD SECRET UNTIL; "-" where it stopped at once)
            until = "-" if args.expire_current_after_s == 0 else hook.previous_secret_expires_at or "-"
            print(f"{hook.webhook_id}\t{hook.secret}\t{until}")
            aside("phonos: the webhook's id, its new signing secret (shown this once: keep it) and when the previous "
                  "secret stops signing")
            return EXIT["ok"]
        # as `create` prints it (the secret alone on its line), then when the old one stops signing: on a terminal
        # narrower than that line, the time on a line of its own (the edge fell inside it at 60 columns). With 0 it
        # stopped at once: "also signs deliveries until <the rotation's own time>" said it still did.
        if args.expire_current_after_s == 0:
            overlap = "the previous secret stopped signing at once"
        else:
            words = "the previous secret also signs deliveries until"
            overlap = said_to_fit(f"{words} {hook.previous_secret_expires_at}",
                                  [*words.split(" "), str(hook.previous_secret_expires_at)])
        emit(args, hook.raw, f"{hook.webhook_id}\nits new signing secret, shown this once:\n{hook.secret}\n{overlap}")
    elif command == "webhooks deliveries":
        shown = listed(args, lambda after: client.iter_webhook_deliveries(args.webhook_id, status=args.status,
                                                                          starting_after=after, event=args.event),
                       lambda limit, after: client.webhook_deliveries(args.webhook_id, status=args.status,
                                                                      limit=limit, starting_after=after,
                                                                      event=args.event),
                       lambda page: page.deliveries)
        deliveries: list[WebhookDelivery] = shown.items
        listing(args, shown.document("deliveries", [d.raw for d in deliveries]), DELIVERY_HEADER, [delivery_row(d) for d in deliveries],
                "no deliveries", shown.total, shown.next_after)
    elif command == "webhooks redeliver":
        delivery = answered_once(args, lambda key: client.redeliver(args.webhook_id, args.delivery_id,
                                                                    idempotency_key=key))
        emit(args, delivery.raw, f"queued again as delivery {delivery.delivery_id}")
    return EXIT["ok"]


# OLD SECRET UNTIL: while a rotation's overlap runs, when the replaced secret stops signing (a receiver
# still on it must switch before then); "-" when only the current secret signs. Last, so `cut -f1-3` of piped
# output reads the fields it always did; no longer a name, so the records a 60-column terminal shows keep the
# three events' line (36 cells after the names' column) inside it.
# LAST DELIVERY and FAILING SINCE: how its job events are received, so a receiver that broke shows here rather than
# only in each webhook's delivery log; last, so the fields piped output always had keep their places.
WEBHOOK_HEADER = ("WEBHOOK ID", "URL", "EVENTS", "OLD SECRET UNTIL", "LAST DELIVERY", "FAILING SINCE")


def answered_once(args: argparse.Namespace, post: Callable[[str], T]) -> T:
    """`post` (a verb's one POST the server fences with an Idempotency-Key: ANSWER_AGAIN) under one key for the
    invocation, `--idempotency-key`'s where given (the SDK sends it with each of its own tries). Where its answer is
    lost (Ctrl-C, a connection down past the retries, a 5xx or a page not the API's), the command is printed with that
    key (say_follow_again, _main's Ctrl-C): run again, it gets the server's stored answer (the webhook and its secret,
    the cancel's refund), not a second effect. A refusal of the API's own (a 4xx) did nothing: no command."""
    key = args.idempotency_key or str(uuid.uuid4())
    try:
        return post(key)
    except (errors.APIConnectionError, errors.APIStatusError, KeyboardInterrupt) as exc:
        if not isinstance(exc, errors.APIStatusError) or answer_unheard(exc):
            args.submit_again = submit_again_with(key, args)
            args.submit_again_said, args.submit_again_while = ANSWER_AGAIN[args.command_path]
        raise


def fetched(args: argparse.Namespace, client: Client) -> Download:
    """`jobs download`'s file. A --format this job lacks (relax's `relaxed_pdb` of a job without relax) is what
    `fold --formats` says of it: not found, exit 4 (the server refuses it as a 400, which read as exit 8, a request
    to fix), and --json's document names it (`missing_formats`), as fold's does."""
    try:
        return client.download(args.job_id, args.format)
    except errors.BadRequestError as exc:
        if args.format is None or "is not available for this job" not in exc.message:
            raise
        if args.json:
            emit(args, {"job_id": args.job_id, "file": None, "missing_formats": [args.format]}, "")
        absent = errors.NotFoundError(exc.message, status=404, error="Not found", request_id=exc.request_id,
                                      body=exc.body)
        absent.server = exc.server
        raise absent from None


def to_stdout(content: bytes) -> None:
    """`jobs download --out -`: the file itself on stdout, as `-` means for the input of `fold` (and for curl -o,
    tar -f): it wrote a file named "-" in the current folder and printed that name. (--json has no room beside it:
    refused before.) A binary file (a zip, a plot) is not written onto a terminal, whose settings its bytes scramble."""
    if sys.stdout.isatty() and b"\0" in content[:8192]:
        raise UsageError("--out -: the file is binary and stdout is a terminal; pipe it, or give --out a file")
    sys.stdout.flush()
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()


def webhook_row(hook: Webhook) -> Sequence[str]:
    return (hook.webhook_id, hook.url, ",".join(hook.events), hook.previous_secret_expires_at or "-",
            last_delivery_text(hook.last_delivery), hook.failing_since or "-")


def last_delivery_text(last: WebhookLastDelivery | None) -> str:
    """`failed: HTTP 500, <when>`: its outcome and the receiver's answer first (a column too wide is cut at its
    end), then when; the log's words when nothing answered; `-` when no job event was sent yet."""
    if last is None:
        return "-"
    answer = f"HTTP {last.status_code}" if last.status_code is not None else (last.error or "not tried yet")
    return f"{last.status}: {answer}, {last.at or '?'}"


# NEXT TRY: a pending delivery's next_attempt_at (the one a refused redelivery points at); last, so the fields
# that piped output always had keep their places.
DELIVERY_HEADER = ("DELIVERY ID", "CREATED", "EVENT", "JOB ID", "STATUS", "TRIES", "ANSWER", "NEXT TRY")


def delivery_row(d: WebhookDelivery) -> Sequence[str]:
    answer = f"HTTP {d.last_status_code}" if d.last_status_code is not None else (d.last_error or "not tried yet")
    tries = f"{d.attempts} attempt{'s' if d.attempts != 1 else ''}"
    next_try = d.next_attempt_at if d.status == "pending" and d.next_attempt_at else "-"
    return (d.delivery_id, d.created_at or "", d.event, d.job_id or "-", d.status, tries, answer, next_try)


def aside(note: str) -> None:
    """A note for a person beside a piped command's one line on stdout (what a script reads): on stderr when that is a
    terminal, nothing where it is not (a script's log), as `listing` says a next page's cursor."""
    if sys.stderr.isatty():
        complain(note)


def shared_note(expires_at: str, job_id: str, share_id: str) -> str:
    """`jobs share`'s note beside a piped link (stderr), in one line."""
    return (f"phonos: the link is shown once; anyone with it can see the results until {expires_at}; revoke it with: "
            f"phonos jobs unshare {job_id} {share_id}")


def listed_status(job: Job) -> str:
    """`jobs ls`'s STATUS: on a terminal a waiting job's place too ("pending (2 jobs ahead)"); piped the status
    alone, the word a script compares (`awk '$3 == "pending"'`)."""
    return job.status_text if sys.stdout.isatty() else job.status


def shared_to_fit(link: str, expires_at: str, job_id: str, share_id: str) -> str:
    """A new share link and what to know about it. The link is on a line of its own, whole (a URL broken in two
    cannot be copied); on a terminal narrower than the note, the note is said in lines broken at its spaces and the
    revoke command in lines that paste as one (`command_in_lines`), no longer inside parentheses a paste would
    take in."""
    note = f"shown once; anyone with it can see the results until {expires_at}; revoke"
    revoke = ["phonos", "jobs", "unshare", job_id, share_id]
    line = f"({note}: {' '.join(revoke)})"
    room = room_on(sys.stdout)
    if not room or width(line) <= room:
        return f"{link}\n{line}"
    return "\n".join([link, *broken(f"{note} it with:", room, cut=False), *command_in_lines(revoke, room, "")])


def share_link(client: Client, path: str) -> str:
    """A share link to hand out: the server's address and the link's path (over gRPC the path alone: the
    dashboard's address is not the gRPC one)."""
    return path if client.transport == "grpc" else client.base_url + path


def server_url(url: str, source: str = "") -> str:
    """The server URL as the clients take it; one they cannot use is a usage error, before any request, saying
    where it came from (`source`: PHONOS_URL or the config file; a flag's value is said by the flag)."""
    try:
        return choose_transport(url, None)[1]
    except ValueError as exc:
        came_from = f"; it came from {source}" if source and source != "default" else ""
        raise UsageError(f"{exc}{came_from}") from None


# One line on stderr when a key came as `Bearer pk_...` (a header's value): the key is used without the prefix.
BEARER_NOTE = "phonos: note: the key{source} began with `Bearer `; using it without that (the command adds it)"


def run_login(args: argparse.Namespace) -> int:
    # Given, but empty (`--url "$SERVER"` with SERVER unset): said, not taken for "not given" (it logged in to the
    # stored or default address, or asked for the key on stdin).
    for flag, value, instead in (("--url", args.url, "the server's address, http(s)://HOST:PORT or grpc://HOST:PORT"),
                                 ("--api-key", args.api_key, "the key, or leave --api-key out to be asked for it")):
        if value is not None and not value.strip():
            raise UsageError(f"{flag} is empty: give {instead}")
    try:
        current_url = config.load().url
    except config.ConfigError:  # login writes a new one
        current_url = os.environ.get("PHONOS_URL") or config.DEFAULT_URL
    url = server_url(args.url or current_url)
    key = args.api_key or os.environ.get("PHONOS_API_KEY")
    if not key:
        key = getpass("API key: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    try:
        key, dropped = bare_key(key) if key else ("", False)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if dropped:  # pasted from an `Authorization: Bearer pk_...` header: used, and said, so the next paste is bare
        complain(BEARER_NOTE.format(source=""))
    if not key:
        raise UsageError("no API key given")
    with Client(url, key, **client_options(url, config.rate_limit_wait(), config.retry_wait())) as client:
        try:
            account = client.account()  # a wrong key or URL fails here, before anything is written
        finally:
            note_answered(client)
    path = config.save(url, key)
    emit(args, {"url": url, "username": account.username, "config": str(path)},
         clauses_on_screen(f"logged in to {url} as {visible(account.username)}; saved to {path}"))
    return EXIT["ok"]


# ---------------------------------------------------------------------------------------------------
# the parser


JOB_ID_HELP = "the job's id (see `phonos jobs ls`)"


def starting_after(parser: Any, metavar: str, item: str) -> None:
    """A list verb's cursor: the API's `starting_after`, the last id of the page before (a table on a terminal
    names the next one under it)."""
    parser.add_argument("--starting-after", metavar=metavar,
                        help=f"list from the {item} after this one (older): the last id of the page before; "
                             "with --all, every one after it")
HOOK_ID_HELP = "the webhook's id (see `phonos webhooks ls`)"


def quiet_flag(parser: Any) -> None:
    """`-q/--quiet` of the verbs that follow jobs: a script or a shell habit (`phonos fold x.fasta -q && ...`) wants
    the outcome without the live bars or the per-job lines on stderr; --json already had that, the table did not."""
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress on stderr (the outcome, errors and rate-limit waits are still said)")


def add_user_commands(sub: Any) -> None:
    """The user verbs, added to a `phonos` parser (this one, or the server's launcher)."""
    def command(parser: Any, path: str, *, json_flag: bool = True) -> Any:
        parser.set_defaults(command_path=path)
        if json_flag:
            parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
        return parser

    login = command(sub.add_parser(
        "login", help="store the server URL and your API key",
        description="Check the key against the server, then store the URL and key (mode 0600) in $PHONOS_CONFIG, "
                    "else $XDG_CONFIG_HOME/phonos/config.toml, else ~/.config/phonos/config.toml; every other command "
                    "reads them from there unless PHONOS_URL / PHONOS_API_KEY are set. Beside it, "
                    "config.answered lists the addresses that answered (so a wrong address fails at once)."), "login")
    login.add_argument("--url", metavar="URL", help=f"server URL (default: PHONOS_URL or {config.DEFAULT_URL}); "
                                        "grpc://host:port for gRPC")
    login.add_argument("--api-key", metavar="KEY", help="the key (default: asked for, or read from standard input)")

    def job_outputs(parser: Any, default_formats: str, example: str, named: str) -> None:
        parser.add_argument("--out", default=".", metavar="DIR",
                            help=f"folder for the result files (default: .), named {named}; a file "
                                 "already there is kept: the new one gets the job id too (NAME.JOB_ID.pdb)")
        parser.add_argument("--formats", default=default_formats, metavar="LIST",
                            help=f"formats to download, comma-separated, or 'all' (default {default_formats})")
        parser.add_argument("--no-wait", action="store_true", help="submit and print the job ids, do not follow")
        quiet_flag(parser)
        parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                            help=f"a model parameter (repeatable), e.g. -p {example}")

    def idempotency_key(parser: Any, gets: str = "gets its jobs again, charged once") -> None:
        # The command prints itself with it when its POST's answer was lost (submit_again, answered_once).
        parser.add_argument("--idempotency-key", type=run_key, metavar="KEY",
                            help=f"the key a lost answer printed: {gets}")

    fold = command(sub.add_parser("fold", help="predict structures of a sequence or a FASTA file"), "fold")
    fold.add_argument("input", help="a FASTA file, - for FASTA on stdin, or one amino-acid sequence (a complex's "
                                    "chains joined by ':'; lines before the first '>' header are a record of their "
                                    "own, named seq1, as in the dashboard's form)")
    fold.add_argument("--model", choices=["esmfold", "alphafold2"], default="esmfold", metavar="MODEL",
                      help="the predictor: esmfold (fast, no MSA; the default) or alphafold2 (slower; searches MSAs first "
                           "where the server has sequence databases, else folds the sequence alone); `phonos models` "
                           "lists what this server serves")
    fold.add_argument("--name", metavar="NAME",
                      help="the job's name, for one sequence (default: the FASTA id; seq1 for FASTA text without a "
                           "header, the file's name for a file of one bare sequence, \"sequence\" for one on the "
                           "command line); its result files are named after it")
    fold.add_argument("--num-recycles", type=int, metavar="N",  # its range is the model's: checked in _main
                      help="recycling iterations, 1-24 (alphafold2: 0-24; the model's default without it)")
    job_outputs(fold, "pdb", "num_recycles=4", "as --name says")
    idempotency_key(fold)

    dock = command(sub.add_parser("dock", help="dock ligands into a protein with DiffDock"), "dock")
    dock.__class__ = DockParser  # --protein's own check (the subparsers' class is the parent's)
    dock.add_argument("--protein", metavar="PDB|JOB_ID",
                      help="a PDB file, or the id of a completed fold job; not with a --ligands CSV whose rows have "
                           "a protein_path (each row is docked into its own PDB file, as DiffDock does)")
    ligand = dock.add_mutually_exclusive_group(required=True)
    ligand.add_argument("--ligand", metavar="SMILES", help="one SMILES")
    ligand.add_argument("--ligands", metavar="FILE", help="a .smi, .csv (DiffDock's columns) or .sdf file")
    dock.add_argument("--samples", dest="samples_per_complex", type=flag_ranges.SAMPLES, metavar="N", help="poses per ligand (samples_per_complex)")
    dock.add_argument("--steps", dest="inference_steps", type=flag_ranges.STEPS, metavar="N", help="diffusion steps, 10-40 (inference_steps)")
    job_outputs(dock, "pdb,sdf", "random_seed=7",
                "after each ligand's name in --ligands (its SDF title, .smi or .csv name), \"ligand\" for --ligand")
    idempotency_key(dock)

    jobs = sub.add_parser("jobs", help="list, inspect, follow, download and cancel jobs").add_subparsers(
        dest="jobs_command", required=True)
    ls = command(jobs.add_parser("ls", help="your jobs, newest first"), "jobs ls")
    # "all" is the API's default for both (the seed's): a user who read the API's docs may type it
    ls.add_argument("--status", choices=["pending", "running", "completed", "failed", "cancelled", "all"],
                    metavar="STATUS", help="only jobs in this state: pending, running, completed, failed, cancelled "
                                           "or all (every state, the default)")
    ls.add_argument("--model", choices=flag_ranges.JOB_MODELS, metavar="MODEL",
                    help="esmfold, alphafold2 or diffdock (all: every model, the default)")
    ls.add_argument("--name", metavar="TEXT", help="only jobs whose name contains this text (any case)")
    ls.add_argument("--since", type=since_time, metavar="WHEN",
                    help="only jobs created since then: a time back from now (90m, 2h, 3d, 1w) or a UTC date or "
                         "time (2026-12-01, 2026-12-01T09:00Z)")
    ls.add_argument("--limit", type=flag_ranges.PAGE, default=20, metavar="N", help="jobs on the page, 1-100 (default 20)")
    ls.add_argument("--all", action="store_true", help="every page")
    starting_after(ls, "JOB_ID", "job")
    command(jobs.add_parser("show", help="one job"), "jobs show").add_argument("job_id", help=JOB_ID_HELP)
    watch = command(jobs.add_parser("watch", help="follow jobs live (all of yours without ids)"), "jobs watch")
    watch.add_argument("job_ids", nargs="*", metavar="job_id", help="jobs to follow (none: every job of yours, "
                                                                   "until Ctrl-C)")
    watch.add_argument("--out", metavar="DIR", help="download each named job's files here when it completes (a "
                                                    "file already there is kept: the new one gets the job id too)")
    quiet_flag(watch)
    watch.add_argument("--formats", default=WATCH_FORMATS, metavar="LIST", help="with --out: formats, comma-separated, or 'all' (default pdb)")
    download = command(jobs.add_parser("download", help="a completed job's file"), "jobs download")
    download.add_argument("job_id", help=JOB_ID_HELP)
    download.add_argument("--format", metavar="FORMAT", help="one of the job's formats (`jobs show`; default: its main file)")
    download.add_argument("--out", metavar="PATH", help="file or folder, or - for stdout (default: the server's file "
                                                        "name, here)")
    download.add_argument("--overwrite", action="store_true", help="replace a different file already at the "
                                                                   "target (without it: refused, exit 2)")
    cancel = command(jobs.add_parser("cancel", help="cancel a pending or running job"), "jobs cancel")
    cancel.add_argument("job_id", help=JOB_ID_HELP)
    idempotency_key(cancel, "gets that cancel's answer again")
    rerun = command(jobs.add_parser("rerun", help="submit a job's request again as a new job (its inputs and "
                                                  "parameters, the server's defaults filled in)"), "jobs rerun")
    rerun.add_argument("job_id", help="the earlier job (any state; its request is kept until it is deleted)")
    rerun.add_argument("--name", help="the new job's name (default: the earlier job's)")
    idempotency_key(rerun, "gets its job again, charged once")
    command(jobs.add_parser("rm", help="delete finished jobs: their results and inputs go for good"),
            "jobs rm").add_argument("job_ids", nargs="+", metavar="job_id",
                                    help="finished jobs to delete (--json prints the API's answer for each); one "
                                         "not found or still running is said and the others are still deleted")

    share = command(jobs.add_parser("share", help="a read-only link to a completed job's results, for people "
                                                  "without an account (printed once)"), "jobs share")
    share.add_argument("job_id", help="a completed job")
    share.add_argument("--expires-in-days", type=flag_ranges.SHARE_DAYS, metavar="N", help="the link works this many days, 1-365 (default 30)")
    command(jobs.add_parser("shares", help="a job's working share links"), "jobs shares").add_argument(
        "job_id", help=JOB_ID_HELP)
    unshare = command(jobs.add_parser("unshare", help="revoke a share link: it stops working at once"), "jobs unshare")
    unshare.add_argument("job_id", help=JOB_ID_HELP)
    unshare.add_argument("share_id", help="the link's id (see `phonos jobs shares`)")

    usage = command(sub.add_parser("usage", help="requests and credits over the last days"), "usage")
    usage.add_argument("--days", type=flag_ranges.USAGE_DAYS, metavar="N", help="1-90 (default 30)")
    account = command(sub.add_parser("account", help="your account and balance (credits: their history)"), "account")
    about_account = account.add_subparsers(dest="account_command")
    history = command(about_account.add_parser(
        "credits", help="your credit history, newest first: every change of the balance and why"), "account credits")
    history.add_argument("--limit", type=flag_ranges.PAGE, default=20, metavar="N", help="entries on the page, 1-100 (default 20)")
    history.add_argument("--all", action="store_true", help="every page")
    starting_after(history, "ENTRY_ID", "entry")
    activity = command(about_account.add_parser(
        "activity", help="your account's activity log, newest first: who created, changed or revoked a key, signed "
                         "in, changed the password, made a webhook or a share link, and from where"), "account activity")
    activity.add_argument("--limit", type=flag_ranges.PAGE, default=20, metavar="N", help="entries on the page, 1-100 (default 20)")
    activity.add_argument("--action", choices=flag_ranges.ACTIVITY_ACTIONS, metavar="ACTION",
                          help="only this action's entries, e.g. api_key.created, session.signed_in, password.changed")
    activity.add_argument("--all", action="store_true", help="every page")
    starting_after(activity, "ENTRY_ID", "entry")
    command(sub.add_parser("models", help="the models this server serves"), "models")

    hooks = sub.add_parser("webhooks", help="job notifications").add_subparsers(dest="hooks_command", required=True)
    command(hooks.add_parser("ls", help="your webhooks"), "webhooks ls")
    create = command(hooks.add_parser("create", help="register a receiver URL"), "webhooks create")
    create.add_argument("url", help="where the events are POSTed (https://; the answer shows the signing secret once)")
    create.add_argument("--event", "--events", dest="event", action="append",
                        choices=["job.started", "job.completed", "job.failed", "job.cancelled"], metavar="EVENT",
                        help="an event to send (repeatable; --events as the API's field): job.started, "
                             "job.completed, job.failed (all three by default) or job.cancelled (a job was "
                             "cancelled; sent only when named)")
    idempotency_key(create, "shows that webhook and its secret again")
    command(hooks.add_parser("delete", help="remove a webhook"), "webhooks delete").add_argument(
        "webhook_id", help=HOOK_ID_HELP)
    test = command(hooks.add_parser("test", help="send a test event"), "webhooks test")
    test.add_argument("webhook_id", help=HOOK_ID_HELP)
    idempotency_key(test, "says that test's answer again")
    rotate = command(hooks.add_parser("rotate-secret", help="give a webhook a new signing secret (shown once); the "
                                                            "old one keeps signing beside it for a while"),
                     "webhooks rotate-secret")
    rotate.add_argument("webhook_id", help=HOOK_ID_HELP)
    # dest is the API's field, so a server's refusal of it is said as this flag's (flag_words); the range is
    # checked here first, in the units typed (durations.overlap_seconds)
    rotate.add_argument("--expire-current-after", dest="expire_current_after_s", type=overlap_seconds,
                        metavar="DURATION",
                        help="how long the current secret still signs deliveries (as a second v1=): 90s, 15m, "
                             "1h, 2d; 0 stops it at once; default 1d, at most 7d")
    idempotency_key(rotate, "shows that rotation's secret again")
    log = command(hooks.add_parser("deliveries", help="a webhook's deliveries, newest first, and what the "
                                                      "receiver answered"), "webhooks deliveries")
    log.add_argument("webhook_id", help=HOOK_ID_HELP)
    log.add_argument("--status", choices=["pending", "delivered", "failed"], metavar="STATUS",
                     help="only deliveries in this state: pending, delivered or failed")
    log.add_argument("--event", choices=["job.started", "job.completed", "job.failed", "job.cancelled", "webhook.test"],
                     metavar="EVENT", help="only this event's: job.started, job.completed, job.failed, "
                                           "job.cancelled or webhook.test")
    log.add_argument("--limit", type=flag_ranges.PAGE, metavar="N", help="deliveries on the page, 1-100 (default 20)")
    log.add_argument("--all", action="store_true", help="every page")
    starting_after(log, "DELIVERY_ID", "delivery")
    again = command(hooks.add_parser("redeliver", help="send a delivered or failed delivery's event again"),
                    "webhooks redeliver")
    again.add_argument("webhook_id", help=HOOK_ID_HELP)
    again.add_argument("delivery_id", help="the delivery to send again (see `phonos webhooks deliveries`)")
    idempotency_key(again, "shows that delivery again")


def add_version(parser: argparse.ArgumentParser) -> None:
    """`phonos --version`, the same line from the client's parser and the server install's (launcher/cli.py): the
    console script a user types is whichever package was installed last."""
    from phonos_client import __version__

    parser.add_argument("--version", action="version", version=f"phonos-client {__version__}",
                        help="print the client's version and exit")


def server_installed() -> bool:
    """Whether the server package (`launcher`, whose cli runs the operator verbs) is importable here: looked up,
    not imported (it brings torch and the job service)."""
    try:
        return importlib.util.find_spec("launcher.cli") is not None
    except ImportError:  # no `launcher` package at all
        return False


class Parser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is one line, as every other error of the command is: what is wrong, in
    plain words, and where the help is (`phonos jobs ls: --status "bogus" is not one of pending, ...; see phonos jobs
    ls --help`), not the usage block and argparse's `argument {login,fold,...}: invalid choice`. Exit 2, as before.
    Its sub-commands' parsers are of this class too (add_subparsers makes them of the parent's class)."""

    def error(self, message: str) -> Any:  # NoReturn, as argparse's
        verbs = [verb for action in self._actions if isinstance(action, argparse._SubParsersAction)
                 for verb in action.choices]
        said = usage_words(message)
        if verbs and message.startswith(f"the following arguments are required: {VERB}"):
            said = f"say what to do: {', '.join(verbs)}"
        self.exit(EXIT["usage"], lines_to_fit(f"{self.prog}: {said}; see {self.prog} --help", sys.stderr) + "\n")


class DockParser(Parser):
    """`phonos dock`'s: --protein is required, but with --ligands (a DiffDock CSV may give each row its receptor in
    its protein_path column: prepare_dock reads the file and says what is missing)."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, rest = super().parse_known_args(args, namespace)
        if parsed.protein is None and parsed.ligands is None:
            self.error("the following arguments are required: --protein")
        return parsed, rest


_CHOICE = re.compile(r"^argument (?P<what>\S+): invalid choice: (?P<value>.+?) \(choose from (?P<choices>.+)\)$")


def usage_words(message: str) -> str:
    """argparse's message in the command's words."""
    if m := _CHOICE.match(message):
        choices, value = m["choices"].replace("'", ""), json.dumps(m["value"].strip("'"))
        if m["what"] == VERB:  # a command
            return f"{value} is not a command; the commands are {choices}"
        return f"{m['what']} {value} is not one of {choices}"
    if m := re.match(r"^the following arguments are required: (.+)$", message):
        return f"{m[1]} missing"
    if m := re.match(r"^argument (\S+): invalid (int|float) value: '(.*)'$", message):
        return f"{m[1]} takes a {'whole ' if m[2] == 'int' else ''}number, not {json.dumps(m[3])}"
    if m := re.match(r"^argument (\S+): (must .*)$", message):  # a flag's type refused its value (flag_ranges)
        return f"{m[1]} {m[2]}"
    return message.removeprefix("argument ")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="phonos", description="Structure prediction and docking on a phonos server",
                    epilog=EXIT_CODES_HELP)
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    add_user_commands(sub)
    installed = server_installed()
    for verb in OPERATOR_VERBS:  # listed in --help; run by the server package
        sub.add_parser(verb, add_help=False, help=f"operator's verb: `phonos {verb} --help`" if installed
                       else f"(needs the phonos server install) phonos {verb} ...")
    name_the_verbs(parser)
    return parser


VERB = "COMMAND"  # what usage and --help call a verb's place


def name_the_verbs(parser: argparse.ArgumentParser) -> None:
    """A verb's place is COMMAND in usage and --help, each verb listed under it with its help: their list in braces
    (`{login,fold,...,backup}`, argparse's) ran past a 60-column terminal, twice; a missing or unknown verb is said
    with the list in words (Parser.error), never as the parser's internal name for it (`jobs_command`)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            if action.metavar is None:
                action.metavar = VERB
            for sub in action.choices.values():
                name_the_verbs(sub)


PREPARE = {"fold": prepare_fold, "dock": prepare_dock}


def run(args: argparse.Namespace) -> int:
    if args.command_path == "login":
        return run_login(args)
    profile = config.load()
    server_url(profile.url, profile.url_source)
    if profile.bearer_dropped:
        complain(BEARER_NOTE.format(source=f" from {profile.source}"))
    if profile.api_key is None:
        raise errors.AuthenticationError(
            "no API key: run `phonos login`, or set PHONOS_API_KEY", status=401, error="Unauthorized")
    options = client_options(profile.url, profile.max_rate_limit_wait, profile.max_retry_wait)
    if args.command_path not in (*PREPARE, "jobs watch"):
        with Client(profile.url, profile.api_key, **options) as client:
            try:
                return run_sync(args, client)
            finally:
                note_answered(client)
    session = Session()
    if args.command_path in PREPARE:
        session.key = getattr(args, "idempotency_key", None) or str(uuid.uuid4())
    work = PREPARE[args.command_path](args) if args.command_path in PREPARE else None
    out = getattr(args, "out", None)
    if out and not getattr(args, "no_wait", False):
        out_folder(out)

    async def main() -> int:
        async with AsyncClient(profile.url, profile.api_key, **options) as client:
            try:
                if work is None:
                    return await run_jobs_watch(args, client, session)
                return await run_work(args, client, session, work)
            finally:
                note_answered(client)

    try:
        result = asyncio.run(until_interrupted(main()))
    except KeyboardInterrupt:
        result = None
    except (errors.APIConnectionError, errors.APIStatusError) as exc:
        # The server went away (or kept failing, or kept refusing for the rate limit) while the jobs were followed:
        # they were submitted and run on there, but their ids were only in this command's table, which is never
        # printed now. _main says the error, then this (the Ctrl-C path's command), so nothing has to be dug out of
        # `jobs ls`. A refusal that is about the jobs themselves (404, 401) is not followed by it: watching again
        # would meet it again. A 402 can only end a later batch's submission (a FASTA of more than 10 records):
        # the earlier batches' jobs were accepted and charged, and run.
        unanswered = not isinstance(exc, errors.APIStatusError) or answer_unheard(exc)
        if session.submitting and unanswered:
            # A POST whose answer did not come may have made (and charged) jobs: only its key finds them.
            args.submit_again = submit_again(session, args)
        elif session.job_ids and (unanswered or exc.status in (402, 429)):
            args.follow_again = follow_again(session.job_ids, args)
        raise
    if result is None and session.submitting:
        print(f"\n{submit_again_said(args, 'interrupted while submitting. ')}\n"
              f"{command_to_fit(submit_again(session, args), sys.stderr)}", file=sys.stderr)
        return EXIT["interrupted"]
    if result is None:
        # Jobs to speak of only when the command had some (`jobs watch` of the whole account submitted none).
        said = "interrupted: the jobs keep running on the server." if session.job_ids else "interrupted"
        if session.job_ids:
            again = "Follow them again with:"
            said = (f"{said_to_fit(f'{said} {again}', (said, again), sys.stderr)}\n"
                    f"{command_to_fit(follow_again(session.job_ids, args), sys.stderr)}")
        print(f"\n{said}", file=sys.stderr)
        return EXIT["interrupted"]
    return result


def client_options(url: str, max_rate_limit_wait: float, max_retry_wait: float) -> dict[str, Any]:
    """The clients' options for one command. A first request that finds nothing listening (refused, no such host)
    fails at once unless this address answered the command before (config.answered_before) or the user chose a
    wait (PHONOS_MAX_RETRY_WAIT): a typo in the URL is said in a moment, while a server that answered before and
    is restarting (about 3 s under `phonos serve`) is still waited out, as is every refusal after a first answer."""
    fail_fast = not (config.answered_before(url) or config.retry_wait_chosen())
    return {"max_rate_limit_wait": max_rate_limit_wait, "max_retry_wait": max_retry_wait,
            "fail_fast_until_answered": fail_fast}


def note_answered(client: Client | AsyncClient) -> None:
    if client.answered and not config.answered_before(client.base_url):
        config.remember_answered(client.base_url)


def not_under_that_path(exc: errors.APIStatusError) -> str | None:
    """A 404 at a URL with a path (`PHONOS_URL=http://host:port/api`, a gateway behind a reverse proxy under a
    path) that says the API is not there, or None: the phonos server itself answering "no route for GET
    /api/v1/jobs" got the path with the prefix on (the URL should be its own address, or the proxy should strip
    the prefix); another server's 404 there (a proxy that serves its phonos under another path) has none under it.
    Said as the address being wrong, not as "not found" (which reads as no such job)."""
    parts = urlsplit(exc.server or "")
    prefix = parts.path.rstrip("/")
    if exc.status != 404 or not prefix or parts.scheme not in ("http", "https"):
        return None
    root = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    if not exc.from_the_api:
        return f"no phonos API under {prefix}: {exc.server} answered HTTP 404, not as a phonos server answers"
    m = re.match(r"^no route for [A-Z]+ (\S+)$", exc.message.strip())
    if m is None or not m[1].startswith(f"{prefix}/v1/"):
        return None  # a 404 of the API's own (no such job) under a path that works
    return (f"no phonos API under {prefix}: the phonos server at {root} was asked for {m[1]}, with {prefix} still on "
            f"(its routes begin /v1/); the URL should be {root}, or a reverse proxy in front of it should strip {prefix} "
            "before passing requests on")


def wrong_address(said: str, url: str, args: argparse.Namespace) -> str:
    """One line for an address that is not a phonos server's (`said`: what happened there), with where that address
    came from: the place to fix it."""
    form = "grpc://HOST:PORT" if url.startswith("grpc://") else "http://HOST:PORT"
    if args.command_path == "login" and args.url:
        return f"{said}; check --url ({form})"
    try:
        came_from = config.load().url_source
    except config.ConfigError:
        came_from = "PHONOS_URL" if os.environ.get("PHONOS_URL") else "default"
    if came_from == "PHONOS_URL":
        return f"{said}; it came from PHONOS_URL: set PHONOS_URL={form}"
    if came_from == "default":
        return f"{said}, the default address; set PHONOS_URL={form} or run phonos login --url {form}"
    return f"{said}; it came from {came_from}: phonos login --url {form} stores another"


def format_refusal(args: argparse.Namespace) -> str | None:
    """`--formats`/`--format` naming a file no job of the model(s) can have (a typo: `--formats pbd`): what to say
    before any request, or None. `jobs watch` and `jobs download` know no model before they ask: any model's."""
    if args.command_path in PREPARE:
        return result_formats.refusal("--formats", args.formats, [getattr(args, "model", "diffdock")])
    if args.command_path == "jobs watch":
        return result_formats.refusal("--formats", args.formats, result_formats.FIXED)
    if args.command_path == "jobs download" and args.format is not None:
        return result_formats.refusal("--format", args.format, result_formats.FIXED, many=False)
    return None


def answer_unheard(exc: errors.APIStatusError) -> bool:
    """An error answer that may stand for the server's own answer having been lost on the way (a 5xx, a proxy's page
    in front of it), rather than the server's refusal of the request (which made nothing)."""
    return exc.status >= 500 or not exc.from_the_api


def submit_again(session: Session, args: argparse.Namespace) -> list[str]:
    """The command as it was typed, with the run's key (`--idempotency-key K`, in place of one it had): run again, it
    sends the same batches under the same keys, so the server answers with the jobs it made (charged once) and the
    command follows them; a batch that never reached the server is submitted then."""
    return submit_again_with(session.key or "", args)


def submit_again_with(key: str, args: argparse.Namespace) -> list[str]:
    """`submit_again`'s command for `key` (`jobs rerun`'s: its one POST's key)."""
    words, skip = [], False
    for word in getattr(args, "argv", []):
        if skip or word == "--idempotency-key" or word.startswith("--idempotency-key="):
            skip = word == "--idempotency-key"
            continue
        words.append(word)
    return ["phonos", *words, "--idempotency-key", key]


def run_key(text: str) -> str:
    """`--idempotency-key`'s type: a run's key, printable ASCII without spaces, short enough that each batch's key
    (KEY.N.P) stays within the server's 255 characters."""
    if not 0 < len(text) <= 200 or not all("!" <= c <= "~" for c in text):
        raise argparse.ArgumentTypeError("takes the key a phonos command printed when its answer was lost (1-200 "
                                         "printable characters, no spaces)")
    return text


def follow_again(job_ids: Sequence[str], args: argparse.Namespace) -> list[str]:
    """The command (its words) that picks the jobs up again (after --no-wait or Ctrl-C) and fetches the files this one would
    have: the same --out and, where they are not watch's default (dock's pdb,sdf), the same --formats."""
    words = ["phonos", "jobs", "watch", *job_ids]
    out = getattr(args, "out", None)
    if out:
        words += ["--out", out]
        if args.formats != WATCH_FORMATS:
            words += ["--formats", args.formats]
    return words


async def until_interrupted(work: Coroutine[Any, Any, int]) -> int | None:
    """Runs `work` to its end, or until Ctrl-C (then None). asyncio.run's own SIGINT handling cancels the
    task once and trusts it to stop; a cancellation that lands in a library's shielded clean-up (httpx's
    connection pool) can be absorbed, and the command would then run on to the job's end. Here Ctrl-C
    cancels again until the work has stopped, and the outcome is decided by the signal, not by how the
    cancellation ended."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    interrupted = asyncio.Event()
    try:
        loop.add_signal_handler(signal.SIGINT, interrupted.set)
    except (NotImplementedError, RuntimeError):  # no signal handlers here (Windows, not the main thread)
        return await task
    signalled = asyncio.ensure_future(interrupted.wait())
    try:
        await asyncio.wait({task, signalled}, return_when=asyncio.FIRST_COMPLETED)
        if not interrupted.is_set():
            return task.result()
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.2)
        if not task.cancelled():
            task.exception()  # retrieved: how the interrupted work ended does not matter any more
        return None
    finally:
        signalled.cancel()
        loop.remove_signal_handler(signal.SIGINT)


def main(argv: Sequence[str] | None = None) -> int:
    """The `phonos` command of the client install. A reader that stops early (`phonos jobs ls | head -1`) ends
    it quietly with exit status 141 (phonos_client.pipes)."""
    return ending_quietly_on_a_closed_pipe(lambda: _main(list(sys.argv[1:] if argv is None else argv)))


_NOT_FOUND = re.compile(r"^(?:(?P<what>.*\S) )?not found\.?$", re.IGNORECASE)


def run_key_words(error: errors.PhonosError, args: argparse.Namespace) -> str:
    """A reused key's refusal (422) as the command line gave the key: `--idempotency-key "run-7"`, not the
    `Idempotency-Key "run-7.0"` of the run's first POST (submission_key's place suffix, the command's own)."""
    key = getattr(args, "idempotency_key", None)
    if not isinstance(error, errors.IdempotencyError) or not key:
        return error.message
    given = json.dumps(key, ensure_ascii=False)  # as the server quotes it: "run-7"
    message = re.sub(re.escape(given[:-1]) + r'(?:\.\d+)*"', lambda _: given, error.message)
    return message.replace("Idempotency-Key", "--idempotency-key").replace(
        "use a new key for a new request", "this run's input or flags differ from that run's: give a new key")


def error_words(title: str | None, message: str) -> str:
    """An API error as the command says it: `<title>: <message>`; a 404's in three words, not found said once
    (`not found: webhook wh_x`, not `Not found: Webhook wh_x not found`), whichever verb or record met it."""
    if (title or "").lower() != "not found":
        return f"{title}: {message}" if title else message
    m = _NOT_FOUND.match(message.strip())
    what = message.strip() if m is None else (m["what"] or "")
    first, space, rest = what.partition(" ")
    if first[:1].isupper() and first[1:].islower():  # "Webhook", "Job" begin the server's sentence: not a name
        what = first.lower() + space + rest
    return f"not found: {what}" if what else "not found"


def key_source(error: errors.PhonosError, command: str) -> str:
    """For a key the server refused (401): where the command found it, the first thing to check."""
    if not isinstance(error, errors.AuthenticationError) or command == "login":
        return ""  # login's key is the one just given
    try:
        profile = config.load()
    except config.ConfigError:
        return ""
    if profile.api_key is None:
        return ""  # no key at all: that message says what to do
    return f" (the key came from {profile.source}; `phonos login` stores another)"


def submit_again_said(args: argparse.Namespace, before: str = "") -> str:
    """The words over a lost answer's command (SUBMIT_AGAIN, or another verb's: ANSWER_AGAIN), on a terminal narrower than
    them broken between words (its first half alone, 104 cells, ran past an 80-column edge mid-word)."""
    text = before + " ".join(getattr(args, "submit_again_said", SUBMIT_AGAIN))
    return said_to_fit(text, text.split(" "), sys.stderr)


def say_follow_again(args: argparse.Namespace) -> None:
    """After the error line: the command that follows the jobs again, where run() found that the error ended the
    following of jobs it had submitted or was watching (`args.follow_again`), or the command that submits again
    under the same key where the error lost a submission's answer (`args.submit_again`)."""
    if again := getattr(args, "submit_again", None):
        print(f"{submit_again_said(args)}\n{command_to_fit(again, sys.stderr)}", file=sys.stderr)
    if again := getattr(args, "follow_again", None):
        print(f"{said_to_fit(' '.join(FOLLOW_AGAIN), FOLLOW_AGAIN, sys.stderr)}\n{command_to_fit(again, sys.stderr)}",
              file=sys.stderr)


def _main(argv: list[str]) -> int:
    if argv and argv[0] in OPERATOR_VERBS:
        try:
            from launcher import cli as server_cli  # the server install
        except ImportError:
            complain(f"phonos {argv[0]} needs the phonos server install (this is the client alone)")
            return EXIT["usage"]
        return int(server_cli.main(argv))
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    args.argv = argv  # as typed: a lost submission's answer is fetched by the same command (submit_again)
    if extra:  # said by the verb's parser, whose --help lists what it takes (the top one's lists the verbs)
        Parser(prog=f"phonos {args.command_path}").error(f"unrecognized arguments: {' '.join(extra)}")
    if blank := blank_id(args):
        Parser(prog=f"phonos {args.command_path}").error(f"{blank}: an id cannot be empty")  # the verb's help
    if refused := flag_ranges.recycles_refusal(getattr(args, "model", ""), getattr(args, "num_recycles", None)):
        Parser(prog=f"phonos {args.command_path}").error(refused)  # the model's range: known once both are read
    if refused := format_refusal(args):
        Parser(prog=f"phonos {args.command_path}").error(refused)  # before the job is submitted and charged
    if args.command_path == "jobs watch" and args.out and not args.job_ids:
        # Every job's events until Ctrl-C fetch nothing: --out was taken (its folder made) and did nothing.
        Parser(prog="phonos jobs watch").error("--out fetches the files of the jobs named: give their ids")
    try:
        with notices_said():
            return run(args)
    except (UsageError, config.ConfigError) as exc:
        complain(f"phonos: {exc}")
        return EXIT["usage"]
    except errors.PhonosError as exc:
        # A refused value is named by the flag that set it (`--expires-in-days must be ...`), not the API's field.
        if isinstance(exc, errors.ServerUnreachableError) and exc.never_answered:
            complain(f"phonos: {wrong_address(f'nothing answers at {exc.server} ({exc.reason})', exc.server, args)}")
            return exc.exit_code
        if isinstance(exc, errors.WrongProtocolError):  # "could not reach" / "nothing answers" blamed the network
            host = exc.server.split("://", 1)[-1].rstrip("/")
            speaks, other = {errors.NotHttpError: ("HTTP", f"a gRPC port is given as grpc://{host}"),
                             errors.NotTlsError: ("TLS", f"a plain HTTP server is given as http://{host}"),
                             }.get(type(exc), ("gRPC", f"an HTTP port (the REST API's) is given as http://{host}"))
            complain(f"phonos: {exc.server} answered, but not in {speaks}: {other}")
            return exc.exit_code
        if isinstance(exc, errors.APIStatusError) and (said := not_under_that_path(exc)):
            complain(f"phonos: {wrong_address(said, exc.server or '', args)}")
            return EXIT["usage"]  # the server URL is wrong: no wait or retry changes that
        if isinstance(exc, errors.APIStatusError) and not exc.from_the_api and exc.server:
            # Another web server there, or a proxy's error page: its 404 is not "no such job" (exit 4).
            # A 4xx of another web server: no phonos API at this URL, the same outcome as under a path
            # (not_under_that_path): the URL is wrong, exit 2. A proxy's 5xx page: the server behind it may be down
            # (and be back), exit 7 as the server's own 5xx.
            said = f"{exc.server} answered HTTP {exc.status}, not as a phonos server answers"
            complain(f"phonos: {wrong_address(said, exc.server, args)}" if exc.status < 500 else
                     f"phonos: {said} (a proxy in front of it, with the server behind it down?)")
            say_follow_again(args)
            return EXIT["usage"] if exc.status < 500 else errors.InternalServerError.exit_code
        message = in_flag_words(run_key_words(exc, args), argv, option_dests(parser))
        said = error_words(exc.error, message)
        # The request id is for the server's admin to find the call in its log: said for a server's failure (5xx),
        # where it is the thing to quote; a refusal (4xx) says what to change, and the id only made its line wrap.
        quote = f" (request id {exc.request_id})" if exc.request_id and exc.status >= 500 else ""
        complain(f"phonos: {said}{key_source(exc, args.command_path)}{quote}")
        say_follow_again(args)
        return exc.exit_code
    except KeyboardInterrupt:
        if getattr(args, "submit_again", None):  # a POST of answered_once's: its answer (a new job, a secret) may be lost
            print(f"\n{submit_again_said(args, f'interrupted while {args.submit_again_while}. ')}\n"
                  f"{command_to_fit(args.submit_again, sys.stderr)}", file=sys.stderr)
        else:
            print("\ninterrupted", file=sys.stderr)
        return EXIT["interrupted"]
    except OSError as exc:  # a local file or folder (--out, an input) that cannot be read or written
        if isinstance(exc, BrokenPipeError):
            raise  # stdout's reader went away: ending_quietly_on_a_closed_pipe decides
        complain(f"phonos: {exc}")
        return EXIT["usage"]
