"""`phonos keys add`: an operator gives an existing account another key, by the rules POST /v1/keys keeps; and the
operator's commands refuse a bad number in the words of the flag that was typed, not the API's field."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import pytest

from jobservice.api_keys import MAX_ACTIVE_KEYS
from jobservice.key_policy import DAY_S
from launcher import cli

pytestmark = pytest.mark.unit


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    said = capsys.readouterr()
    return status, said.out, said.err


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_keys_add_gives_an_existing_account_another_working_key(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = ("--data-dir", str(tmp_path / "var"))
    assert _run(capsys, "keys", "create", "--username", "ada", *data_dir)[0] == 0
    status, out, err = _run(capsys, "keys", "add", "--username", "ada", *data_dir)
    assert status == 0 and out.startswith("pk_") and out.count("\n") == 1  # the secret alone on stdout, once
    assert 'of "ada": active, 60/min, full; the key is shown only now' in err

    before = time.time()
    status, out, _ = _run(capsys, "keys", "add", "--username", "ada", "--name", "ci", "--rate-limit", "5",
                          "--expires-in-days", "30", "--read-only", "--json", *data_dir)
    shown = json.loads(out)
    # account_row: the row number; account_id: the id GET /v1/account shows (opaque_ids, not the row on a new store)
    assert status == 0 and set(shown) == {"api_key", "account_id", "account_row", "key"} and shown["account_row"] == 1
    key = shown["key"]
    assert (key["name"], key["rate_limit"], key["scope"], key["revoked"], key["expired"]) == (
        "ci", 5, "read_only", False, False)
    assert before + 30 * DAY_S - 1 <= _epoch(key["expires_at"]) <= time.time() + 30 * DAY_S + 1
    assert key["prefix"] == shown["api_key"][:len(key["prefix"])]

    status, out, _ = _run(capsys, "keys", "list", "--username", "ada", "--json", *data_dir)
    listed = {k["key_id"]: k for k in json.loads(out)["keys"]}
    assert len(listed) == 3 and listed[key["key_id"]] == key  # stored as printed


def test_keys_add_keeps_the_accounts_limit_and_names_unknown_accounts(operator_env: pytest.MonkeyPatch,
                                                                      tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = ("--data-dir", str(tmp_path / "var"))
    assert _run(capsys, "keys", "create", "--username", "ada", *data_dir)[0] == 0
    assert _run(capsys, "keys", "add", "--username", "bob", *data_dir)[1:] == ("", 'error: no account named "bob"\n')
    for _ in range(MAX_ACTIVE_KEYS - 1):
        assert _run(capsys, "keys", "add", "--username", "ada", *data_dir)[0] == 0
    assert _run(capsys, "keys", "add", "--username", "ada", *data_dir) == (
        2, "", f"error: An account can have at most {MAX_ACTIVE_KEYS} active keys; revoke one first "
               '(`phonos keys list --username "ada"`, then `phonos keys revoke KEY_ID`)\n')
    # the account's rate-limit ceiling (60 by default) holds as the API holds it, and the operator is told how to
    # raise it (was: no way forward)
    assert _run(capsys, "keys", "add", "--username", "ada", "--rate-limit", "61", *data_dir)[2] == (
        "error: --rate-limit must be between 1 and 60 requests per minute (this account's maximum), got 61; to allow "
        "more, raise the maximum first: `phonos accounts update --username ada --max-rate-limit 61`\n")


def test_accounts_update_raises_the_maximum_that_keys_add_and_update_keep(operator_env: pytest.MonkeyPatch,
                                                                         tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = ("--data-dir", str(tmp_path / "var"))
    assert _run(capsys, "keys", "create", "--username", "ada", *data_dir)[0] == 0
    listed = json.loads(_run(capsys, "accounts", "list", "--json", *data_dir)[1])["accounts"]
    assert [(a["username"], a["max_rate_limit"]) for a in listed] == [("ada", 60)]
    key_id = json.loads(_run(capsys, "keys", "list", "--username", "ada", "--json", *data_dir)[1])["keys"][0]["key_id"]
    assert _run(capsys, "keys", "update", key_id, "--rate-limit", "90", *data_dir)[2] == (
        "error: --rate-limit must be between 1 and 60 requests per minute (this account's maximum), got 90; to allow "
        "more, raise the maximum first: `phonos accounts update --username ada --max-rate-limit 90`\n")

    assert _run(capsys, "accounts", "update", "--username", "ada", "--max-rate-limit", "120", *data_dir) == (
        0, "ada: maximum rate limit 60 -> 120/min (for each key: `phonos keys update KEY_ID --rate-limit R`, R up to "
           "120)\n", "")
    assert _run(capsys, "keys", "update", key_id, "--rate-limit", "90", *data_dir)[0] == 0
    assert _run(capsys, "keys", "add", "--username", "ada", "--rate-limit", "120", *data_dir)[0] == 0
    table = _run(capsys, "accounts", "list", *data_dir)[1]
    assert "MAX/MIN" in table.splitlines()[0] and "  120  " in table.splitlines()[1], table
    # not below a working key's own limit: the keys are named, nothing changes
    status, out, err = _run(capsys, "accounts", "update", "--username", "ada", "--max-rate-limit", "100", "--json",
                            *data_dir)
    assert (status, out) == (2, "") and "keys allow more than 100 requests per minute" in err and key_id not in err
    assert json.loads(_run(capsys, "accounts", "update", "--username", "ada", "--max-rate-limit", "120", "--json",
                           *data_dir)[1]) == {"username": "ada", "max_rate_limit": 120, "was": 120}
    activity = _run(capsys, "accounts", "activity", "--username", "ada", "--action",
                    "account.max_rate_limit_changed", *data_dir)[1]
    assert "account.max_rate_limit_changed" in activity and "from=60 to=120" in activity, activity
    assert _run(capsys, "accounts", "update", "--username", "bob", "--max-rate-limit", "5", *data_dir)[2] == (
        'error: no account named "bob"\n')


def test_keys_create_on_a_taken_username_points_at_keys_add(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = ("--data-dir", str(tmp_path / "var"))
    assert _run(capsys, "keys", "create", "--username", "ada", *data_dir)[0] == 0
    assert _run(capsys, "keys", "create", "--username", "ada", *data_dir) == (
        2, "", 'error: username "ada" is taken; choose another (`keys create` makes a new account with its first '
               'key; another key for an existing account: phonos keys add --username "ada")\n')
    # A look-alike of an account's name is refused too (it made a second account an admin's typo away): "Ada"
    # beside "ada", a name with a space at either end. (ASCII letter case on SQLite; PostgreSQL folds all.)
    assert _run(capsys, "keys", "create", "--username", "Ada", *data_dir) == (
        2, "", 'error: username "Ada" differs from the account "ada" only in letter case, which reads as the same '
               'name; choose another\n')
    assert _run(capsys, "keys", "create", "--username", "ada ", *data_dir)[1:] == (
        "", 'error: username "ada " starts or ends with a space; remove it\n')


@pytest.mark.parametrize(("argv", "said"), [
    (("keys", "create", "--username", "bo", "--expires-in-days", "9999"),
     "--expires-in-days must be between 1 and 3650 (0: never expires), got 9999"),
    (("keys", "add", "--username", "ada", "--expires-in-days", "-1"),
     "--expires-in-days must be between 1 and 3650 (0: never expires), got -1"),
    (("keys", "update", "KEY", "--expires-in-days", "3651"),
     "--expires-in-days must be between 1 and 3650 (0: never expires), got 3651"),
    (("keys", "update", "KEY", "--rate-limit", "0"),
     "--rate-limit must be between 1 and 60 requests per minute (this account's maximum), got 0"),
    (("keys", "create", "--username", "bo", "--rate-limit", "0"), "--rate-limit must be at least 1 request per minute"),
    (("keys", "create", "--username", "bo", "--credits", "-1"), "--credits must be 0 or more"),
    (("keys", "add", "--username", "ada", "--name", "x" * 101), "--name is longer than 100 characters"),
    (("credits", "history", "--username", "ada", "--limit", "0"), "--limit must be between 1 and 100, got 0"),
    (("credits", "history", "--username", "ada", "--offset=-1"), "--offset must be 0 or more, got -1"),
    (("credits", "add", "--username", "ada", "--amount", "0"), "--amount must not be 0"),
])
def test_operator_commands_refuse_a_number_in_the_flags_words(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str],
                                                               argv: tuple[str, ...], said: str) -> None:
    data_dir = ("--data-dir", str(tmp_path / "var"))
    assert _run(capsys, "keys", "create", "--username", "ada", *data_dir)[0] == 0
    _, out, _ = _run(capsys, "keys", "list", "--username", "ada", "--json", *data_dir)
    key_id = json.loads(out)["keys"][0]["key_id"]
    argv = tuple(key_id if part == "KEY" else part for part in argv)
    assert _run(capsys, *argv, *data_dir) == (2, "", f"error: {said}\n")


def test_operator_tables_end_a_cut_name_with_an_ellipsis(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A name longer than its column was cut with nothing to show it ("a name that is far t" read as whole). Names are
    cut only to fit a terminal (launcher/tables.py); piped, and a username anywhere (it is typed in --username),
    they are whole."""
    data_dir = ("--data-dir", str(tmp_path / "var"))
    long_user = "a-username-longer-than-twenty"
    assert _run(capsys, "keys", "create", "--username", long_user, *data_dir)[0] == 0
    assert _run(capsys, "keys", "add", "--username", long_user, "--name", "a name that is far too long", *data_dir)[0] == 0
    status, out, _ = _run(capsys, "keys", "list", "--username", long_user, *data_dir)
    assert status == 0 and any(" a name that is far too long " in row for row in out.splitlines()[1:]), out
    operator_env.setenv("COLUMNS", "120")
    operator_env.setattr("sys.stdout.isatty", lambda: True)
    status, out, _ = _run(capsys, "keys", "list", "--username", long_user, *data_dir)
    assert status == 0 and any(" a name that is far too lo… " in row for row in out.splitlines()[1:]), out
    status, out, _ = _run(capsys, "accounts", "list", *data_dir)
    assert status == 0 and out.splitlines()[1].startswith(f"{long_user}  ")


def test_a_store_that_fails_after_the_key_was_made_does_not_lose_the_key(operator_env: pytest.MonkeyPatch,
                                                                         tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The account's id as its user sees it is read in a second visit to the store, after the key was committed:
    that visit failing (PostgreSQL blinking) ended `keys create --json` with an error and no key, shown only once,
    and the username then taken. The key is printed; `account_id` is null."""
    def away(settings: object) -> object:
        raise cli.CliError("PostgreSQL at db:5432 did not answer")

    operator_env.setattr(cli.opaque_ids, "account_ids", away)
    status, out, err = _run(capsys, "keys", "create", "--username", "ada", "--json", "--data-dir",
                            str(tmp_path / "var"))
    made = json.loads(out)
    assert status == 0 and made["api_key"].startswith("pk_") and made["account_id"] is None
    assert isinstance(made["account_row"], int)
    status, out, err = _run(capsys, "keys", "create", "--username", "bob", "--data-dir", str(tmp_path / "var"))
    assert status == 0 and out.startswith("pk_") and f"(account {made['account_row'] + 1};" in err
