"""An account's email: one rule (jobservice/emails.py) for every way an account gets one; ordinary
addresses pass, anything else is a 400-class InvalidArgument naming the field and the value."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from jobservice.emails import check_email
from jobservice.errors import InvalidArgument
from launcher import cli

pytestmark = pytest.mark.unit

GOOD = [
    "ada@example.org",
    "ada.lovelace+phonos@example.org",
    "a@b.co",
    "o'brien_2@mail.lab.example.ac.uk",
    "x-y@my-host.example",
    "ada@bücher.example",  # internationalised domain
    "ρόδος@παράδειγμα.δοκιμή",  # RFC 6531 local part too
    "!#$%&'*+/=?^_`{|}~-@example.org",  # every dot-atom symbol
    "a" * 64 + "@" + "b" * 63 + ".example",
    "a@" + ".".join(["b" * 63] * 3) + "." + "c" * 60,  # 254 characters
]

BAD = [
    ("not an email", "no @"),
    ("ada", "no @"),
    ("@example.org", "nothing before the @"),
    ("ada@", "no domain after the @"),
    ("ada@localhost", "the domain has no dot"),
    ("ada@example.", "the domain has an empty label"),
    ("ada@.example.org", "the domain has an empty label"),
    ("ada@exa..mple.org", "the domain has an empty label"),
    ("ada@@example.org", "holds a character an address cannot"),
    ("ada lovelace@example.org", "holds a character an address cannot"),
    ('"ada"@example.org', "holds a character an address cannot"),
    ("ada\n@example.org", "holds a character an address cannot"),
    ("ada@exa mple.org", "holds a character a host name cannot"),
    ("ada@-example.org", "holds a character a host name cannot"),
    ("ada@example_1.org", "holds a character a host name cannot"),
    ("ada@[10.0.0.1]", "holds a character a host name cannot"),
    ("ada@10.0.0.1", "ends in a number"),
    (".ada@example.org", "two in a row"),
    ("ada.@example.org", "two in a row"),
    ("a..da@example.org", "two in a row"),
    ("a" * 65 + "@example.org", "65 characters; the limit is 64"),
    ("a@" + "b" * 64 + ".org", "64 characters; the limit is 63"),
    ("a@" + ".".join(["b" * 63] * 3) + "." + "c" * 61, "255 characters; the limit is 254"),
]


@pytest.mark.parametrize("address", GOOD)
def test_ordinary_addresses_pass(address: str) -> None:
    assert check_email(address) == address
    assert check_email(f"  {address}\t") == address  # surrounding spaces are dropped


@pytest.mark.parametrize("absent", [None, "", "   "])
def test_no_email_is_allowed(absent: str | None) -> None:
    assert check_email(absent) is None


@pytest.mark.parametrize(("address", "why"), BAD)
def test_other_values_are_refused_naming_field_and_value(address: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_email(address)
    message = refused.value.message
    assert message.startswith("email \"") and why in message and message.endswith("expected e.g. ada@example.org")
    assert len(message) < 250  # a long value is cut: its start and its length


def test_a_long_value_is_cut_in_the_message() -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_email("x" * 5000)
    assert refused.value.message == (f'email "{"x" * 64}"... (5000 characters) is not an email address '
                                     "(5000 characters; the limit is 254); expected e.g. ada@example.org")


def _stored_emails(data_dir: Path) -> list[tuple[str, str | None]]:
    with sqlite3.connect(data_dir / "phonos.sqlite3") as db:
        return db.execute("SELECT username, email FROM accounts ORDER BY id").fetchall()


def test_keys_create_refuses_a_bad_email_and_stores_a_good_one(operator_env: pytest.MonkeyPatch, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "var"
    argv = ["keys", "create", "--data-dir", str(data_dir), "--username"]
    assert cli.main([*argv, "ada", "--email", "not an email"]) == 2
    out, err = capsys.readouterr()
    # named by the flag typed; its value and "an email address" keep their words
    assert out == "" and err == ('error: --email "not an email" is not an email address (no @); '
                                 "expected e.g. ada@example.org\n")
    assert cli.main([*argv, "ada", "--email", " ada.lovelace+phonos@example.org "]) == 0
    assert cli.main([*argv, "bob"]) == 0
    assert cli.main([*argv, "eve", "--email", ""]) == 0
    assert _stored_emails(data_dir) == [("ada", "ada.lovelace+phonos@example.org"), ("bob", None), ("eve", None)]
