"""A request sent straight to a model's Triton endpoint (no job service in front) cleans its sequence as the job
service does: whitespace dropped, ASCII letters upper-cased, and any other character kept as sent, so that a
character `str.upper()` maps onto amino-acid letters (ß -> SS, ﬀ -> FF, ı -> I) is refused by name instead of
being folded as residues nobody wrote."""

from __future__ import annotations

import re

import pytest
from phonos_models.alphafold2.request import Request, RequestError
from phonos_models.common.letters import residue_text
from phonos_models.esmfold.chains import ChainError, parse_chains

pytestmark = pytest.mark.unit

_MAPPED_BY_UPPER = [("\u00df", "U+00DF LATIN SMALL LETTER SHARP S"), ("\ufb00", "U+FB00 LATIN SMALL LIGATURE FF"),
                    ("\u0131", "U+0131 LATIN SMALL LETTER DOTLESS I"), ("\u00e9", "U+00E9 LATIN SMALL LETTER E WITH ACUTE")]


@pytest.mark.parametrize(("character", "name"), _MAPPED_BY_UPPER)
def test_esmfold_parse_chains_names_the_character_as_sent(character: str, name: str) -> None:
    # before: "mkßtv" became MKSSTV and folded (six residues for five typed); é was named as É
    with pytest.raises(ChainError, match=re.escape(f"sequence contains invalid amino-acid letters: {name}. ")):
        parse_chains(f"mk{character}tv", max_length=100, max_chains=4)


@pytest.mark.parametrize(("character", "name"), _MAPPED_BY_UPPER)
def test_alphafold2_request_names_the_character_as_sent(character: str, name: str) -> None:
    with pytest.raises(RequestError, match=re.escape(f"sequence contains invalid amino-acid letters: {name}. ")):
        Request.from_json(f"mkt{character}vr", "{}")


def test_lower_case_ascii_and_any_whitespace_still_fold_on_the_model_side() -> None:
    assert parse_chains("mktv\u00a0lla\u2003g\n", max_length=100, max_chains=4).sequence == "MKTVLLAG"
    assert Request.from_json("mktv\u00a0lla\u2003g\n", "{}").sequence == "MKTVLLAG"
    assert residue_text("m k\tt") == "MKT"
