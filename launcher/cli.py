"""The `phonos` command: the operator's verbs here, the users' verbs from the client package.

    phonos serve [--http-host H] [--http-port P] [--grpc-port P] [--data-dir D] [--metrics-port P]
    phonos keys create --username NAME [--email E] [--credits N] [--rate-limit R] [--max-rate-limit M] [--json]
    phonos keys add --username NAME [--name N] [--rate-limit R] [--expires-in-days N] [--read-only] [--json]
    phonos keys list --username NAME [--json]
    phonos keys revoke KEY_ID [--confirm-last-key] [--json]
    phonos keys update KEY_ID [--name N] [--rate-limit R] [--expires-in-days N] [--json]
    phonos accounts list [--json]
    phonos accounts update --username NAME --max-rate-limit M [--json]
    phonos accounts activity --username NAME [--limit N] [--offset N] [--action A] [--json]
    phonos accounts usage [--days N | --since YYYY-MM-DD [--until YYYY-MM-DD]] [--username NAME] [--json | --csv]
    phonos credits add --username NAME --amount N [--note TEXT] [--json]   (N < 0 takes credits back)
    phonos credits history --username NAME [--limit N] [--offset N] [--json]
    phonos users set-password --username NAME [--password-stdin]
    phonos db build FASTA OUTDIR [--name uniref90|mgnify|small_bfd]   (a small AlphaFold2 MSA database)
    phonos weights fetch esmfold|alphafold2|diffdock|esm2 [--dir DIR] [--mirror URL]
    phonos weights list
    phonos backup DEST [--data-dir D] [--json]   (a consistent copy of a running SQLite data directory)
    phonos status [--url URL] [--metrics-url URL] [--data-dir D] [--json] (is the running service healthy? exit 0, 1, 7 or 9)

Every other verb (login, fold, dock, jobs, usage, webhooks, ...) is `phonos_client.cli`
(clients/python, installable alone without torch or Triton); both packages install the same
`phonos` command, each handing the other's verbs over.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import logging
import shlex
import sqlite3
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

from phonos_client.cli import EXIT, OPERATOR_VERBS, Parser, add_user_commands, add_version, name_the_verbs
from phonos_client.flag_ranges import WholeNumber
from phonos_client.flag_words import in_flag_words
from phonos_client.pipes import ending_quietly_on_a_closed_pipe
from phonos_models.alphafold2 import build_db

from jobservice import admin, opaque_ids
from jobservice.accounts import NewKey
from jobservice.activity import ActivityEntry, ActorKind
from jobservice.api_keys import KeyRecord, LastActiveKey, RateLimitOutOfRange
from jobservice.errors import LimitReached, PhonosError
from jobservice.key_policy import FULL, READ_ONLY
from jobservice.messages import activity_json
from jobservice.new_sqlite_guard import new_sqlite_refusal
from jobservice.private_files import private_umask, secure_data_dir
from jobservice.process_exit import end_without_teardown
from jobservice.store import STORE_UNUSABLE, ConstraintViolation, store_unusable_message
from jobservice.usage_report import today_utc
from launcher import tables, usage_table
from launcher.serve_address import recorded as recorded_address
from launcher.tables import When, rfc3339, said, said_error, said_line, shown, terminal_cells
from phonos_config.json_text import json_value_text
from phonos_config.service import ServiceSettings


class CliError(Exception):
    """Printed as `error: ...` with exit status 2."""


# `phonos --help`'s last lines (the server install's): what a script can branch on. The operator's verbs use 0, 1
# and 2 (and 130 and 141, as every verb); the users' verbs, run by the client package from here too, theirs (EXIT there).
EXIT_CODES_HELP = ("exit codes: 0 ok; 1 `serve` stopped on a failure (another service holds the data directory, a "
                   "process kept crashing, Triton did not start), `weights fetch` failed, or `backup` found result "
                   "files missing, or `status` found the service degraded; 2 usage or a refusal (bad arguments or settings, an unknown account or key, an "
                   "unusable data directory or database); 130 interrupted (Ctrl-C); 141 output closed early "
                   "(`| head`); the users' verbs (login, fold, ...) also 3 authentication, 4 not found, 5 "
                   "insufficient credits, 6 rate limited, 7 server or connection error (`status` too: nothing answers at the "
                   "address), 8 invalid request; 9 `status`: a gateway answers but its job service does not")
# `phonos status --help`'s: a monitor branches on them (launcher/status.py: EXIT_*).
STATUS_EXIT_CODES_HELP = ("exit codes: 0 operational; 1 degraded (a component not ready: a model loading, the "
                          "database); 2 usage; 7 nothing answers as phonos at the address; 9 a gateway answers but "
                          "its job service does not; 130 interrupted; 141 output closed early (`| head`)")


def _settings(args: argparse.Namespace) -> ServiceSettings:
    """PHONOS_* variables with the command's flags on top; a value that cannot work is a CliError naming it."""
    overrides: dict[str, object] = {}
    for flag, field in (("data_dir", "data_dir"), ("http_host", "http_host"), ("http_port", "http_port"),
                        ("grpc_port", "grpc_port"), ("metrics_port", "metrics_port")):
        value = getattr(args, flag, None)
        if value is not None and value != "":  # `--http-host ""` keeps the default, as PHONOS_HTTP_HOST= does
            overrides[field] = value
    try:
        settings = ServiceSettings.from_env().with_overrides(**overrides)
        settings.check()  # the flags too (--http-port 99999)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return settings


def cmd_serve(args: argparse.Namespace) -> int:
    from launcher.serve import serve

    settings = _settings(args)
    _not_a_file(settings)
    return serve(settings)


T = TypeVar("T")


