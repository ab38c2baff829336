"""`phonos keys list | head -1`: a reader that stops early ends the command like any Unix tool's (`seq 1000000 |
head -1`): no traceback, no message, exit status 141 (128 + SIGPIPE). Real processes and real pipes."""

from __future__ import annotations

import asyncio
import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest
from phonos_client.pipes import EXIT_CLOSED_PIPE

from jobservice.accounts import Accounts
from jobservice.api_keys import ApiKeys
from jobservice.store import open_store
from phonos_config.service import ServiceSettings
from tests.support import REPO, InProcessService

pytestmark = pytest.mark.e2e

KEYS = 60  # ~8 KB of `keys list` lines: more than the 4 KiB pipe below holds


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose account `ada` has KEYS keys, listed active or revoked (an account may hold 20 active)."""
    path = tmp_path_factory.mktemp("pipes") / "var"

    async def fill() -> None:
        db = await open_store(ServiceSettings(data_dir=path))
        try:
            account_id = (await Accounts(db).create("ada", email=None, credits=10, rate_limit=60)).account_id
            keys = ApiKeys(db, default_rate_limit=60)
            for n in range(KEYS - 1):
                record, _ = await keys.create(account_id, name=f"laptop-{n}", rate_limit=None)
                await keys.revoke(account_id, record.id, confirm_last_key=False)
        finally:
            await db.close()

    path.mkdir(parents=True)
    asyncio.run(fill())
    return path


def phonos(*args: str, stdout: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    return subprocess.Popen([sys.executable, "-m", "launcher.cli", *args], stdout=stdout, stderr=subprocess.PIPE,
                            env=env, cwd=REPO)


@pytest.mark.parametrize("command", [["keys", "list", "--username", "ada"], ["weights", "list"]])
def test_a_reader_gone_before_the_command_prints_ends_it_quietly_with_141(data_dir: Path, command: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `phonos ... | true`: the reader is gone before the command prints a line
    try:
        listing = phonos(*command, "--data-dir", str(data_dir), stdout=write_end) if command[0] == "keys" \
            else phonos(*command, stdout=write_end)
    finally:
        os.close(write_end)
    _, err = listing.communicate(timeout=120)
    assert err == b""  # no traceback, no "Exception ignored" from the interpreter's exit, no message
    assert listing.returncode == EXIT_CLOSED_PIPE == 141


def test_head_1_closing_the_pipe_mid_listing_ends_it_quietly_with_141(data_dir: Path) -> None:
    listing = phonos("keys", "list", "--username", "ada", "--data-dir", str(data_dir), stdout=subprocess.PIPE)
    assert listing.stdout is not None and listing.stderr is not None
    fcntl.fcntl(listing.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)  # the listing cannot fit: it is still writing
    first = os.read(listing.stdout.fileno(), 100)  # what `head -1` takes before it exits
    listing.stdout.close()
    err = listing.stderr.read()
    assert listing.wait(timeout=120) == 141
    assert first.startswith(b"KEY ID ") and err == b""


def test_the_client_installs_own_phonos_ends_quietly_too(tmp_path: Path) -> None:
    """`python -m phonos_client` (the `phonos` of the client install alone) has the same rule for its verbs."""
    service = InProcessService(tmp_path / "var", {})
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
        key = service.new_key(credits=10)
        service.client(key).predict()  # a row to write: an empty list writes nothing on stdout
        env.update({"PHONOS_URL": service.base_url, "PHONOS_API_KEY": key,
                    "HOME": str(tmp_path)})  # no saved login of this machine's user
        read_end, write_end = os.pipe()
        os.close(read_end)  # `phonos jobs ls | true`
        try:
            listing = subprocess.Popen([sys.executable, "-m", "phonos_client", "jobs", "ls"], stdout=write_end,
                                       stderr=subprocess.PIPE, env=env, cwd=tmp_path)
        finally:
            os.close(write_end)
        _, err = listing.communicate(timeout=120)
    finally:
        service.stop()
    assert err == b"" and listing.returncode == EXIT_CLOSED_PIPE
