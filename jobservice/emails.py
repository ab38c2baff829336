"""The one rule for an account's email address (optional: absent or empty means none).

Ordinary addresses only: `local@domain.tld`, with the dot-atom characters of RFC 5322 in the local
part (`ada.lovelace+phonos@example.org`) and a domain of two or more dot-separated labels. Letters
may be any script's (RFC 6531 local parts, internationalised domains such as `bücher.example`).
Refused: quoted local parts, IP-literal domains (`[10.0.0.1]`), spaces, a missing or dotless domain.
Nothing here proves that the mailbox exists; the rule only keeps obvious non-addresses
("not an email") out of the accounts table.
"""

from __future__ import annotations

from jobservice.errors import InvalidArgument, json_value_text

MAX_EMAIL = 254  # RFC 5321 4.5.3.1.3: a path is 256 octets including its angle brackets
MAX_LOCAL = 64  # RFC 5321 4.5.3.1.1
MAX_LABEL = 63  # RFC 1035 2.3.4
LOCAL_SYMBOLS = frozenset("!#$%&'*+-/=?^_`{|}~")  # RFC 5322 3.2.3 atext besides letters and digits
EXAMPLE = "ada@example.org"


def check_email(value: str | None) -> str | None:
    """The address to store (surrounding spaces dropped), None when none was given; InvalidArgument
    naming the field and the value when it is not an ordinary email address."""
    if value is None:
        return None
    address = value.strip()
    if not address:
        return None
    problem = _problem(address)
    if problem:
        raise InvalidArgument(f"email {json_value_text(address)} is not an email address ({problem}); "
                              f"expected e.g. {EXAMPLE}")
    return address


def _problem(address: str) -> str | None:
    """What is wrong with the address, in a few words; None when it passes."""
    if len(address) > MAX_EMAIL:
        return f"{len(address)} characters; the limit is {MAX_EMAIL}"
    local, at, domain = address.rpartition("@")
    if not at:
        return "no @"
    if not local:
        return "nothing before the @"
    if not domain:
        return "no domain after the @"
    return _local_problem(local) or _domain_problem(domain)


def _local_problem(local: str) -> str | None:
    if len(local) > MAX_LOCAL:
        return f"the part before the @ is {len(local)} characters; the limit is {MAX_LOCAL}"
    if any(not (c.isalnum() or c in LOCAL_SYMBOLS or c == ".") for c in local):
        return "the part before the @ holds a character an address cannot"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "a dot at the start or end of the part before the @, or two in a row"
    return None


def _domain_problem(domain: str) -> str | None:
    labels = domain.split(".")
    if len(labels) < 2:
        return "the domain has no dot"
    for label in labels:
        if not label:
            return "the domain has an empty label"
        if len(label) > MAX_LABEL:
            return f"a domain label is {len(label)} characters; the limit is {MAX_LABEL}"
        if any(not (c.isalnum() or c == "-") for c in label) or label.startswith("-") or label.endswith("-"):
            return "the domain holds a character a host name cannot"
    if labels[-1].isdigit():
        return "the domain ends in a number"
    return None