def _port(text: str) -> int:
    """argparse type of the port flags: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {json_value_text(text)}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 (any free one) to 65535, got {port}")
    return port


def _mirror(text: str) -> str:
    """argparse type of `weights fetch --mirror`: an http(s) URL with a host, or every download would fail on it
    (with requests' traceback)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {json_value_text(text)}")
    return text


def _run(settings: ServiceSettings, work: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(work())  # type: ignore[arg-type]
    except PhonosError as exc:
        raise CliError(exc.message) from None
    except ConstraintViolation as exc:  # e.g. a username that is taken
        raise CliError(str(exc)) from None
    except STORE_UNUSABLE as exc:  # PostgreSQL down, a data dir that is not a directory, ...
        raise CliError(store_unusable_message(settings, exc)) from None


def _not_a_file(settings: ServiceSettings) -> None:
    """A data directory that is a file (a mistyped --data-dir naming the database itself) said in those words,
    not as the OS's `[Errno 17] File exists` or as a directory without a database."""
    if settings.sqlite_path is not None and settings.data_dir.exists() and not settings.data_dir.is_dir():
        raise CliError(f"cannot use the data directory {settings.data_dir}: it is a file, not a directory "
                       "(check --data-dir or PHONOS_DATA_DIR)")


def _prepare_data_dir(settings: ServiceSettings) -> None:
    _not_a_file(settings)
    _no_stray_database(settings)
    try:
        secure_data_dir(settings.data_dir, settings.sqlite_path)
    except OSError as exc:
        raise CliError(store_unusable_message(settings, exc)) from None


def _no_stray_database(settings: ServiceSettings) -> None:
    """No SQLite database is made (or an empty one opened) in a data directory whose results belong to a database
    that is not there: PostgreSQL's, with PHONOS_DATABASE_URL forgotten (jobservice/new_sqlite_guard.py)."""
    refusal = new_sqlite_refusal(settings)
    if refusal is not None:
        raise CliError(refusal)


def _existing(settings: ServiceSettings) -> ServiceSettings:
    """The settings of a command that reads or changes existing state: on SQLite the database must be there
    already, or a mistyped --data-dir (or a command run from another directory) would create an empty one
    and answer "no account named ..." about the wrong place."""
    _not_a_file(settings)
    _no_stray_database(settings)
    path = settings.sqlite_path
    if path is not None and not path.exists():
        raise CliError(f"no phonos database in {settings.data_dir.resolve()}: check --data-dir or PHONOS_DATA_DIR "
                       "(`phonos serve` and `phonos keys create` create one); for a service on PostgreSQL, set "
                       "PHONOS_DATABASE_URL as it has it")
    return settings


def _key_json(key: KeyRecord) -> dict[str, Any]:
    """A key as `--json` prints it: the API's key object (GET /v1/keys), field for field (`revoked_at` too: a
    revoked key's when was left out, so `keys revoke --json` could not say it); null where the API omits one."""
    return {"key_id": key.id, "prefix": key.prefix, "name": key.name, "rate_limit": key.rate_limit,
            "created_at": rfc3339(key.created_at),
            "last_used_at": None if key.last_used_at is None else rfc3339(key.last_used_at), "revoked": key.revoked,
            "revoked_at": None if key.revoked_at is None else rfc3339(key.revoked_at),
            "expires_at": None if key.expires_at is None else rfc3339(key.expires_at), "expired": key.expired(),
            "scope": key.scope}


def _key_status(key: KeyRecord, when: When = tables.when) -> str:
    if key.revoked:
        return "revoked"
    if key.expired():
        return "expired"
    return "active" if key.expires_at is None else f"active until {when(key.expires_at)}"


def cmd_keys_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    fresh = settings.sqlite_path is not None and not settings.sqlite_path.exists()
    _prepare_data_dir(settings)
    try:
        key = _run(settings, lambda: admin.create_key(
            settings, username=args.username, email=args.email,
            credits=settings.default_credits if args.credits is None else args.credits,
            rate_limit=settings.default_rate_limit if args.rate_limit is None else args.rate_limit,
            max_rate_limit=args.max_rate_limit, expires_in_days=args.expires_in_days,
            scope=READ_ONLY if args.read_only else FULL,
        ))
    except CliError as exc:
        if "is taken" not in str(exc):
            raise
        # The usual reason: a second key for an existing account, which this verb does not make.
        raise CliError(f"{exc} (`keys create` makes a new account with its first key; another key for an existing "
                       f"account: phonos keys add --username {json_value_text(args.username)})") from None
    if args.json:
        print(json.dumps({"api_key": key.api_key, **_account_ids(settings, key.account_id)}))
    else:
        print(key.api_key)
        shown = _account_ids(settings, key.account_id)["account_id"]
        print(said((f"(account {key.account_id if shown is None else shown};",
                    "the key is shown only now: store it)"), sys.stderr), file=sys.stderr)
    if fresh:  # run from another directory, this made a database no server uses, and the key works nowhere
        print(said(("note: there was no phonos database here, so this made a new one in",
                    f"{settings.data_dir.resolve()};", "a server using another data directory does not know this key",
                    "(--data-dir or PHONOS_DATA_DIR names the server's)"), sys.stderr), file=sys.stderr)
    return 0


def _account_ids(settings: ServiceSettings, row: int) -> dict[str, int | None]:
    """An account's id as GET /v1/account shows it to the account (`account_id`: opaque since migration 0077,
    so it matches what a user quotes) and its row number (`account_row`: what the server's logs, traces and
    database name). The operator may see both: the CLI runs on the server, where the row number is no secret.
    Asked after the key was made and committed: should the store not answer this second time, `account_id` is
    None rather than an error that would lose the key, which is shown only once."""
    try:
        shown: int | None = _run(settings, lambda: opaque_ids.account_ids(settings)).shown(row)
    except CliError as exc:
        logging.getLogger("phonos").warning("the account's id as its user sees it could not be read: %s", exc)
        shown = None
    return {"account_id": shown, "account_row": row}


def cmd_keys_add(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))

    async def add() -> tuple[KeyRecord, NewKey]:
        try:
            return await admin.add_key(settings, username=args.username, name=args.name, rate_limit=args.rate_limit,
                                       expires_in_days=args.expires_in_days, scope=READ_ONLY if args.read_only else FULL)
        except LimitReached as exc:  # which keys there are, and how to revoke one, in the CLI's verbs
            raise CliError(f"{exc.message} (`phonos keys list --username {json_value_text(args.username)}`, then "
                           "`phonos keys revoke KEY_ID`)") from None
        except RateLimitOutOfRange as exc:
            raise CliError(_raise_the_maximum(exc, args.username)) from None

    key, new = _run(settings, add)
    if args.json:
        print(json.dumps({"api_key": new.api_key, **_account_ids(settings, new.account_id), "key": _key_json(key)}))
    else:
        print(new.api_key)
        # On a narrow terminal broken after the key's owner, then after its limits: never inside the id or a time.
        print(said((f"(key {key.id} of {json_value_text(args.username)}:", f"{_key_status(key)},",
                    f"{key.rate_limit}/min, {key.scope};", "the key is shown only now: store it)"), sys.stderr),
              file=sys.stderr)
    return 0


def _raise_the_maximum(exc: RateLimitOutOfRange, username: str) -> str:
    """A key's limit above its account's maximum, with the operator's way to raise the maximum (the API's answer
    has no such hint: its callers cannot run operator commands)."""
    if exc.rate_limit < 1:
        return exc.message
    return (f"{exc.message}; to allow more, raise the maximum first: `phonos accounts update --username "
            f"{shlex.quote(username)} --max-rate-limit {exc.rate_limit}`")


def cmd_keys_list(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))
    keys = _run(settings, lambda: admin.list_keys(settings, username=args.username))
    if args.json:
        print(json.dumps({"keys": [_key_json(k) for k in keys]}))
        return 0
    if not keys:  # a header over no rows read as a failed query
        print(f"no keys for {json_value_text(args.username)}" if args.username else "no keys yet")
        return 0
    print(shown(("KEY ID", "PREFIX", "NAME", "LIMIT/MIN", "SCOPE", "CREATED", "LAST USED", "STATUS"),
                lambda when: [(k.id, k.prefix, k.name or "-", str(k.rate_limit), k.scope, when(k.created_at),
                               when(k.last_used_at), _key_status(k, when)) for k in keys],
                numbers={"LIMIT/MIN"}, free={"NAME"}, cells=terminal_cells()))
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))
    async def revoke() -> KeyRecord:
        try:
            return await admin.revoke_key(settings, key_id=args.key_id, confirm_last_key=args.confirm_last_key)
        except LastActiveKey as exc:  # the CLI's way to insist is its flag, not the API's field
            raise CliError(LastActiveKey(exc.key_id, "run this again with --confirm-last-key").message) from None

    key = _run(settings, revoke)
    if args.json:
        print(json.dumps(_key_json(key)))
    else:
        print(said((f"revoked {key.id} ({key.prefix}...):", "requests made with it are refused from now on")))
    return 0


