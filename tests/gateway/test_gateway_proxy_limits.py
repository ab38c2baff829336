"""Behind a trusted proxy the connection cap counts only the total (gateway/protocol.py ConnectionCap), so one
client's connections and requests are bounded only by the proxy: the words say a default nginx does not bound them
and docs/gateway.md shows the nginx lines that do, answering in phonos' JSON error shape. Was: the docstring and
the docs said the proxy "bounds its clients' connections itself", which a default nginx does not."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway.errors import DEFAULT_TITLES
from gateway.protocol import ConnectionCap

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"


def connections_section() -> str:
    text = DOC.read_text()
    start = text.index("\n## Connections\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_words_do_not_say_a_proxy_bounds_its_clients_by_itself() -> None:
    for words in (ConnectionCap.__doc__ or "", connections_section()):
        flat = " ".join(words.split())
        assert "connections itself" not in flat
        assert "limit_conn" in flat and "a default nginx" in flat


def test_the_nginx_lines_bound_connections_and_requests_per_address_and_answer_in_json() -> None:
    block = re.search(r"```nginx\n(.*?)```", connections_section(), re.S)
    assert block, "docs/gateway.md 'Connections' shows no nginx lines"
    lines = block.group(1)
    for directive in ("limit_conn_zone $binary_remote_addr", "limit_conn ", "limit_req_zone $binary_remote_addr",
                      "limit_req zone=", "limit_conn_status 429", "limit_req_status 429", "error_page 429"):
        assert directive in lines, directive
    answer = re.search(r"return 429 '(.*)';", lines)
    assert answer, "the 429 location returns no body"
    document = json.loads(answer.group(1))
    assert set(document) == {"error", "message"} and document["error"] == DEFAULT_TITLES[429]
    assert "Retry-After" in lines
