"""A third security review of the running service (a real job service and gateway on loopback, on the inference
twin): what it found and fixed, checked over real HTTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from jobservice import admin
from jobservice.sessions import FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE, FAILED_SIGN_INS_PER_MINUTE
from tests.support import InProcessService

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


def sign_in(service: InProcessService, username: str, password: str) -> requests.Response:
    return requests.post(f"{service.base_url}/auth/sign-in", json={"username": username, "password": password},
                         timeout=60)


# Last in the module: it leaves this address with failures counted for a minute.
def test_parallel_wrong_passwords_get_no_more_guesses_than_the_limit(twin_service: InProcessService) -> None:
    """The throttle read the failures before each Argon2 verification and counted them after it: guesses sent all
    at once each passed the check before the first was counted, so a guesser got as many tries a minute as it
    could send together (the limit is 10). Every guess past the limit must be refused (429) without a verification,
    however many arrive together; the owner's right password is refused for the minute too."""
    owner = f"parallel{id(twin_service)}"
    twin_service.new_key(username=owner)
    asyncio.run(admin.set_password(twin_service.settings, username=owner, password=PASSWORD))
    sent = FAILED_SIGN_INS_PER_ADDRESS_PER_MINUTE - 6  # under the address's limit: only the username's can refuse
    assert sent > 2 * FAILED_SIGN_INS_PER_MINUTE
    with ThreadPoolExecutor(max_workers=sent) as pool:
        codes = Counter(pool.map(lambda n: sign_in(twin_service, owner, f"guess number {n:04d}").status_code,
                                 range(sent)))
    assert codes == {401: FAILED_SIGN_INS_PER_MINUTE, 429: sent - FAILED_SIGN_INS_PER_MINUTE}, codes
    assert sign_in(twin_service, owner, PASSWORD).status_code == 429
