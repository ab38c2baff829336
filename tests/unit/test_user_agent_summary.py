"""What the Account page's "Signed in" card calls a session's browser (gateway/static/js/useragent.js): the
browser and its system from real User-Agents, in the order that tells Edge and Opera from Chrome and an iPhone
from a Mac; a tool's own name; something for nothing at all. Run by node, as the page runs it."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.support import REPO

pytestmark = pytest.mark.unit

USERAGENT_JS = REPO / "gateway" / "static" / "js" / "useragent.js"

SEEN = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36":
        "Chrome on Linux",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 Edg/131.0.0.0": "Edge on Windows",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36 OPR/115.0.0.0": "Opera on Windows",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:132.0) Gecko/20100101 Firefox/132.0": "Firefox on macOS",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Safari/605.1.15": "Safari on macOS",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
    "Mobile/15E148 Safari/604.1": "Safari on iPhone",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1": "Chrome on iPhone",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile "
    "Safari/537.36": "Chrome on Android",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 "
    "Safari/537.36": "Chrome on ChromeOS",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
    "Safari/537.36": "Chrome (headless) on Linux",
    "curl/8.5.0": "curl",
    "python-requests/2.32.3": "python-requests",
    "": "Unknown browser",
}


def test_user_agents_read_as_a_person_would_say_them() -> None:
    ran = subprocess.run(["node", "--input-type=module", "-e", f"""
        import {{describeUserAgent}} from '{USERAGENT_JS.as_uri()}';
        const agents = {json.dumps(list(SEEN))};
        console.log(JSON.stringify([...agents.map(describeUserAgent), describeUserAgent(null)]));"""],
        capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(ran.stdout) == [*SEEN.values(), "Unknown browser"]
