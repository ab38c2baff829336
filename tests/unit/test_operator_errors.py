"""An operator's everyday mistakes get one line saying what to change, exit status 2, and nothing left
half-open: a data directory that cannot be used, a PostgreSQL that does not answer, a port that is taken."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from phonos_client.pipes import EXIT_CLOSED_PIPE

from jobservice import __main__ as jobservice_main
from jobservice.datadir_lock import DataDirLock
from launcher import cli
from launcher import serve as serve_module


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens there once the socket is closed


@pytest.mark.unit
def test_a_data_dir_that_cannot_be_used_is_one_line(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("")
    assert cli.main(["keys", "create", "--username", "ada", "--data-dir", str(tmp_path / "a-file" / "var")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot use the data directory {tmp_path / 'a-file' / 'var'}: ")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.unit
@pytest.mark.parametrize("command", [["keys", "list", "--username", "ada"], ["keys", "revoke", "key_5f0c2a9be1d34c07"],
                                     ["users", "set-password", "--username", "ada", "--password-stdin"]])
def test_commands_on_existing_state_do_not_create_a_data_dir(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             command: list[str]) -> None:
    operator_env.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    mistyped = tmp_path / "vra"  # e.g. --data-dir mistyped, or run from another directory than usual
    assert cli.main([*command, "--data-dir", str(mistyped)]) == 2
    said = capsys.readouterr().err
    assert said.startswith(f"error: no phonos database in {mistyped}: check --data-dir")
    assert "for a service on PostgreSQL, set PHONOS_DATABASE_URL" in said  # a PostgreSQL install's operator, too
    assert not mistyped.exists()


@pytest.mark.unit
@pytest.mark.parametrize("buffering", [-1, 1])  # a pipe's block buffer (the error comes at the last flush), lines
def test_a_listing_cut_short_by_its_reader_is_no_traceback(operator_env: pytest.MonkeyPatch, buffering: int) -> None:
    """`phonos weights list | head -1`: the reader closes the pipe early."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    saved = os.dup(1)
    try:
        os.dup2(write_end, 1)  # the command's stdout is the pipe nobody reads any more
        operator_env.setattr("sys.stdout", os.fdopen(1, "w", buffering=buffering, closefd=False))
        assert cli.main(["weights", "list"]) == EXIT_CLOSED_PIPE == 141
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(write_end)