def cmd_keys_update(args: argparse.Namespace) -> int:
    if args.name is None and args.rate_limit is None and args.expires_in_days is None:
        raise CliError("nothing to change: give --name, --rate-limit and/or --expires-in-days")
    settings = _existing(_settings(args))

    async def update() -> KeyRecord:
        try:
            return await admin.update_key(settings, key_id=args.key_id, name=args.name, rate_limit=args.rate_limit,
                                          expires_in_days=args.expires_in_days)
        except RateLimitOutOfRange as exc:
            raise CliError(_raise_the_maximum(exc, await admin.key_owner(settings, key_id=args.key_id))) from None

    key = _run(settings, update)
    if args.json:
        print(json.dumps(_key_json(key)))
    else:
        # The key as it is now, every field the verb changes: a rename or a new expiry said nothing before, so the
        # line after a change read as the line after none (found by a tester).
        name = f"name {json_value_text(key.name)}," if key.name else "no name,"
        never = ", never expires" if key.expires_at is None and not key.revoked else ""
        print(said((f"updated {key.id} ({key.prefix}...):", name, f"{_key_status(key)}{never},", f"{key.rate_limit}/min")))
    return 0


def cmd_accounts_list(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))
    accounts = _run(settings, lambda: admin.list_accounts(settings))
    if args.json:
        print(json.dumps({"accounts": [{
            "username": a.username, "email": a.email, "credits": a.credits, "created_at": rfc3339(a.created_at),
            "can_sign_in": a.can_sign_in, "active_keys": a.active_keys,
            "last_used_at": None if a.last_used_at is None else rfc3339(a.last_used_at),
            "jobs": a.jobs, "active_jobs": a.active_jobs, "max_rate_limit": a.max_rate_limit} for a in accounts]}))
        return 0
    if not accounts:
        print("no accounts yet")
        return 0
    # MAX/MIN: the most requests per minute a key of the account may be given (`accounts update` changes it).
    print(shown(("USERNAME", "EMAIL", "CREDITS", "KEYS", "MAX/MIN", "JOBS", "ACTIVE", "SIGN-IN", "CREATED", "LAST USED"),
                lambda when: [(a.username, a.email or "-", str(a.credits), str(a.active_keys), str(a.max_rate_limit),
                               str(a.jobs), str(a.active_jobs), "yes" if a.can_sign_in else "no", when(a.created_at),
                               when(a.last_used_at)) for a in accounts],
                numbers={"CREDITS", "KEYS", "MAX/MIN", "JOBS", "ACTIVE"}, free={"EMAIL"}, cells=terminal_cells()))
    return 0


def cmd_accounts_usage(args: argparse.Namespace) -> int:
    """Every account's requests, credits and jobs over whole UTC days (launcher/usage_table.py prints them)."""
    settings = _existing(_settings(args))
    today = today_utc()
    retention = settings.usage_retention_days
    try:
        period = usage_table.period_of(days=args.days, since=args.since, until=args.until, today=today,
                                       retention_days=retention)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    report = _run(settings, lambda: admin.accounts_usage(settings, period=period, username=args.username, today=today))
    warning = usage_table.retention_warning(report, retention)
    if warning:
        print(said(warning, sys.stderr), file=sys.stderr)
    if args.json:
        print(json.dumps(usage_table.as_json(report, retention)))
    elif args.csv:
        sys.stdout.write(usage_table.as_csv(report))
    elif not report.accounts:
        print("no accounts yet")
    else:
        print(said(usage_table.heading(report)))
        print(shown(usage_table.header(report), usage_table.rows_of(report), numbers=usage_table.numbers(report),
                    cells=terminal_cells()))
    return 0


