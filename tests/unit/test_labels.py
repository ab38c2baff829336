"""The printable-text rule for names (jobservice/labels.py): what it refuses, what it keeps."""

from __future__ import annotations

import pytest

from jobservice.errors import InvalidArgument
from jobservice.labels import check_label

pytestmark = pytest.mark.unit

# (character, what the message calls it): C0 (ESC, tab, newline), DEL, C1, separators, bidi overrides and isolates
REFUSED = [
    ("\x1b", "a control character (U+001B)"),
    ("\t", "a control character (U+0009)"),
    ("\n", "a control character (U+000A)"),
    ("\x7f", "a control character (U+007F)"),
    ("\x9b", "a control character (U+009B)"),
    ("\u2028", "a line or paragraph separator (U+2028)"),
    ("\u2029", "a line or paragraph separator (U+2029)"),
    ("\u202e", "a bidirectional formatting character (U+202E)"),
    ("\u202a", "a bidirectional formatting character (U+202A)"),
    ("\u2066", "a bidirectional formatting character (U+2066)"),
    ("\u2069", "a bidirectional formatting character (U+2069)"),
    ("\u200f", "a bidirectional formatting character (U+200F)"),
    ("\u200b", "an invisible character (U+200B)"),
    ("\u2060", "an invisible character (U+2060)"),
    ("\ufeff", "an invisible character (U+FEFF)"),
]


@pytest.mark.parametrize(("char", "kind"), REFUSED)
def test_check_label_refuses_non_printing_characters(char: str, kind: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check_label("name", f"a{char}b")
    assert refused.value.message.startswith(f"name contains {kind}; ")


@pytest.mark.parametrize("name", ["lab workstation", "Protéine 1 – α/β", "家族 👨\u200d👩\u200d👧", "خانه\u200cها",
                                  "soft\u00adhyphen", "עברית", ""])
def test_check_label_keeps_printable_text_of_any_script(name: str) -> None:
    check_label("name", name)  # zero-width (non-)joiners and soft hyphens are spelling, not formatting tricks
