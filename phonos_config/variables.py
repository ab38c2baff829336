"""Every PHONOS_* variable phonos reads, and the ones set that it does not: a misspelt setting is said at start.

`PHONOS_GRCP_HOST=0.0.0.0` in a container was ignored without a word and the job service bound 127.0.0.1, out of
the pod's reach (an SRE tester's find). The settings' names are learnt by reading each settings class from an
environment that notes every name asked for, so a new setting is known without a list to keep; the few read
elsewhere are listed below (tests/unit/test_known_variables.py finds every PHONOS_ name in the code among them).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from functools import cache

PREFIX = "PHONOS_"

# Read outside the settings classes: the client's (phonos_client.config), deploy/triton-start.sh's, a model's
# config.pbtxt parameter, the Compose file's own substitution, and docs/webhooks.md's example receiver's.
READ_ELSEWHERE = frozenset({
    "PHONOS_CONFIG", "PHONOS_URL", "PHONOS_API_KEY", "PHONOS_MAX_RETRY_WAIT", "PHONOS_MAX_RATE_LIMIT_WAIT",
    "PHONOS_TRITON_LOAD_MODELS", "PHONOS_TRITON_MODEL_REPOSITORY", "PHONOS_DIFFDOCK_ESM_TRITON_MODEL",
    "PHONOS_DB_PASSWORD", "PHONOS_WEBHOOK_SECRET",
})
# Prefixes whose variables are no settings of a running phonos (the test suite's own inputs).
NOT_SETTINGS_PREFIXES = ("PHONOS_TEST_",)


class _NotingEnv(Mapping[str, str]):
    """An empty environment that notes every name it is asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def get(self, name: str, default: object = None) -> object:  # type: ignore[override]
        self.asked.add(name)
        return default

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(name)
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


@cache
def known_variables() -> frozenset[str]:
    from phonos_config.alphafold2 import AlphaFold2Settings
    from phonos_config.diffdock import DiffDockSettings
    from phonos_config.esmfold import EsmFoldSettings
    from phonos_config.relax import RelaxSettings
    from phonos_config.service import ServiceSettings
    from phonos_config.supervisor import SupervisorSettings

    env = _NotingEnv()
    for settings in (ServiceSettings, SupervisorSettings, EsmFoldSettings, AlphaFold2Settings, DiffDockSettings,
                     RelaxSettings):
        settings.from_env(env)
    return frozenset(name for name in env.asked if name.startswith(PREFIX)) | READ_ELSEWHERE


def unknown_variables(env: Mapping[str, str]) -> list[str]:
    """One line per PHONOS_* variable set in `env` that no part of phonos reads, with the setting it may mean."""
    known = known_variables()
    lines = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in known or name.startswith(NOT_SETTINGS_PREFIXES):
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.8)
        meant = f" (did you mean {close[0]}?)" if close else ""
        lines.append(f"{name} is set but is no phonos setting{meant}: it is ignored")
    return lines
