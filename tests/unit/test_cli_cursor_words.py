"""A refused cursor is said in the command line's words: the API's `starting_after` (and where its next value
comes from, `pagination.next_starting_after`) as the flag `--starting-after` the user typed."""

from __future__ import annotations

import pytest
from phonos_client import cli
from phonos_client.flag_words import in_flag_words, option_dests

pytestmark = pytest.mark.unit

REFUSED = ('starting_after "nope" is not the id of one of your jobs; start again without starting_after (its first '
           "page), then pass each page's pagination.next_starting_after")


@pytest.mark.parametrize("argv", [["jobs", "ls", "--starting-after", "nope"], ["jobs", "ls", "--starting-after=nope"]])
def test_a_refused_cursor_names_the_flag(argv: list[str]) -> None:
    said = in_flag_words(REFUSED, argv, option_dests(cli.build_parser()))
    assert said == ('--starting-after "nope" is not the id of one of your jobs; start again without --starting-after '
                    "(its first page), then pass the --starting-after each page names, or use --all")
    assert "starting_after" not in said


def test_a_number_cursor_and_a_message_about_something_else() -> None:
    entries = 'starting_after 99999 is not the id of one of your credit entries; start again without starting_after'
    assert in_flag_words(entries, ["--starting-after", "99999"]).startswith("--starting-after 99999 is not the id")
    # a flag the user did not type renames nothing; a message whose subject is another field keeps its words
    assert in_flag_words(REFUSED, ["jobs", "ls"]) == REFUSED
    other = "limit must be between 1 and 100, got 500; starting_after was fine"
    assert in_flag_words(other, ["--starting-after", "x"]) == other


def test_a_value_and_a_plain_word_field_keep_their_words() -> None:
    """Was: `--email "not an --email" is not an --email address`: the quoted value is what was typed, and a field
    named by a plain word is renamed only as the subject."""
    said = in_flag_words('email "not an email" is not an email address (no @)', ["--email", "not an email"])
    assert said == '--email "not an email" is not an email address (no @)'
    cursor = in_flag_words('starting_after "a starting_after" is not the id of one of your jobs', ["--starting-after", "x"])
    assert cursor == '--starting-after "a starting_after" is not the id of one of your jobs'
