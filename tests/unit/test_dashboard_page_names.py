"""Messages that send a person to a dashboard page name it as its navigation does: "the dashboard's Keys page"
sent people looking for a link labelled "Keys" beside one labelled "API keys"."""

from __future__ import annotations

import re

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit

MENTION = re.compile(r"dashboard's ((?:[A-Z][A-Za-z]*)(?: [A-Za-z]+)*?) page")
SOURCES = ("jobservice", "launcher", "gateway", "clients/python/phonos_client", "phonos_common", "phonos_config")


def nav_labels() -> set[str]:
    """The labels of the dashboard's navigation (gateway/static/js/app.js, NAV)."""
    nav = (REPO / "gateway" / "static" / "js" / "app.js").read_text().split("const NAV = [", 1)[1].split("];", 1)[0]
    return set(re.findall(r"label: '([^']+)'", nav))


def test_every_message_names_a_dashboard_page_by_its_navigation_label() -> None:
    labels = nav_labels()
    assert {"API keys", "Account", "Webhooks"} <= labels
    mentions = {(str(path.relative_to(REPO)), name)
                for folder in SOURCES for path in (REPO / folder).rglob("*.py")
                for name in MENTION.findall(path.read_text())}
    assert mentions, "no message names a dashboard page: the pattern no longer finds them"
    assert sorted(m for m in mentions if m[1] not in labels) == []