def cmd_accounts_update(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))
    before, after = _run(settings, lambda: admin.set_max_rate_limit(settings, username=args.username,
                                                                    max_rate_limit=args.max_rate_limit))
    if args.json:
        print(json.dumps({"username": args.username, "max_rate_limit": after, "was": before}))
    elif before == after:
        print(said((f"{args.username}:", f"the maximum rate limit is {after}/min already; nothing changed")))
    else:
        print(said((f"{args.username}:", f"maximum rate limit {before} -> {after}/min", "(for each key: "
                    f"`phonos keys update KEY_ID --rate-limit R`, R up to {after})")))
    return 0


def cmd_accounts_lock(args: argparse.Namespace) -> int:
    if not args.yes:
        raise CliError(f"this revokes every API key of {json_value_text(args.username)}, clears its dashboard password "
                       "and signs out its sessions, revokes its share links and deletes its webhooks: add --yes to "
                       "do it")
    settings = _existing(_settings(args))
    locked = _run(settings, lambda: admin.lock_account(settings, username=args.username))
    if args.json:
        print(json.dumps({"username": args.username, **dataclasses.asdict(locked)}))
        return 0
    plural = lambda n, word: f"{n} {word}{'' if n == 1 else 's'}"  # noqa: E731 - a one-line helper
    print(said((f"{args.username}: locked:", f"{plural(locked.keys_revoked, 'key')} revoked,",
                f"{plural(locked.sessions_ended, 'dashboard session')} signed out",
                "and its password cleared," if locked.had_password else "(it had no password),",
                f"{plural(locked.shares_revoked, 'share link')} revoked,",
                f"{plural(locked.webhooks_deleted, 'webhook')} deleted")))
    if locked.active_jobs:
        print(said((f"{plural(locked.active_jobs, 'job')} still pending or running run on and are charged as ever;",
                    "to cancel them or to hand its results on, give yourself a key to the account:",
                    f"phonos keys add --username {args.username}")))
    print(said(("to open it again: `phonos keys add` and `phonos users set-password`",)))
    return 0


def cmd_accounts_activity(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))
    entries, total = _run(settings, lambda: admin.account_activity(
        settings, username=args.username, limit=args.limit, offset=args.offset, action=args.action))
    if args.json:
        print(json.dumps({"username": args.username, "total": total, "entries": [activity_json(e) for e in entries]}))
        return 0
    if not entries:  # "0 of 0 entries, newest first" over a header with no rows read as a failed query
        # "recorded", not "yet": an account older than the upgrade that started the log has a past it does not hold
        print(said(_nothing_here(args, total, f"no {args.action} activity recorded" if args.action
                                 else "no activity recorded")))
        return 0
    print(said((f"{args.username}:", f"{len(entries)} of {total} entries,", "newest first")))
    print(shown(("WHEN", "ACTION", "BY", "FROM", "TARGET", "DETAILS"),
                lambda when: [(when(e.created_at), e.action, _actor(e), e.actor.client_address or "-", _target(e),
                               _details(e)) for e in entries], free={"DETAILS"}, cells=terminal_cells()))
    _say_the_next_page(args, len(entries), total)
    return 0


def _nothing_here(args: argparse.Namespace, total: int, none_yet: str) -> tuple[str, ...]:
    """The line a page without entries is: `ada: no activity yet` where there are none, else where the last one
    is (an --offset past the end)."""
    if total == 0:
        return (f"{args.username}:", none_yet)
    return (f"{args.username}:", f"no entries from --offset {args.offset};", f"there are {total}")


def _say_the_next_page(args: argparse.Namespace, shown_here: int, total: int) -> None:
    """On a terminal, under a page that is not the last, the flag that shows the next one (piped, the table
    alone, for the program reading it)."""
    after = args.offset + shown_here
    if shown_here and after < total and terminal_cells() is not None:
        print(f"(the next page: --offset {after})")


def _actor(entry: ActivityEntry) -> str:
    """Who made the change: a key by its id and name (`key_5f0c… (ci)`: the id says it is a key; "key key_…"
    said it twice), the dashboard, the operator; as `phonos account activity` shows it to the account."""
    actor = entry.actor
    if actor.kind == ActorKind.API_KEY:
        return (actor.key_id or "a key") + (f" ({actor.key_name})" if actor.key_name else "")
    return {ActorKind.SESSION: "dashboard"}.get(actor.kind, str(actor.kind))


def _details(entry: ActivityEntry) -> str:
    """`name=ci scope=full`, as `phonos account activity` shows them (a list's items joined by commas)."""
    return " ".join(f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in sorted(entry.details.items()))


def _target(entry: ActivityEntry) -> str:
    target = entry.target
    return " ".join(t for t in (target.key_id, target.webhook_id, target.job_id, target.share_id) if t)


def cmd_credits_add(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))
    balance = _run(settings, lambda: admin.add_credits(settings, username=args.username, amount=args.amount,
                                                       note=args.note))
    if args.json:
        print(json.dumps({"username": args.username, "added": args.amount, "balance": balance}))
    else:
        print(said((f"{args.username}:", f"{balance - args.amount} -> {balance} credits")))
    return 0


