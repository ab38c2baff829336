"""A new user's first hour, as the README prints it: the shell blocks of *Your first job* and of
docs/webhooks.md's *Try it on one machine* run as printed (the key and address filled in, as a person pastes
them) against a running job service, and every `phonos` line of the README's client block is one command the
command's parser takes. A command that does not work as printed fails here, not in a person's terminal."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from phonos_client import cli as client_cli
from phonos_client.inputs import ligands_from

from launcher.banner import first_job_line
from launcher.ports import free_port
from phonos_config.service import ServiceSettings
from tests.support import REPO, InProcessService

pytestmark = pytest.mark.integration

README = REPO / "README.md"
WEBHOOKS_DOC = REPO / "docs" / "webhooks.md"
PRINTED_URL = "http://127.0.0.1:8080"  # the default address every block is printed with
PRINTED_KEY = "pk_..."


def fenced_blocks(text: str, after: str, language: str) -> Iterator[str]:
    """The ```language blocks of the section that starts at the line `after` (up to its next heading)."""
    section = text.split(f"\n{after}\n", 1)[1]
    section = re.split(r"\n#{1,3} ", section, maxsplit=1)[0]
    yield from re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


def first_block(path: Path, after: str, language: str) -> str:
    return next(fenced_blocks(path.read_text(), after, language))


def pasted(block: str, service: InProcessService, key: str) -> str:
    """The block as a person pastes it: their key and the address their service printed."""
    assert PRINTED_KEY in block and PRINTED_URL in block, block
    return block.replace(PRINTED_KEY, key).replace(PRINTED_URL, service.base_url)


def user_env(tmp_path: Path) -> dict[str, str]:
    """A shell of a person on the server's machine: `.venv/bin` stands for this interpreter's, a home of their own
    (the config `phonos login` writes), no PHONOS_ settings of the test run's."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PHONOS_")}
    return {**clean, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "clients" / "python")])}


def run_bash(script: str, cwd: Path, env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """`script` in bash, stopping at the first failing command; everything it left running (a receiver put in
    the background with `&`) is stopped with it. Output goes to files: a background child holds a pipe open."""
    out, err = cwd / ".bash.out", cwd / ".bash.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                                   stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            process.wait(timeout=timeout_s)
        finally:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    return subprocess.CompletedProcess(process.args, process.returncode, out.read_text(), err.read_text())


def with_local_venv(block: str) -> str:
    """`.venv/bin/phonos` and `.venv/bin/python` as this checkout runs them (the test has no ./.venv)."""
    python = shlex.quote(sys.executable)
    local = {"phonos": f"{python} -m phonos_client", "python": python}
    return re.sub(r"\.venv/bin/(phonos|python)\b", lambda m: local[m.group(1)], block)


def test_the_first_job_block_submits_follows_and_downloads_as_printed(twin_service: InProcessService,
                                                                        tmp_path: Path) -> None:
    block = pasted(first_block(README, "### Your first job", "bash"), twin_service, twin_service.new_key())
    done = run_bash(block, tmp_path, user_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert '"status":"completed"' in done.stdout, done.stdout  # the event stream ended with the job done
    assert (tmp_path / "first.pdb").read_text().strip()


def test_the_first_job_block_says_why_a_refused_request_has_no_job(twin_service: InProcessService,
                                                                     tmp_path: Path) -> None:
    """A mistyped key: the API's message where the job id would be, and the block stops there."""
    block = first_block(README, "### Your first job", "bash")
    block = block.replace(PRINTED_KEY, "pk_not-a-key").replace(PRINTED_URL, twin_service.base_url)
    done = run_bash(block, tmp_path, user_env(tmp_path))
    assert done.returncode != 0
    assert "API key" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert not (tmp_path / "first.pdb").exists()


def test_the_first_job_block_at_a_wrong_address_says_so_and_stops(tmp_path: Path) -> None:
    """Pasted into a plain shell (no `set -e`) with the default address while the service listens elsewhere: a
    JSONDecodeError traceback, then the events and the download ran with an empty job id (a 404 saved as
    first.pdb). Now one line names the address, and nothing after it runs."""
    block = first_block(README, "### Your first job", "bash")
    block = block.replace(PRINTED_KEY, "pk_x").replace(PRINTED_URL, f"http://127.0.0.1:{free_port()}")
    done = subprocess.run(["bash", "-c", block], cwd=tmp_path, env=user_env(tmp_path), text=True,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    assert done.returncode != 0
    assert done.stderr.strip() == "no phonos API answered at that address: check B against the banner", done.stderr
    assert not (tmp_path / "first.pdb").exists() and not done.stdout


def test_the_first_job_with_the_phonos_command_as_printed(twin_service: InProcessService, tmp_path: Path) -> None:
    blocks = list(fenced_blocks(README.read_text(), "### Your first job", "bash"))
    block = with_local_venv(blocks[1])  # the second: `phonos login`, then `phonos fold`
    block = block.replace(PRINTED_URL, twin_service.base_url)
    env = user_env(tmp_path)
    key = twin_service.new_key()
    login, fold = [line for line in block.splitlines() if line.strip()]
    logged_in = subprocess.run(["bash", "-c", login], cwd=tmp_path, env=env, input=f"{key}\n", text=True,
                               capture_output=True, timeout=60)
    assert logged_in.returncode == 0, logged_in.stderr
    folded = run_bash(fold, tmp_path, env)
    assert folded.returncode == 0, folded.stderr
    assert (tmp_path / "folds" / "sequence.pdb").read_text().strip()  # where the block's comment says


def test_the_webhook_try_it_block_registers_a_receiver_that_verifies_a_test_event(
        twin_service: InProcessService, tmp_path: Path) -> None:
    """docs/webhooks.md: the receiver saved as receiver.py, then the shell block (the service allows loopback,
    as the doc says to start it). The receiver's port is a free one instead of 8000."""
    receiver = first_block(WEBHOOKS_DOC, "## A receiver", "python")
    (tmp_path / "receiver.py").write_text(receiver)
    port = free_port()
    block = pasted(first_block(WEBHOOKS_DOC, "## Try it on one machine", "bash"), twin_service,
                   twin_service.new_key())
    block = with_local_venv(block).replace("127.0.0.1:8000/", f"127.0.0.1:{port}/")
    done = run_bash(block, tmp_path, {**user_env(tmp_path), "PORT": str(port)})
    assert done.returncode == 0, done.stderr
    assert '"success":true' in done.stdout and '"status_code":204' in done.stdout, done.stdout + done.stderr


def test_every_phonos_line_of_the_readme_client_block_is_one_command_phonos_takes() -> None:
    """Each line pastes as one command (it was `phonos jobs ls | show ID | watch ID...`: a pipe into a `show`
    that does not exist), and its verbs are the command's."""
    block = first_block(README, "## The client: SDK and `phonos` for users", "bash")
    parser = client_cli.build_parser()
    lines = [shlex.split(line, comments=True) for line in block.splitlines()]
    for words in filter(None, lines):
        assert words[0] == "phonos" and not set("|;&[]") & set("".join(words)), words
        parser.parse_args(words[1:])  # exits (status 2) on a verb or flag the command does not have
    assert len(list(filter(None, lines))) >= 10


def test_the_readme_client_blocks_fold_line_folds_the_example_fasta_it_names(twin_service: InProcessService,
                                                                              tmp_path: Path) -> None:
    """Its input files are in examples/ (a new user had to guess `proteins.fasta` and `ligands.smi`): the fold line,
    run from the repository's folder, makes the folds/p1.pdb the dock line docks into; the ligands file reads."""
    block = first_block(README, "## The client: SDK and `phonos` for users", "bash")
    fold = next(line for line in block.splitlines() if line.startswith("phonos fold "))
    out = tmp_path / "folds"
    command = with_local_venv(".venv/bin/" + fold.split("#", 1)[0]).replace("--out folds/", f"--out {out}/")
    command = command.replace(" examples/", f" {REPO}/examples/")  # as from the repository's folder
    env = {**user_env(tmp_path), "PHONOS_URL": twin_service.base_url, "PHONOS_API_KEY": twin_service.new_key()}
    done = run_bash(command, tmp_path, env)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["p1.pdb", "p2.pdb"]
    dock = next(line for line in block.splitlines() if line.startswith("phonos dock "))
    assert "--protein folds/p1.pdb" in dock and "--ligands examples/ligands.smi" in dock
    assert [r.id for r in ligands_from(REPO / "examples" / "ligands.smi")] == ["aspirin", "ibuprofen"]


def test_the_readme_sdk_snippet_follows_a_job_and_downloads_its_structure(twin_service: InProcessService,
                                                                          tmp_path: Path) -> None:
    """The README's Python lines, pasted into a file with the key and address filled in."""
    snippet = pasted(first_block(README, "## The client: SDK and `phonos` for users", "python"), twin_service,
                     twin_service.new_key())
    (tmp_path / "first.py").write_text(snippet)
    done = subprocess.run([sys.executable, "first.py"], cwd=tmp_path, env=user_env(tmp_path), text=True,
                          capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    *events, saved = done.stdout.splitlines()
    assert events[-1].endswith(": completed"), done.stdout
    assert (tmp_path / saved).read_text().strip()  # the path it printed: ./<job id>.pdb


def test_the_banners_first_job_line_logs_in_as_printed(twin_service: InProcessService, tmp_path: Path) -> None:
    """`phonos serve`'s first start prints how to use its new key; that login, pasted with the key, works."""
    settings = ServiceSettings(data_dir=tmp_path)
    line = first_job_line(settings, {"http_port": twin_service.http_port}, program=".venv/bin/phonos")
    login = with_local_venv(line.split("first job:", 1)[1].split("(", 1)[0].strip())
    done = subprocess.run(["bash", "-c", login], cwd=tmp_path, env=user_env(tmp_path), text=True, timeout=60,
                          input=f"{twin_service.new_key()}\n", capture_output=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"logged in to {twin_service.base_url}"), done.stdout