@pytest.mark.unit
def test_a_postgresql_that_does_not_answer_is_one_line_without_the_password(
        operator_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = _closed_port()
    operator_env.setenv("PHONOS_DATABASE_URL", f"postgresql://phonos:s3cret@127.0.0.1:{port}/phonos")
    assert cli.main(["keys", "list", "--username", "ada", "--data-dir", str(tmp_path / "var")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open the database at PHONOS_DATABASE_URL: ")
    assert "s3cret" not in err and "Traceback" not in err
    assert err == (f"error: cannot open the database at PHONOS_DATABASE_URL: PostgreSQL at 127.0.0.1:{port} refused "
                   "the connection: is it running, and listening on that address?\n")


@pytest.mark.unit
def test_a_database_url_with_a_port_that_is_no_number_is_one_line_and_creates_nothing(
        operator_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Was: a 40-line traceback ending in `invalid literal for int()`, exit status 1."""
    operator_env.setenv("PHONOS_DATABASE_URL", "postgresql://phonos:s3cret@127.0.0.1:notaport/phonos")
    assert cli.main(["accounts", "list", "--data-dir", str(tmp_path / "var")]) == 2
    err = capsys.readouterr().err
    assert err == "error: PHONOS_DATABASE_URL's port must be a number from 1 to 65535, got 'notaport'\n"
    assert not (tmp_path / "var").exists()


@pytest.mark.unit
@pytest.mark.parametrize("password", ["ab/cd+ef=", "a#b", "p@ss", "why?not",
                                      # a security review's: the start quoted as the port, or the end read as the host
                                      "Tr0ub4dor?x=1", "S3cretPart?k=v&z=9", "ab/cd?e=f", "p@ssw0rdTail/xyz",
                                      "pw?sslmode=TAIL"])
def test_a_password_with_a_character_the_url_reserves_is_said_without_quoting_it(
        operator_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], password: str) -> None:
    """Was: "port must be a number ..., got 'ab'" (the password's start) for `openssl rand -base64`'s passwords, or
    a retried connection to a host read from the password's end."""
    operator_env.setenv("PHONOS_DATABASE_URL", f"postgresql://phonos:{password}@127.0.0.1:5432/phonos")
    assert cli.main(["accounts", "list", "--data-dir", str(tmp_path / "var")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: PHONOS_DATABASE_URL's user name or password holds a character a URL reserves")
    assert "percent-encode" in err and "%40" in err
    assert not any(piece in err for piece in (password, password[:2], password[-3:])), err
    assert not (tmp_path / "var").exists()


@pytest.mark.unit
@pytest.mark.parametrize(("url", "pgpassword"), [
    ("postgresql://phonos@postgres:5432/phonos", "change-me"),  # deploy/kubernetes/postgres.yaml applied as it is
    ("postgresql://phonos:change-me@postgres:5432/phonos", ""),
])
def test_the_manifests_placeholder_database_password_is_refused(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str], url: str,
                                                                pgpassword: str) -> None:
    """As the Triton secret's placeholder is: the manifests' password, which anyone can read in the repository."""
    operator_env.setenv("PHONOS_DATABASE_URL", url)
    operator_env.setenv("PGPASSWORD", pgpassword)
    assert cli.main(["accounts", "list", "--data-dir", str(tmp_path / "var")]) == 2
    assert capsys.readouterr().err.startswith("error: the database password is the example manifest's placeholder")
    assert not (tmp_path / "var").exists()


@pytest.mark.unit
def test_a_percent_encoded_password_passes_the_check() -> None:
    from phonos_config.service import check_database_url

    check_database_url("postgresql://phonos:ab%2Fcd%2Bef%3D%40%23@127.0.0.1:5432/phonos?sslmode=require")
    check_database_url("postgresql://phonos:pa:ss@db1:5432,db2:5433/phonos")  # a colon in the password is fine


@pytest.mark.unit
@pytest.mark.parametrize("url", [
    "postgresql:///phonos?host=/run/pg&port=5432&user=phonos&application_name=ops@lab",
    "postgresql://db1:5432/phonos?sslcert=/home/me@corp/c.pem&sslmode=verify-full",
    "postgresql:///phonos?host=/run/pg&user=phonos@server",
    "postgresql://[::1]/phonos?user=phonos@server",  # an IPv6 literal's colons are no port
    "postgresql://db1:5432,db2:5433/phonos?application_name=ops@lab",
])
def test_an_at_sign_in_a_query_parameters_value_is_the_urls_own(url: str) -> None:
    """Refused after an upgrade as a password holding a reserved character, in URLs without a password (c1067969
    took them): only an @ where the password's cut-off end would land (path, fragment, a parameter's name) is."""
    from phonos_config.service import check_database_url

    check_database_url(url)


@pytest.mark.unit
def test_a_postgresql_that_never_answers_says_where_and_how_long_not_nothing(
        operator_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A server that takes the connection and then says nothing (a firewall dropping packets, a stopped process)
    was `error: cannot open the database at PHONOS_DATABASE_URL: ` and no reason: asyncio's TimeoutError is empty."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # the kernel completes the handshake; nothing ever answers
        port = silent.getsockname()[1]
        operator_env.setenv("PHONOS_DATABASE_URL", f"postgresql://phonos:s3cret@127.0.0.1:{port}/phonos")
        operator_env.setenv("PHONOS_DATABASE_CONNECT_TIMEOUT_S", "0.3")
        assert cli.main(["accounts", "list", "--data-dir", str(tmp_path / "var")]) == 2
    assert capsys.readouterr().err == (
        f"error: cannot open the database at PHONOS_DATABASE_URL: PostgreSQL at 127.0.0.1:{port} did not answer "
        "within 0.3 s (PHONOS_DATABASE_CONNECT_TIMEOUT_S): a firewall dropping the packets, a wrong address, or "
        "the server overloaded\n")


@pytest.mark.integration
@pytest.mark.parametrize("flag", ["--http-port", "--grpc-port", "--metrics-port"])
def test_a_taken_port_names_its_setting_and_frees_the_data_dir(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str], taken_port: int,
                                                               flag: str) -> None:
    operator_env.setenv("PHONOS_TRITON_URL", f"127.0.0.1:{_closed_port()}")
    ports = {"--http-port": "0", "--grpc-port": "0", "--metrics-port": "0", flag: str(taken_port)}
    argv = ["--data-dir", str(tmp_path / "var"), *(item for pair in ports.items() for item in pair)]
    assert jobservice_main.main(argv) == 2
    err = capsys.readouterr().err
    setting = "PHONOS_" + flag.removeprefix("--").replace("-", "_").upper()
    assert "cannot listen for" in err and f"127.0.0.1:{taken_port}" in err and setting in err and flag in err
    assert "Traceback" not in err
    lock = DataDirLock(tmp_path / "var")
    lock.acquire()  # the refused service let go of the data directory
    lock.release()


@pytest.mark.unit
def test_serve_on_a_data_dir_in_use_names_the_owner_before_starting_triton(
        operator_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Triton was started for a data directory another job service owns")

    operator_env.setattr(serve_module.TritonProcess, "start", started)
    operator_env.setenv("PHONOS_MODELS", "esmfold")
    owner = DataDirLock(tmp_path / "var")  # the running instance's job service
    owner.acquire()
    try:
        assert cli.main(["serve", "--data-dir", str(tmp_path / "var"), "--http-port", "0", "--grpc-port", "0"]) == 1
    finally:
        owner.release()
    out, err = capsys.readouterr()
    assert err.strip() == (f"error: another job service (pid {os.getpid()}) is using {tmp_path / 'var'}; stop it "
                           "first, or give this one another --data-dir")
    assert "API key" not in out and "starting Triton" not in out


@pytest.mark.unit
def test_credits_add_tops_up_and_refuses_an_overdraft(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = str(tmp_path / "var")
    assert cli.main(["keys", "create", "--username", "ada", "--credits", "100", "--data-dir", data_dir]) == 0
    capsys.readouterr()
    assert cli.main(["credits", "add", "--username", "ada", "--amount", "5000", "--data-dir", data_dir]) == 0
    assert capsys.readouterr().out == "ada: 100 -> 5100 credits\n"
    assert cli.main(["credits", "add", "--username", "ada", "--amount", "-100", "--json", "--data-dir", data_dir]) == 0
    assert json.loads(capsys.readouterr().out) == {"username": "ada", "added": -100, "balance": 5000}
    assert cli.main(["credits", "add", "--username", "ada", "--amount", "-5001", "--data-dir", data_dir]) == 2
    assert capsys.readouterr().err == ('error: "ada" has 5000 credits: taking 5001 would put the balance below 0, '
                                          'which it cannot go\n')  # how much may be taken back, said
    assert cli.main(["credits", "add", "--username", "bob", "--amount", "5", "--data-dir", data_dir]) == 2
    assert capsys.readouterr().err == 'error: no account named "bob"\n'


@pytest.mark.unit
def test_balances_and_rate_limits_the_api_cannot_carry_are_refused(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The API carries balances and rate limits as int32: a grant past 2**31-1 once made GET /v1/account (and the
    credit history, the dashboard's Account page) a 500 for good, and past 2**63 a SQLite traceback."""
    data_dir = str(tmp_path / "var")
    assert cli.main(["keys", "create", "--username", "ada", "--credits", "2147483000", "--data-dir", data_dir]) == 0
    capsys.readouterr()
    refused = {
        ("credits", "add", "--username", "ada", "--amount", "1000"):
            'error: "ada" would have 2147484000 credits; a balance is at most 2147483647\n',
        ("credits", "add", "--username", "ada", "--amount", "99999999999999999999"):
            "error: --amount must be between -2147483647 and 2147483647, got 99999999999999999999\n",
        ("keys", "create", "--username", "bob", "--credits", "3000000000"):
            "error: --credits must be at most 2147483647, got 3000000000\n",
        ("keys", "create", "--username", "bob", "--max-rate-limit", "99999999999"):
            "error: --max-rate-limit must be at most 2147483647 requests per minute, got 99999999999\n",
    }
    for command, error in refused.items():
        assert cli.main([*command, "--data-dir", data_dir]) == 2, command
        assert capsys.readouterr().err == error
    assert cli.main(["credits", "history", "--username", "ada", "--json", "--data-dir", data_dir]) == 0
    history = json.loads(capsys.readouterr().out)
    assert (history["balance"], history["total"]) == (2147483000, 1)  # the refused grant left nothing behind
    assert cli.main(["accounts", "list", "--json", "--data-dir", data_dir]) == 0
    assert [a["username"] for a in json.loads(capsys.readouterr().out)["accounts"]] == ["ada"]
    # A page past SQLite's integers was an OverflowError traceback.
    for verb in (["credits", "history"], ["accounts", "activity"]):
        assert cli.main([*verb, "--username", "ada", "--offset", "99999999999999999999", "--data-dir", data_dir]) == 2
        assert capsys.readouterr().err == "error: --offset must be at most 2147483647, got 99999999999999999999\n"


@pytest.mark.unit
def test_a_balance_stored_past_the_ceiling_can_still_be_taken_back(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A balance granted past 2**31-1 before the ceiling was enforced is repaired with a negative grant."""
    data_dir = str(tmp_path / "var")
    assert cli.main(["keys", "create", "--username", "ada", "--credits", "2147483647", "--data-dir", data_dir]) == 0
    sqlite3.connect(tmp_path / "var" / "phonos.sqlite3").execute(
        "UPDATE accounts SET credits = 3000000000 WHERE username = 'ada'").connection.commit()
    capsys.readouterr()
    assert cli.main(["credits", "add", "--username", "ada", "--amount", "-1", "--data-dir", data_dir]) == 0
    assert capsys.readouterr().out == "ada: 3000000000 -> 2999999999 credits\n"  # step by step, if need be
    assert cli.main(["credits", "add", "--username", "ada", "--amount", "1", "--data-dir", data_dir]) == 2


@pytest.mark.unit
def test_operator_messages_quote_usernames_as_the_api_does(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Values in JSON's words ("ada"), as the API's messages word them, never Python's ('ada')."""
    data_dir = ["--data-dir", str(tmp_path / "var")]
    assert cli.main(["keys", "create", "--username", "ada", *data_dir]) == 0
    capsys.readouterr()
    said = []
    for argv in (["keys", "create", "--username", "ada"], ["keys", "list", "--username", "o'brien"],
                 ["keys", "revoke", "key_0000000000000000"], ["users", "set-password", "--username", "bob",
                                                             "--password-stdin"],
                 ["users", "set-password", "--username", "ada", "--password-stdin"], ["serve", "--http-port", "x"],
                 ["keys", "update", "key_0000000000000000"]):
        operator_env.setattr("sys.stdin", io.StringIO("a long enough password\n"))
        with contextlib.suppress(SystemExit):  # argparse's own refusal of a bad port
            cli.main([*argv, *data_dir])
        said.append(capsys.readouterr().err.strip().splitlines()[-1])
    assert said == ['error: username "ada" is taken; choose another (`keys create` makes a new account with its first '
                    'key; another key for an existing account: phonos keys add --username "ada")',
                    'error: no account named "o\'brien"',
                    "error: no API key key_0000000000000000; see `phonos keys list --username NAME`",
                    'error: no account named "bob"',
                    'password set for "ada"; their open dashboard sessions were signed out',
                    'phonos serve: --http-port: not a port number: "x"; see phonos serve --help',
                    "error: nothing to change: give --name, --rate-limit and/or --expires-in-days"]  # the flags


@pytest.mark.unit
@pytest.mark.parametrize("flag", ["--http-port", "--grpc-port", "--metrics-port"])
def test_serve_on_a_taken_port_says_which_and_creates_nothing(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str], taken_port: int,
                                                              flag: str) -> None:
    """Checked before the first account is made and its key printed, and before a Triton starts."""
    def started(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Triton was started for a serve that cannot listen")

    operator_env.setattr(serve_module.TritonProcess, "start", started)
    operator_env.setenv("PHONOS_MODELS", "esmfold")
    ports = {"--http-port": "0", "--grpc-port": "0", "--metrics-port": "0", flag: str(taken_port)}
    argv = ["serve", "--data-dir", str(tmp_path / "var"), *(item for pair in ports.items() for item in pair)]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    setting = "PHONOS_" + flag.removeprefix("--").replace("-", "_").upper()
    assert len(err.splitlines()) == 1 and err.startswith("error: cannot listen for ")
    assert f"127.0.0.1:{taken_port}" in err and f"{setting} or {flag}" in err
    assert out == "" and not (tmp_path / "var").exists()


@pytest.mark.unit
@pytest.mark.parametrize(("variable", "host", "what", "says"), [
    ("PHONOS_HTTP_HOST", "phonos-host.invalid", "HTTP", "PHONOS_HTTP_HOST or --http-host"),  # does not resolve
    ("PHONOS_GRPC_HOST", "192.0.2.1", "gRPC", "PHONOS_GRPC_HOST"),  # another machine's address (TEST-NET-1)
    ("PHONOS_METRICS_HOST", "192.0.2.1", "metrics", "PHONOS_METRICS_HOST"),
])
def test_serve_on_an_address_not_of_this_machine_names_the_host_setting(
        operator_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        variable: str, host: str, what: str, says: str) -> None:
    """Was "the port is in use ...; choose another with PHONOS_HTTP_PORT": the wrong setting to change."""
    operator_env.setenv(variable, host)
    operator_env.setenv("PHONOS_MODELS", "esmfold")
    argv = ["serve", "--data-dir", str(tmp_path / "var"), "--http-port", "0", "--grpc-port", "0", "--metrics-port", "0"]
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert err == (f'error: cannot listen for {what} on "{host}": not an address of this machine; choose another '
                   f"with {says} (127.0.0.1, or 0.0.0.0 for every interface)\n")
    assert out == "" and not (tmp_path / "var").exists()


@pytest.mark.unit
def test_serve_refuses_one_port_for_two_listeners(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    port = str(_closed_port())
    assert cli.main(["serve", "--data-dir", str(tmp_path / "var"), "--http-port", port, "--grpc-port", port,
                     "--metrics-port", "0"]) == 2
    assert capsys.readouterr().err == (f"error: HTTP and gRPC both ask for port {port}; choose another with "
                                       "PHONOS_GRPC_PORT or --grpc-port\n")
    assert not (tmp_path / "var").exists()


@pytest.mark.unit
def test_credits_history_shows_each_change_and_its_note(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = str(tmp_path / "var")
    assert cli.main(["keys", "create", "--username", "ada", "--credits", "100", "--data-dir", data_dir]) == 0
    assert cli.main(["credits", "add", "--username", "ada", "--amount", "250", "--note", "lab grant Q4",
                     "--data-dir", data_dir]) == 0
    assert cli.main(["credits", "add", "--username", "ada", "--amount", "-20", "--data-dir", data_dir]) == 0
    capsys.readouterr()
    assert cli.main(["credits", "history", "--username", "ada", "--data-dir", data_dir]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ada: 330 credits; 3 of 3 entries, newest first"
    assert [line.split(maxsplit=6)[3:] for line in lines[2:]] == [  # after "YYYY-MM-DD HH:MM UTC"
        ["-20", "330", "grant", "taken back by an operator"], ["+250", "350", "grant", "lab grant Q4"],
        ["+100", "100", "grant", "opening balance"]]
    assert cli.main(["credits", "history", "--username", "ada", "--limit", "1", "--offset", "1", "--json",
                     "--data-dir", data_dir]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["balance"], shown["total"]) == (330, 3)
    [entry] = shown["entries"]
    assert (entry["amount"], entry["balance_after"], entry["kind"], entry["note"]) == (250, 350, "grant", "lab grant Q4")
    assert entry["created_at"].endswith("Z") and entry["job_id"] is None
    assert cli.main(["credits", "history", "--username", "bob", "--data-dir", data_dir]) == 2
    assert capsys.readouterr().err == 'error: no account named "bob"\n'
    assert cli.main(["credits", "history", "--username", "ada", "--limit", "0", "--data-dir", data_dir]) == 2
    assert capsys.readouterr().err == "error: --limit must be between 1 and 100, got 0\n"


@pytest.mark.unit
def test_serve_says_every_taken_port_at_once_with_free_ones_to_use(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A second `phonos serve` on a shared host met the HTTP port, then on its next try the gRPC port, then the
    metrics port: three tries (a newcomer's finding). One line names all three, and flags with ports free now."""
    operator_env.setenv("PHONOS_MODELS", "esmfold")
    holders = []
    for _ in range(3):
        holder = socket.socket()
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        holders.append(holder)
    try:
        http, grpc, metrics = (h.getsockname()[1] for h in holders)
        assert cli.main(["serve", "--data-dir", str(tmp_path / "var"), "--http-port", str(http), "--grpc-port",
                         str(grpc), "--metrics-port", str(metrics)]) == 2
    finally:
        for holder in holders:
            holder.close()
    out, err = capsys.readouterr()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"error: cannot listen for HTTP on 127.0.0.1:{http}, gRPC on 127.0.0.1:{grpc}, metrics on "
                          f"127.0.0.1:{metrics}: the ports are in use (or the address is not this machine's); choose "
                          "others with PHONOS_HTTP_PORT, PHONOS_GRPC_PORT, PHONOS_METRICS_PORT or their flags "
                          "(free now: --http-port "), err
    suggested = dict(re.findall(r"(--[a-z]+-port) (\d+)", err.split("free now:")[1]))
    assert set(suggested) == {"--http-port", "--grpc-port", "--metrics-port"}
    assert len(set(suggested.values())) == 3 and not set(suggested.values()) & {str(http), str(grpc), str(metrics)}
    assert out == "" and not (tmp_path / "var").exists()