def cmd_credits_history(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))
    balance, entries, total = _run(settings, lambda: admin.credit_history(
        settings, username=args.username, limit=args.limit, offset=args.offset))
    if args.json:
        print(json.dumps({"username": args.username, "balance": balance, "total": total, "entries": [
            {"id": e.id, "created_at": rfc3339(e.created_at), "amount": e.amount, "balance_after": e.balance_after,
             "kind": str(e.kind), "job_id": e.job_id, "job_deleted": e.job_deleted, "note": e.note}
            for e in entries]}))
        return 0
    if not entries:
        print(said((f"{args.username}:", f"{balance} credits;", *_nothing_here(args, total, "no history yet")[1:])))
        return 0
    print(said((f"{args.username}:", f"{balance} credits;", f"{len(entries)} of {total} entries,", "newest first")))
    print(shown(("WHEN", "CHANGE", "BALANCE", "KIND", "WHY"),
                lambda when: [(when(e.created_at), f"{e.amount:+d}", str(e.balance_after), str(e.kind),
                               (e.note or "") + (f" {e.job_id}{' (deleted)' if e.job_deleted else ''}" if e.job_id
                                                 else "")) for e in entries],
                numbers={"CHANGE", "BALANCE"}, free={"WHY"}, cells=terminal_cells()))
    _say_the_next_page(args, len(entries), total)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CliError("no terminal to prompt on: pipe the password in with --password-stdin")
    try:
        first = getpass.getpass("New dashboard password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise CliError("the two passwords differ")
    except EOFError:  # Ctrl-D at the prompt, which leaves the cursor after it
        print(file=sys.stderr)
        raise CliError("no password given: nothing was changed") from None
    return first


def cmd_users_set_password(args: argparse.Namespace) -> int:
    settings = _existing(_settings(args))
    password = _read_password(args)
    _run(settings, lambda: admin.set_password(settings, username=args.username, password=password))
    print(said((f"password set for {json_value_text(args.username)};", "their open dashboard sessions were signed out"),
               sys.stderr), file=sys.stderr)
    return 0


def cmd_db_build(args: argparse.Namespace) -> int:
    """build_db's own main, but a refusal is the command's `error: ...` line (it was `build_db: ...`)."""
    try:
        built = build_db.build(args.fasta, args.outdir, args.name)
    except (build_db.BuildError, OSError) as exc:
        raise CliError(f"cannot build the {args.name} database from {args.fasta}: {exc}") from None
    # Broken after the path on a narrow terminal (the path whole); the setting line stays one, to be copied.
    print(said((f"wrote {built.fasta}", f"({built.num_sequences} sequences,", f"{built.version[:19]}...)")))
    print(built.env_line)
    return 0


def cmd_weights_fetch(args: argparse.Namespace) -> int:
    import requests

    from launcher.weights_fetch import FetchError, FetchOptions, fetch_set, settings_lines
    from launcher.weights_table import WEIGHT_SETS

    weights = WEIGHT_SETS[args.name]
    try:
        directory = fetch_set(weights, args.dir, FetchOptions(mirror=args.mirror))
    except FetchError as exc:
        print(said_error(str(exc)), file=sys.stderr)
        return 1
    except OSError as exc:  # --dir a file, a full disk, no permission: said, not a traceback
        print(said_error(f"cannot write the weights under {args.dir}: {exc.strerror or exc}"
              f"{f' ({exc.filename})' if exc.filename else ''}"), file=sys.stderr)
        return 1
    except requests.RequestException as exc:  # what _download does not retry (a mirror's bad address)
        print(said_error(f"the download failed: {exc}"), file=sys.stderr)
        return 1
    print(f"{weights.title}: ready. Set before `phonos serve`:")
    for line in settings_lines(weights, directory):
        print(f"  {line}")
    return 0


def cmd_weights_list(args: argparse.Namespace) -> int:
    from launcher.weights_table import WEIGHT_SETS

    for weights in WEIGHT_SETS.values():
        print(said((f"{weights.name}:", *weights.title.split(" "), f"(licence {weights.licence};",
                    f"sets {', '.join(weights.settings)})")))
        for item in weights.files:
            checksum = f"sha256 {item.sha256}" if item.sha256 else "no published checksum (trust on first use)"
            # The URL, the size and the checksum each whole (a URL or a digest cut in two no longer pastes); the
            # pieces' own trailing space keeps the two-space columns scripts read from the piped line.
            print(said((f"{item.url} ", f"{item.approx_size} ", checksum), indent="  "))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from launcher.backup import BackupError, back_up

    settings = _settings(args)
    try:
        report = back_up(settings, args.destination)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise CliError(f"the backup to {args.destination} failed: {exc}") from None
    if report.opened_to_others:
        print(said(("note:", report.opened_to_others), sys.stderr), file=sys.stderr)
    if args.json:
        print(json.dumps(report.as_json()))
    else:
        # Each line broken between its parts on a narrow terminal (a path stays whole), the restore command in
        # lines that end ` \\` so it still pastes as one.
        print(said((f"backed up {settings.data_dir.resolve()}", f"to {report.destination}", f"in {report.seconds:.1f} s:")))
        print(said((f"database as of {tables.when(report.snapshot_at)}:", f"{report.jobs} jobs,",
                    tables.size(report.database_bytes)), indent="  "))
        print(said(("result files:", f"{report.files_copied} copied ({tables.size(report.bytes_copied)}),",
                    f"{report.files_present} already there"
                    + (f", {report.files_removed} removed (no job of this backup names them)" if report.files_removed
                       else "")), indent="  "))
        from launcher.banner import operator_program

        print(tables.restore_command(report.destination, operator_program()))
    for name in report.missing:
        print(said((f"warning: result file {name}", "is named by the database", "but missing from the data directory"),
                   sys.stderr), file=sys.stderr)
    return 1 if report.missing else 0


def cmd_status(args: argparse.Namespace) -> int:
    """Ask a running service how it is (launcher/status.py): a few lines, or --json; the exit status says it."""
    from launcher import status as health

    metrics_url: str | None
    unrecorded = ""  # why the settings' address was asked: said beside "nothing answers" (it may be another install)
    if args.url is None:  # the local `phonos serve`, at the addresses its banner prints (PHONOS_* as it reads them)
        settings = _settings(args)
        url, metrics_url = health.default_urls(settings)
        # Where it really listens (--http-port 18931, port 0): the addresses it recorded in its data directory.
        running = recorded_address(settings.data_dir)
        if running is not None:
            url, metrics_url = running.url, running.metrics_url
        else:
            unrecorded = (f"no `phonos serve` is recorded as running from {settings.data_dir}, so its settings' "
                          "address was asked; ")
    else:  # another machine's loopback metrics are not reachable from here: asked only where --metrics-url says
        url, metrics_url = health.base_url(args.url), None
    if args.metrics_url is not None:
        metrics_url = args.metrics_url
    try:
        found = health.check(url, metrics_url)
    except health.Unreachable as exc:
        if args.json:  # a script reads the verdict from stdout too, never a traceback
            print(json.dumps({"url": url, "status": "unreachable", "error": str(exc)}))
        print(said_error(f"nothing answers as phonos at {url}: {exc} ({unrecorded or 'is `phonos serve` running? '}"
                         "another address: --url)"), file=sys.stderr)
        return health.EXIT_UNREACHABLE
    if args.json:
        print(json.dumps(found.as_json()))
    else:
        for pieces in health.lines(found, tables.size):
            print(said(pieces[1:], indent="  ") if pieces[0] == "" else said(pieces))
    return found.exit_code


def _http_url(text: str) -> str:
    """argparse type of `status --url`/`--metrics-url`: an http(s) URL with a host (not a traceback from urllib)."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise argparse.ArgumentTypeError(f"not an http:// or https:// URL: {json_value_text(text)}")
    return text


class OperatorParser(Parser):
    """The client's parser (a usage error in one line saying where the help is), that line fitted to the terminal as
    every other error of these verbs is (`said_error`): at 60 columns `phonos keys: "frob" is not a command; the
    commands are create, add, ...` ran to 100 cells and the terminal cut it mid-word. Piped: the one line it was."""

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:  # as argparse's own exit: the message on stderr, then the status
            sys.stderr.write(said_line(message.rstrip("\n"), sys.stderr) + "\n")
        sys.exit(status)


# `phonos accounts usage --help`: what each column counts, and where its figures may fall short.
ACCOUNTS_USAGE_HELP = (
    "One row per account, those without usage and locked ones too, then the total. Days are UTC days, both ends "
    "included, as GET /v1/usage counts them; the default is the calendar month so far (last month: --since "
    "2026-04-01 --until 2026-04-30). REQUESTS: the account's API requests (REST, gRPC, dashboard; refused ones "
    "too). CREDITS: credits charged less credits refunded in the period, as /v1/usage and the balance count them "
    "(a refund counts on the day it was made). Both come from usage counters kept PHONOS_USAGE_RETENTION_DAYS "
    "days (90 by default): a period reaching before that says so on stderr. JOBS and each model's column: jobs submitted in the "
    "period, deleted ones too; COMPLETED, FAILED, CANCELLED: how many of them are in that state now (the rest are "
    "pending or running). CSV: the total last, its username empty.")


def _add_accounts_usage(accounts: argparse._SubParsersAction[OperatorParser]) -> None:
    usage = accounts.add_parser("usage", help="every account's requests, credits and jobs over a period "
                                              "(a month-end chargeback)", description=ACCOUNTS_USAGE_HELP)
    period = usage.add_mutually_exclusive_group()
    period.add_argument("--days", metavar="N", type=WholeNumber(1),
                        help="the last N days, today included (1 to the usage retention, 90 by default)")
    period.add_argument("--since", metavar="YYYY-MM-DD", type=usage_table.day, help="the period's first day")
    usage.add_argument("--until", metavar="YYYY-MM-DD", type=usage_table.day,
                       help="its last day, with --since (default today)")
    usage.add_argument("--username", metavar="NAME", help="this account alone")
    usage.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    output = usage.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="print one JSON object: period, models, `accounts` and `total`")
    output.add_argument("--csv", action="store_true",
                        help="print CSV with a header row, for a spreadsheet")
    usage.set_defaults(func=cmd_accounts_usage)


def build_parser() -> argparse.ArgumentParser:
    parser = OperatorParser(prog="phonos", description="Self-hosted ESMFold, AlphaFold2 and DiffDock API",
                    epilog=EXIT_CODES_HELP)
    add_version(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="start Triton, the job service and the gateway")
    serve.add_argument("--http-host", metavar="HOST", help="gateway address to listen on (default 127.0.0.1; 0.0.0.0: every interface)")
    serve.add_argument("--http-port", metavar="PORT", type=_port, help="gateway port (default 8080)")
    serve.add_argument("--grpc-port", metavar="PORT", type=_port, help="job service gRPC port (default 50051)")
    serve.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    serve.add_argument("--metrics-port", metavar="PORT", type=_port, help="Prometheus /metrics port on loopback (default 9464)")
    serve.set_defaults(func=cmd_serve)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_command", required=True)
    create = keys.add_parser("create", help="create an account with a new API key")
    create.add_argument("--username", metavar="NAME", required=True,
                        help="the new account, made with this key as its first (more keys: `phonos keys add`, or the "
                             "account itself: POST /v1/keys, the dashboard's API keys page)")
    create.add_argument("--email", metavar="EMAIL", help="the account's email, for a new account")
    create.add_argument("--credits", metavar="N", type=int, help="starting balance (default PHONOS_DEFAULT_CREDITS)")
    create.add_argument("--rate-limit", metavar="R", type=int, help="requests per minute for this key (default PHONOS_DEFAULT_RATE_LIMIT, 60)")
    create.add_argument("--max-rate-limit", metavar="M", type=int,
                        help="highest rate limit the account may give its keys (default: the larger of 60 and --rate-limit)")
    create.add_argument("--expires-in-days", type=int, metavar="N",
                        help="the key stops working N days from now, 1-3650 (default: never)")
    create.add_argument("--read-only", action="store_true",
                        help="the key may read (jobs, results, account, usage) but not submit, cancel or change anything")
    create.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    create.add_argument("--json", action="store_true", help="print one JSON object with api_key, account_id and account_row")
    create.set_defaults(func=cmd_keys_create)

    more = keys.add_parser("add", help="give an existing account another API key (within its limit of working keys)")
    more.add_argument("--username", metavar="NAME", required=True, help="the account that gets the key")
    more.add_argument("--name", metavar="NAME", help="the key's name, up to 100 characters (e.g. where it is used)")
    more.add_argument("--rate-limit", type=int, metavar="R",
                      help="requests per minute, 1 to the account's maximum (default PHONOS_DEFAULT_RATE_LIMIT, at "
                           "most that maximum)")
    more.add_argument("--expires-in-days", type=int, metavar="N",
                      help="the key stops working N days from now, 1-3650 (default, or 0: never)")
    more.add_argument("--read-only", action="store_true",
                      help="the key may read (jobs, results, account, usage) but not submit, cancel or change anything")
    more.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    more.add_argument("--json", action="store_true",
                      help="print one JSON object: api_key, account_id, account_row and the key as GET /v1/keys shows it")
    more.set_defaults(func=cmd_keys_add)

    listing = keys.add_parser("list", help="list an account's keys (never the secrets)")
    listing.add_argument("--username", metavar="NAME", required=True, help="the account whose keys to list")
    listing.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    listing.add_argument("--json", action="store_true", help="print one JSON object with a `keys` list")
    listing.set_defaults(func=cmd_keys_list)

    revoke = keys.add_parser("revoke", help="revoke a key: its next request is refused")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id, e.g. key_5f0c2a9be1d34c07 (see `phonos keys list`)")
    revoke.add_argument("--confirm-last-key", action="store_true",
                        help="allow revoking the account's last active key (it then has no working key)")
    revoke.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    revoke.add_argument("--json", action="store_true", help="print the revoked key as one JSON object")
    revoke.set_defaults(func=cmd_keys_revoke)

    update = keys.add_parser("update", help="rename a key, change its rate limit or its expiry")
    update.add_argument("key_id", metavar="KEY_ID", help="the key's id (see `phonos keys list`)")
    update.add_argument("--name", metavar="NAME", help="the key's new name, up to 100 characters")
    update.add_argument("--rate-limit", metavar="R", type=int, help="requests per minute, 1 to the account's maximum")
    update.add_argument("--expires-in-days", type=int, metavar="N",
                        help="the key stops working N days from now, 1-3650; 0: it never expires")
    update.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    update.add_argument("--json", action="store_true", help="print the updated key as the API's JSON")
    update.set_defaults(func=cmd_keys_update)

    accounts = sub.add_parser("accounts", help="every account at a glance").add_subparsers(dest="accounts_command",
                                                                                          required=True)
    every = accounts.add_parser("list", help="every account: balance, active keys, jobs, sign-in, last use")
    every.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    every.add_argument("--json", action="store_true", help="print one JSON object with an `accounts` list")
    every.set_defaults(func=cmd_accounts_list)
    activity = accounts.add_parser("activity", help="an account's activity log, newest first: who changed its keys, "
                                                    "password, webhooks or share links, and from where (kept since "
                                                    "the upgrade that added the log: nothing from before it)")
    activity.add_argument("--username", metavar="NAME", required=True, help="the account whose log to show")
    activity.add_argument("--limit", type=int, default=50, metavar="N", help="entries, 1-100 (default 50)")
    activity.add_argument("--offset", type=int, default=0, metavar="N",
                          help="entries to skip (the next page: --offset 50)")
    activity.add_argument("--action", metavar="ACTION", help="only this action's entries, e.g. api_key.created")
    activity.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    activity.add_argument("--json", action="store_true", help="print one JSON object with an `entries` list")
    activity.set_defaults(func=cmd_accounts_activity)
    change = accounts.add_parser("update", help="change an account's maximum key rate limit (its keys keep theirs)")
    change.add_argument("--username", metavar="NAME", required=True, help="the account to change")
    change.add_argument("--max-rate-limit", metavar="M", type=int, required=True,
                        help="the most requests per minute any of its keys may be given; not below a key's own limit")
    change.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    change.add_argument("--json", action="store_true", help="print one JSON object: username, max_rate_limit, was")
    change.set_defaults(func=cmd_accounts_update)

    lock = accounts.add_parser("lock", help="end every way into an account (someone leaving): revoke its keys, clear "
                                            "its password and sign out its sessions, revoke its share links, delete "
                                            "its webhooks; its jobs, results and credits stay")
    lock.add_argument("--username", metavar="NAME", required=True, help="the account to lock")
    lock.add_argument("--yes", action="store_true", help="do it (keys revoked and webhooks deleted cannot come back)")
    lock.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    lock.add_argument("--json", action="store_true", help="print one JSON object with what was ended")
    lock.set_defaults(func=cmd_accounts_lock)
    _add_accounts_usage(accounts)

    credits = sub.add_parser("credits", help="account balances").add_subparsers(dest="credits_command", required=True)
    top_up = credits.add_parser("add", help="add credits to an account (a negative amount takes them back)")
    top_up.add_argument("--username", metavar="NAME", required=True, help="the account to credit")
    top_up.add_argument("--amount", metavar="N", type=int, required=True, help="credits to add; negative to take back")
    top_up.add_argument("--note", metavar="TEXT", help="why, for the account's credit history (default: added/taken back by an "
                                       "operator)")
    top_up.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    top_up.add_argument("--json", action="store_true", help="print one JSON object with the new balance")
    top_up.set_defaults(func=cmd_credits_add)
    history = credits.add_parser("history", help="an account's credit history, newest first: every change and why")
    history.add_argument("--username", metavar="NAME", required=True, help="the account whose history to show")
    history.add_argument("--limit", metavar="N", type=int, default=50, help="entries, 1-100 (default 50)")
    history.add_argument("--offset", metavar="N", type=int, default=0, help="entries to skip (the next page: --offset 50)")
    history.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    history.add_argument("--json", action="store_true", help="print one JSON object with an `entries` list")
    history.set_defaults(func=cmd_credits_history)

    users = sub.add_parser("users", help="dashboard sign-in").add_subparsers(dest="users_command", required=True)
    password = users.add_parser("set-password", help="set a dashboard password (signs out open sessions)")
    password.add_argument("--username", metavar="NAME", required=True, help="the account that signs in with it")
    password.add_argument("--password-stdin", action="store_true", help="read the password from stdin's first line")
    password.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    password.set_defaults(func=cmd_users_set_password)

    db = sub.add_parser("db", help="AlphaFold2 sequence databases").add_subparsers(dest="db_command", required=True)
    build = db.add_parser("build", help="build a small MSA search database from a FASTA file (tests, demos)")
    build.add_argument("fasta", type=Path, metavar="FASTA", help="the sequences to search (a FASTA file)")
    build.add_argument("outdir", type=Path, metavar="OUTDIR", help="the folder to write the database into")
    build.add_argument("--name", default="uniref90", choices=build_db.DATABASE_NAMES,
                       help="which AlphaFold2 database it stands in for (default uniref90)")
    build.set_defaults(func=cmd_db_build)

    from launcher.weights_table import WEIGHT_SETS

    weights = sub.add_parser("weights", help="official model weights").add_subparsers(dest="weights_command",
                                                                                       required=True)
    fetch = weights.add_parser("fetch", help="download, verify and unpack official weights; prints the settings")
    fetch.add_argument("name", choices=sorted(WEIGHT_SETS), metavar="SET",  # the choices in braces ran past 60
                       help=f"the weight set: {', '.join(sorted(WEIGHT_SETS))} (see `phonos weights list`)")
    fetch.add_argument("--dir", metavar="DIR", type=Path, default=Path("weights"), help="parent directory (default ./weights)")
    fetch.add_argument("--mirror", metavar="URL", type=_mirror,
                       help="fetch https://HOST/PATH from MIRROR/HOST/PATH instead (an internal mirror)")
    fetch.set_defaults(func=cmd_weights_fetch)
    listing = weights.add_parser("list", help="what `fetch` downloads, from where, with which checksums")
    listing.set_defaults(func=cmd_weights_list)

    backup = sub.add_parser("backup", help="copy the data directory's state while the service runs (SQLite)")
    backup.add_argument("destination", type=Path,
                        help="a new or empty directory, or an earlier backup to bring up to date")
    backup.add_argument("--data-dir", metavar="DIR", type=Path, help="state directory (default ./var)")
    backup.add_argument("--json", action="store_true", help="print one JSON object with what was copied")
    backup.set_defaults(func=cmd_backup)

    status = sub.add_parser("status", help="is the running service healthy? models, database, queues, disk",
                            epilog=STATUS_EXIT_CODES_HELP)
    status.add_argument("--url", metavar="URL", type=_http_url,
                        help="the gateway to ask (default: the local `phonos serve` running from the data "
                             "directory, where it listens; else PHONOS_HTTP_HOST/PORT)")
    status.add_argument("--data-dir", metavar="DIR", type=Path,
                        help="the data directory of the local `phonos serve` to ask (default ./var)")
    status.add_argument("--metrics-url", metavar="URL", type=_http_url,
                        help="its Prometheus /metrics (default: the local one, PHONOS_METRICS_HOST/PORT; none "
                             "with --url)")
    status.add_argument("--json", action="store_true", help="print one JSON object (also when unreachable)")
    status.set_defaults(func=cmd_status)
    add_user_commands(sub)  # the users' verbs, listed in --help (main() hands them to the client package)
    name_the_verbs(parser)  # COMMAND in usage, a missing or unknown verb said in words (not `keys_command`)
    return parser


def main(argv: list[str] | None = None) -> int:
    """The `phonos` console script. A reader that stops early (`phonos keys list | head -1`) ends the command
    quietly with EXIT_CLOSED_PIPE (phonos_client.pipes), whichever verb was printing."""
    words = list(sys.argv[1:] if argv is None else argv)
    status = ending_quietly_on_a_closed_pipe(lambda: _main(words))
    if argv is None and words[:1] == ["serve"]:  # the program (not a test's call): its children are stopped
        end_without_teardown(status)  # and reaped; the interpreter's teardown is 0.4-0.6 s of nothing
    return status


def sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {name: sub for action in parser._actions if isinstance(action, argparse._SubParsersAction)
            for name, sub in action.choices.items()}


def command_before_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """`phonos accounts --data-dir var list` is refused saying the command goes first: argparse took the option's
    value for the command and said `"var" is not a command`, which sent the operator after their path."""
    if len(argv) < 2 or not argv[1].startswith("-") or argv[1] in ("-h", "--help"):
        return
    verb = sub_commands(parser).get(argv[0])
    commands = list(sub_commands(verb)) if verb is not None else []
    if verb is None or not commands:
        return
    named = next((word for word in argv[2:] if word in commands), None)
    rest = [word for word in argv[1:] if word != named]
    example = f" (phonos {argv[0]} {named} {shlex.join(rest)})" if named else ""
    verb.error(f"say what to do before the options: {', '.join(commands)}{example}")


def _main(argv: list[str]) -> int:
    if argv and argv[0] not in OPERATOR_VERBS and not argv[0].startswith("-"):
        from phonos_client.cli import main as user_main  # the users' verbs

        return int(user_main(argv))
    parser = build_parser()
    command_before_options(parser, argv)
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the verb's parser, whose --help lists what it takes (the top one's lists the verbs)
        verb = " ".join(filter(None, (args.command, getattr(args, f"{args.command}_command", None))))
        OperatorParser(prog=f"phonos {verb}").error(f"unrecognized arguments: {' '.join(extra)}")
    private_umask()  # the data dir holds keys' hashes, webhook secrets and every job's data
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # Ctrl-C at a prompt (set-password) or in a long copy (backup): not a traceback
        print("\ninterrupted", file=sys.stderr)
        return EXIT["interrupted"]
    except CliError as exc:
        print(said_error(in_flag_words(str(exc), argv)), file=sys.stderr)
        return EXIT["usage"]


if __name__ == "__main__":
    sys.exit(main())
