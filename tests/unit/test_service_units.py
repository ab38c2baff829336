"""Unit tests: state machine, schema, named queries, params, rate limits, webhook rules, error table."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import sqlite3
from pathlib import Path

import asyncpg
import grpc
import pytest

from jobservice import errors, paging, servicer
from jobservice.db import SQL_DIR, Database, connect, queries
from jobservice.errors import InvalidArgument, RateLimited
from jobservice.modelspecs import alphafold2, esmfold
from jobservice.modelspecs.params import ParamReader, protein_chains, protein_sequence
from jobservice.ratelimit import RateLimiter
from jobservice.schema_snapshot import snapshot
from jobservice.states import ACTIVE, TERMINAL, TRANSITIONS, JobStatus
from jobservice.status_map import grpc_status
from jobservice.webhooks import sign, validate_events, validate_url
from phonos.v1 import phonos_pb2 as pb

pytestmark = pytest.mark.unit


def test_state_sets_partition_the_states() -> None:
    assert ACTIVE | TERMINAL == set(JobStatus) and not ACTIVE & TERMINAL
    assert all(not TRANSITIONS[s] for s in TERMINAL)
    assert TRANSITIONS[JobStatus.PENDING] == {JobStatus.RUNNING, JobStatus.FAILED, JobStatus.CANCELLED}


def test_transition_queries_only_move_from_allowed_states(tmp_path: Path) -> None:
    async def run() -> dict[str, list[str]]:
        db = await Database.open(tmp_path / "t.sqlite3")
        seen: dict[str, list[str]] = {}
        try:
            async with db.transaction() as tx:
                await tx.execute("insert_account", {"username": "u", "email": None, "credits": 0, "now": 0})
            for start in JobStatus:
                for name, params in {
                    "claim_job": {},
                    "complete_job": {"result_json": "{}"},
                    "fail_job": {"error": "e", "error_code": "model_error", "refund": False},
                    "cancel_job": {"account_id": 1},
                    "requeue_job": {"reason": "service_restarted", "max_attempts": 3},  # why it went back (0075)
                }.items():
                    job_id = f"{start}-{name}"
                    await db.write_one("insert_job", {"id": job_id, "account_id": 1, "model": "m", "name": None,
                                                      "request_json": "{}", "credits_used": 0, "endpoint": "/v1/predict",
                                                      "now": 0})
                    with sqlite3.connect(tmp_path / "t.sqlite3") as side:  # put the job in the starting state
                        side.execute("UPDATE jobs SET status = ? WHERE id = ?", (str(start), job_id))
                    row = await db.write_one(name, {"id": job_id, "now": 1, **params})
                    if row is not None:
                        seen.setdefault(name, []).append(str(start))
        finally:
            await db.close()
        return seen

    moved = asyncio.run(run())
    assert moved == {
        "claim_job": ["pending"],
        "complete_job": ["running"],
        "fail_job": ["pending", "running"],
        "cancel_job": ["pending", "running"],
        "requeue_job": ["running"],
    }
    for name, sources in moved.items():
        target = {"claim_job": "running", "complete_job": "completed", "fail_job": "failed",
                  "cancel_job": "cancelled", "requeue_job": "pending"}[name]
        assert all(JobStatus(target) in TRANSITIONS[JobStatus(s)] for s in sources)


def test_migrations_produce_the_committed_schema() -> None:
    assert asyncio.run(snapshot()) == (SQL_DIR / "schema.sql").read_text()


class _AnyParams(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> None:
        return None


def test_every_named_query_compiles_against_the_schema(tmp_path: Path) -> None:
    assert {"insert_job", "claim_job", "cancel_job", "claim_due_deliveries"} <= set(queries())
    async def migrate() -> None:
        await (await Database.open(tmp_path / "q.sqlite3")).close()

    asyncio.run(migrate())
    with contextlib.closing(connect(tmp_path / "q.sqlite3", read_only=True)) as conn:  # as the service connects
        for name, sql in queries().items():
            conn.execute(f"EXPLAIN {sql}", _AnyParams())  # raises on unknown tables, columns or syntax
            assert sql.strip(), name


def test_param_reader_types_ranges_and_unknown_keys() -> None:
    reader = ParamReader("ESMFold", {"num_recycles": 4.0, "flag": True, "mode": "a"})
    assert reader.integer("num_recycles", 1, 1, 24) == 4
    assert reader.boolean("flag", False) is True
    assert reader.choice("mode", "a", {"a", "b"}) == "a"
    assert reader.integer("absent", 7) == 7
    reader.finish()
    for bad in ({"n": 1.5}, {"n": True}, {"n": "3"}, {"n": float("nan")}):
        with pytest.raises(InvalidArgument):
            ParamReader("M", bad).integer("n", 1)
    with pytest.raises(InvalidArgument, match="between 1 and 24"):
        ParamReader("M", {"n": 25}).integer("n", 1, 1, 24)
    with pytest.raises(InvalidArgument, match="true or false"):
        ParamReader("M", {"b": 1}).boolean("b", True)
    stray = ParamReader("M", {"typo": 1})
    with pytest.raises(InvalidArgument, match="Unknown parameter"):
        stray.finish()


@pytest.mark.parametrize(("value", "said"), [
    (49, "got 49"), (-1.0, "got -1"), (2.0**53, "got 9007199254740992"),
    # qa: 99999999999999999999999 reached the job service as the double 1e+23 and was repeated as "got 1e+23"
    (1e23, "got a number above 48"), (-1e23, "got a number below 0"), (1e300, "got a number above 48"),
])
def test_an_integer_out_of_range_is_repeated_as_sent_or_as_which_side_it_lies(value: float, said: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        ParamReader("ESMFold", {"num_recycles": value}).integer("num_recycles", 4, 0, 48)
    assert str(refused.value.message) == f"params.num_recycles must be between 0 and 48 for ESMFold, {said}"


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (None, "null"), (3.0, "3"), (2.5, "2.5"), (-0.0, "0"), (1e300, "1e+300"),
    ("yes", '"yes"'), ("it's", '"it\'s"'), ("b\u00fccher", '"b\u00fccher"'), ("a\nb", '"a\\nb"'),
    ([1.0, True, None], "[1, true, null]"), ({"a": False}, '{"a": false}'),
    ("x" * 65, '"' + "x" * 64 + '"... (65 characters)'),
    (list(range(30)), "[" + ", ".join(map(str, range(30)))[:63] + "... (110 characters of JSON)"),
])
def test_json_value_text_words_values_as_json(value: object, text: str) -> None:
    assert errors.json_value_text(value) == text


def test_protein_sequence_rules() -> None:
    assert protein_sequence("M", " mk tv\n", 10) == "MKTV"
    for bad, needle in (("", "empty"), ("MKB1", "invalid"), ("M" * 11, "at most 10")):
        with pytest.raises(InvalidArgument, match=needle):
            protein_sequence("M", bad, 10)


class _NoOutputs:
    account_id: int | None = None  # JobOutputs.account_id: no account

    async def structure_pdb(self, job_id: str) -> bytes:
        raise AssertionError("a structure model reads no other job")


# Characters str.upper() maps onto amino-acid letters (qa: "MKßTV" was folded and charged as MKSSTV) and ones it
# changes (é was named as É): each is refused by every sequence check, named as the user sent it.
_NOT_ASCII_LETTERS = [("\u00df", "U+00DF LATIN SMALL LETTER SHARP S"), ("\ufb00", "U+FB00 LATIN SMALL LIGATURE FF"),
                      ("\u0131", "U+0131 LATIN SMALL LETTER DOTLESS I"), ("\u017f", "U+017F LATIN SMALL LETTER LONG S"),
                      ("\ufb01", "U+FB01 LATIN SMALL LIGATURE FI"),
                      ("\u00e9", "U+00E9 LATIN SMALL LETTER E WITH ACUTE"), ("\u212a", "U+212A KELVIN SIGN")]
_SEQUENCE_CHECKS = {
    "protein_sequence": lambda text: protein_sequence("M", text, 100),
    "protein_chains": lambda text: protein_chains("M", text, 100, 4),
    "esmfold": lambda text: asyncio.run(esmfold.build_spec({}).validate(text, {}, _NoOutputs())),
    "alphafold2": lambda text: asyncio.run(alphafold2.build_spec({}).validate(text, {}, _NoOutputs())),
}


@pytest.mark.parametrize("check", sorted(_SEQUENCE_CHECKS))
@pytest.mark.parametrize(("character", "name"), _NOT_ASCII_LETTERS)
def test_a_character_that_is_no_ascii_letter_is_refused_as_sent(check: str, character: str, name: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(f"sequence contains invalid amino-acid letters: {name}. ")):
        _SEQUENCE_CHECKS[check](f"mk{character}tv")


@pytest.mark.parametrize("check", ["protein_chains", "esmfold", "alphafold2"])
def test_a_complex_names_the_chain_of_a_character_that_is_no_ascii_letter(check: str) -> None:
    with pytest.raises(InvalidArgument, match="sequence chain 2 contains invalid amino-acid letters: U[+]00DF "):
        _SEQUENCE_CHECKS[check]("MKTVLLAG:mk\u00dftv")


@pytest.mark.parametrize("check", sorted(_SEQUENCE_CHECKS))
def test_lower_case_ascii_and_any_whitespace_are_still_accepted(check: str) -> None:
    result = _SEQUENCE_CHECKS[check]("mktv\u00a0lla\u2003g\n")  # no-break and em spaces, as pasted from a page
    assert (result if isinstance(result, str) else "".join(result) if isinstance(result, list) else
            result.sequence) == "MKTVLLAG"


def test_sliding_window_rate_limit() -> None:
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0], wall=lambda: now[0])
    states = [limiter.hit("k", 3) for _ in range(3)]
    assert [s.remaining for s in states] == [2, 1, 0]
    with pytest.raises(RateLimited) as refused:
        limiter.hit("k", 3)
    assert refused.value.retry_after_s == 60 and "rate limit of 3 requests per minute" in refused.value.message
    now[0] += 30
    with pytest.raises(RateLimited):
        limiter.hit("k", 3)  # still within the rolling minute: no boundary burst
    now[0] += 30.5
    assert limiter.hit("k", 3).remaining == 2
    assert limiter.hit("other", 3).remaining == 2


def test_the_rate_limiters_table_forgets_keys_gone_quiet() -> None:
    """A key per share-link client address (IPv6 /64) and per session: the table kept every one ever seen."""
    now = [1000.0]
    limiter = RateLimiter(clock=lambda: now[0], wall=lambda: now[0])
    for n in range(500):
        limiter.hit(f"shared:2001:db8:{n}::/64", 60)
    assert len(limiter) == 500
    now[0] += 61
    limiter.hit("key:still-here", 60)
    assert len(limiter) == 1
    assert limiter.hit("key:still-here", 60).remaining == 58  # a key in the window keeps its count


def test_webhook_url_and_event_rules() -> None:
    assert validate_url("https://example.org/h", allow_http_loopback=False) == "https://example.org/h"
    assert validate_url("http://127.0.0.1:8/h", allow_http_loopback=True)
    assert validate_url("http://localhost/h", allow_http_loopback=True)
    bad = [("http://127.0.0.1/h", False), ("http://10.0.0.1/h", True), ("https:///x", True),
           ("https://127.0.0.1:9000/h", False), ("https://10.1.2.3/h", False), ("https://169.254.169.254/x", False),
           ("https://localhost/h", False), ("https://[::1]/h", False)]
    for url, allow in bad:
        with pytest.raises(InvalidArgument):
            validate_url(url, allow_http_loopback=allow)
    assert validate_events([]) == ("job.started", "job.completed", "job.failed")
    assert validate_events(["job.failed", "job.started"]) == ("job.started", "job.failed")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "https://127.0.0.1:9000/h", "http://localhost/h",
                                 "https://[::1]/h", "http://localhost./h"])
def test_a_receiver_on_this_machine_is_refused_with_the_setting_that_allows_it(url: str) -> None:
    """The first webhook a person tries is a receiver on their own machine: the refusal names the setting (it
    said "must use https://", and https://127.0.0.1 was then refused as "not a public host")."""
    with pytest.raises(InvalidArgument, match=r"this machine \(loopback\).*PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK=true"):
        validate_url(url, allow_http_loopback=False)
    assert validate_url(url, allow_http_loopback=True) == url


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = sign("whsec_x", 1700000000, '{"a":1}')
    expected = hmac.new(b"whsec_x", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"


@pytest.mark.parametrize(("error", "code", "reason"), [
    (errors.InvalidArgument("x"), grpc.StatusCode.INVALID_ARGUMENT, None),
    (errors.Unauthenticated("x"), grpc.StatusCode.UNAUTHENTICATED, None),
    (errors.InsufficientCredits("x"), grpc.StatusCode.FAILED_PRECONDITION, "INSUFFICIENT_CREDITS"),
    (errors.NotFound("x"), grpc.StatusCode.NOT_FOUND, None),
    (errors.Conflict("x"), grpc.StatusCode.FAILED_PRECONDITION, None),
    (errors.RateLimited("x", limit=1, retry_after_s=2, reset_epoch_s=3), grpc.StatusCode.RESOURCE_EXHAUSTED, None),
    (errors.DatabaseUnavailable(), grpc.StatusCode.UNAVAILABLE, None),
    (errors.RequestTimeout("x"), grpc.StatusCode.DEADLINE_EXCEEDED, "REQUEST_TIMEOUT"),
    (errors.RequestTooLarge("x"), grpc.StatusCode.RESOURCE_EXHAUSTED, None),
])
def test_domain_errors_map_to_grpc(error: errors.PhonosError, code: grpc.StatusCode, reason: str | None) -> None:
    status, metadata = grpc_status(error)
    assert status == code
    meta = dict(metadata)
    assert meta["phonos-error-title"] == error.title
    assert meta.get("phonos-error-reason") == reason


def test_a_database_out_of_reach_is_unavailable_with_retry_after_and_no_address() -> None:
    _, metadata = grpc_status(errors.DatabaseUnavailable())
    assert dict(metadata)["retry-after"] == str(errors.DatabaseUnavailable.retry_after_s)
    assert dict(metadata)["phonos-error-title"] == "Service unavailable"


@pytest.mark.parametrize(("raised", "outage"), [
    (ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"), True),
    (OSError(113, "No route to host"), True),
    (asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"), True),
    (asyncpg.CannotConnectNowError("the database system is starting up"), True),
    (asyncpg.AdminShutdownError("terminating connection due to administrator command"), True),
    (asyncpg.UndefinedTableError('relation "jobs" does not exist'), False),  # a bug: stays a 500
    (asyncpg.QueryCanceledError("canceling statement due to statement timeout"), False),
    (asyncpg.InterfaceError("cannot perform operation: another operation is in progress"), False),
    (sqlite3.OperationalError("database is locked"), False),  # SQLite is never an outage to wait out
])
def test_only_a_database_out_of_reach_becomes_database_unavailable(raised: Exception, outage: bool) -> None:
    from jobservice.pg import constraints

    with pytest.raises(errors.DatabaseUnavailable if outage else type(raised)) as caught, constraints():
        raise raised
    if outage:
        assert caught.value.__cause__ is raised
        assert "5432" not in caught.value.message and "127.0.0.1" not in caught.value.message


def test_an_sqlite_store_is_always_reachable(tmp_path: Path) -> None:
    async def main() -> bool:
        db = await Database.open(tmp_path / "phonos.sqlite3")
        try:
            return await db.reachable()
        finally:
            await db.close()

    assert asyncio.run(main()) is True


def test_settings_are_read_from_prefixed_variables_by_field_type(tmp_path: Path) -> None:
    from phonos_config.env import read_settings
    from phonos_config.service import ServiceSettings

    settings = read_settings(ServiceSettings, {
        "PHONOS_DATA_DIR": str(tmp_path), "PHONOS_GRPC_PORT": "0", "PHONOS_TRITON_TIMEOUT_S": "0.5",
        "PHONOS_WEBHOOK_ALLOW_HTTP_LOOPBACK": "yes", "PHONOS_MODELS": " esmfold , diffdock ,", "PHONOS_HTTP_HOST": "",
    }, "PHONOS_")
    assert settings.data_dir == tmp_path and settings.grpc_port == 0 and settings.triton_timeout_s == 0.5
    assert settings.webhook_allow_http_loopback is True and settings.models == ("esmfold", "diffdock")
    assert settings.http_host == "127.0.0.1"  # empty keeps the default
    with pytest.raises(ValueError, match="PHONOS_GRPC_PORT must be an integer"):
        read_settings(ServiceSettings, {"PHONOS_GRPC_PORT": "many"}, "PHONOS_")


def test_read_page_reads_at_an_offset_or_one_more_after_a_placed_cursor() -> None:
    # paging.read_page serves the four lists: an offset page never asks where a cursor is; a cursor page reads
    # one entry more than the limit (it only says that more follow); a cursor placed nowhere is a 400.
    entries = [str(n) for n in range(10, 0, -1)]  # newest first
    asked: list[str] = []

    async def read(limit: int, offset: int, after: int | None) -> tuple[list[str], int]:
        rest = entries if after is None else entries[entries.index(str(after)) + 1:]
        return rest[offset:offset + limit], len(entries)

    async def place(text: str) -> int | None:
        asked.append(text)
        return int(text) if text in entries else None

    def page(starting_after: str | None, limit: int, offset: int = 0) -> tuple[list[str], paging.PageInfo]:
        return asyncio.run(paging.read_page(starting_after, limit=limit, offset=offset, read=read, place=place,
                                            what="an entry", id_of=str))

    assert page(None, 3, offset=6) == (["4", "3", "2"], paging.PageInfo(10, 3, 6, True, "2")) and asked == []
    assert page(None, 3, offset=7) == (["3", "2", "1"], paging.PageInfo(10, 3, 7, False, None))
    assert page("8", 3) == (["7", "6", "5"], paging.PageInfo(10, 3, 0, True, "5")) and asked == ["8"]
    assert page("3", 2) == (["2", "1"], paging.PageInfo(10, 2, 0, False, None))
    with pytest.raises(InvalidArgument, match='starting_after "11" is not an entry'):
        page("11", 3)


def test_optional_request_fields_are_none_only_when_unset() -> None:
    # The list rpcs pass what a request leaves unset as None; a field set to 0 or "" is set.
    unset = servicer._optional(pb.ListCreditEntriesRequest(), "limit", "offset", "starting_after")
    assert unset == {"limit": None, "offset": None, "starting_after": None}
    given = pb.ListAccountActivityRequest(limit=0, offset=5, action="")
    assert servicer._optional(given, "limit", "offset", "starting_after", "action") == {
        "limit": 0, "offset": 5, "starting_after": None, "action": ""}
