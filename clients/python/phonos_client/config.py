"""Where the command finds its server and key: PHONOS_URL / PHONOS_API_KEY, else the file `phonos login`
writes ($PHONOS_CONFIG, or $XDG_CONFIG_HOME/phonos/config.toml, ~/.config/phonos/config.toml), mode 0600;
how long it lets a rate limit hold one request (PHONOS_MAX_RATE_LIMIT_WAIT, seconds), and how long it keeps trying
a server that cannot be reached or answers 502/503/504 (PHONOS_MAX_RETRY_WAIT, seconds); and which addresses have
answered the command before (`config.answered` beside the config file), so that a first request refused by any
other fails at once as a wrong address instead of being waited out as a restart (cli.client_options)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):  # noqa: UP036 - the client supports 3.10 (its own pyproject)
    import tomllib
else:  # the client supports Python 3.10: tomli is tomllib's origin (a dependency there only)
    import tomli as tomllib

from phonos_client.client import DEFAULT_URL, bare_key
from phonos_client.errors import PhonosError
from phonos_client.retry import DEFAULT_RATE_LIMIT_WAIT_S, DEFAULT_RETRY_WAIT_S


class ConfigError(PhonosError, ValueError):
    """The config file cannot be read as one, or a setting is not one (the command says so and exits 2; `phonos
    login` rewrites the file). A PhonosError, so that a script's `except PhonosError` meets every failure of the
    client, a ValueError as before."""

    exit_code = 2


@dataclass(frozen=True)
class Profile:
    url: str
    api_key: str | None
    source: str  # where the key came from, for messages
    max_rate_limit_wait: float = DEFAULT_RATE_LIMIT_WAIT_S  # the clients' max_rate_limit_wait
    max_retry_wait: float = DEFAULT_RETRY_WAIT_S  # the clients' max_retry_wait
    url_source: str = "default"  # where the URL came from: "PHONOS_URL", the config file's path, or "default"
    bearer_dropped: bool = False  # the key was given as `Bearer pk_...`: the command says it used it without

    def options(self) -> dict[str, float]:
        """The clients' keyword options this profile sets."""
        return {"max_rate_limit_wait": self.max_rate_limit_wait, "max_retry_wait": self.max_retry_wait}


def config_path() -> Path:
    explicit = os.environ.get("PHONOS_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "phonos" / "config.toml"


def load() -> Profile:
    stored: dict[str, str] = {}
    path = config_path()
    if path.is_file():
        try:
            with path.open("rb") as handle:
                stored = {k: str(v) for k, v in tomllib.load(handle).items()}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not a phonos config file ({exc}): fix it, or write it again with "
                              "`phonos login`") from None
    url = os.environ.get("PHONOS_URL") or stored.get("url") or DEFAULT_URL
    key = os.environ.get("PHONOS_API_KEY") or stored.get("api_key")
    source = "PHONOS_API_KEY" if os.environ.get("PHONOS_API_KEY") else str(path)
    url_source = "PHONOS_URL" if os.environ.get("PHONOS_URL") else str(path) if stored.get("url") else "default"
    try:
        key, dropped = bare_key(key) if key else (key, False)  # PHONOS_API_KEY="Bearer pk_..." pasted from a header
    except ValueError as exc:  # a character no key has (a zero-width space pasted along): said, not a traceback
        raise ConfigError(f"{source}: {exc}") from None
    return Profile(url.rstrip("/"), key or None, source, rate_limit_wait(), retry_wait(), url_source, dropped)


def rate_limit_wait() -> float:
    """PHONOS_MAX_RATE_LIMIT_WAIT: the seconds one request may spend waiting out 429s (0: fail at the first)."""
    return _seconds("PHONOS_MAX_RATE_LIMIT_WAIT", DEFAULT_RATE_LIMIT_WAIT_S)


def retry_wait() -> float:
    """PHONOS_MAX_RETRY_WAIT: the seconds one request may spend pausing between tries of a server that cannot be
    reached or answers 502/503/504 (0: fail at the first)."""
    return _seconds("PHONOS_MAX_RETRY_WAIT", DEFAULT_RETRY_WAIT_S)


def retry_wait_chosen() -> bool:
    """Whether PHONOS_MAX_RETRY_WAIT is set: the user asked for that long a wait, from the first request on."""
    return bool(os.environ.get("PHONOS_MAX_RETRY_WAIT", "").strip())


# The addresses that have answered the command, newest last, kept beside the config file: a command's first
# request to one of them that is refused is a restart to wait out; to any other, most likely a wrong address.
ANSWERED_KEPT = 20


def answered_path() -> Path:
    return config_path().with_suffix(".answered")


def answered_before(url: str) -> bool:
    """Whether the server at `url` answered this command before (`remember_answered`)."""
    try:
        return url in answered_path().read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return False


def remember_answered(url: str) -> None:
    """Notes that `url` answered (the last ANSWERED_KEPT addresses). Best effort: a home that cannot be written
    only means the next first contact with it is not waited out."""
    path = answered_path()
    try:
        known = [line for line in path.read_text(encoding="utf-8").splitlines() if line and line != url]
    except (OSError, UnicodeDecodeError):
        known = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{line}\n" for line in [*known, url][-ANSWERED_KEPT:]))
    except OSError:
        pass


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ConfigError(f"{name} is seconds, 0 or more (default {default:g}); got {json.dumps(text)}")
    return seconds


def save(url: str, api_key: str) -> Path:
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # json.dumps writes a valid TOML basic string for any text
    text = f"url = {json.dumps(url)}\napi_key = {json.dumps(api_key)}\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return path
