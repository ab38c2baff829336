"""A refusal in the command line's words: the API names the field (`expires_in_days must be between 1 and 365`,
`params.num_recycles must be between 0 and 48 for esmfold`); a person who typed `--expires-in-days 999` or
`--num-recycles 99` should read the flag they typed.

Only a field the command line set with a flag is renamed, and only in a message whose subject (its first words)
it is, so a message about something else keeps its words. The subject may be followed by the value refused
(`starting_after "nope" is not the id of one of your jobs`); its other mentions in such a message are renamed too
("start again without starting_after"), and the API's words for where the next value comes from
(`pagination.next_starting_after`) become the command line's. Both `phonos` command lines use it: the users' verbs
(phonos_client.cli) and the operator's (launcher.cli).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping

# Where a field may sit in an API message: itself, or inside a job's params.
FIELD_PREFIXES = ("", "params.")
PREDICATES = (" must ", " is longer ", " is not ")
# The value a message quotes after its subject: JSON text (`"nope"`) or a number.
_VALUE = r'(?: (?:"(?:[^"\\]|\\.)*"|-?\d+))?'
# API words a renamed message may end with, and the command line's for them.
API_PHRASES = {"pass each page's pagination.next_starting_after":
               "pass the --starting-after each page names, or use --all"}


def in_flag_words(message: str, argv: Iterable[str], dests: Mapping[str, str] | None = None) -> str:
    """`message` with its subject, when it is a field a flag in `argv` set, named by that flag.

    A flag's field is its name in snake case (`--expires-in-days`: `expires_in_days`) or in words, or its
    argparse `dest` where that differs (`dests`: `--samples` sets `samples_per_complex`)."""
    for arg in argv:
        flag = arg.split("=", 1)[0]
        if not flag.startswith("--"):
            continue
        fields = {flag[2:].replace("-", "_"), flag[2:].replace("-", " ")}
        if dests and flag in dests:
            fields.add(dests[flag])
        for field in fields:
            for prefix in FIELD_PREFIXES:
                subject = prefix + field
                said = re.match(re.escape(subject) + _VALUE + "(?=" + "|".join(PREDICATES) + ")", message)
                if said:  # the quoted value stays as typed; only the words after it are the API's
                    value = said.group(0)[len(subject):]
                    return flag + value + _renamed(message[said.end():], subject, flag)
    return message


def _renamed(rest: str, field: str, flag: str) -> str:
    """The rest of a message whose subject was renamed: the field's other mentions (a whole word, not part of
    `pagination.next_starting_after`) as the flag, and the API_PHRASES in the command line's words. A field named
    by a plain word (`email`) is left alone there: "is not an email address" speaks of e-mail, not of the flag."""
    for phrase, words in API_PHRASES.items():
        rest = rest.replace(phrase, words)
    if "_" not in field:
        return rest
    return re.sub(r"(?<![\w.])" + re.escape(field) + r"(?![\w.])", flag, rest)


def option_dests(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Every long option of `parser` and its subcommands, with the field (`dest`) it sets."""
    dests: dict[str, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                dests.update(option_dests(sub))
        for option in action.option_strings:
            if option.startswith("--") and action.dest != argparse.SUPPRESS:
                dests.setdefault(option, action.dest)
    return dests
