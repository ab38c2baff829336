"""Small typed readers for PHONOS_* environment variables with safe defaults."""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

T = TypeVar("T")


def env_str(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name)
    return default if value is None or value == "" else value


def _parsed(env: Mapping[str, str], name: str, default: T, parse: Callable[[str], T], kind: str) -> T:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return parse(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be {kind}, got {value!r}") from exc


# The largest whole number a setting may hold: the API's counts, balances and rate limits are int32 (a larger
# default credit balance would make GET /v1/account a 500), and SQLite refuses integers past 2**63 outright.
MAX_SETTING_INT = 2**31 - 1


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = _parsed(env, name, default, int, "an integer")
    if not -MAX_SETTING_INT <= value <= MAX_SETTING_INT:
        bound = f"at most {MAX_SETTING_INT}" if value > 0 else f"at least {-MAX_SETTING_INT}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _parsed(env, name, default, float, "a number")
    if not math.isfinite(value):  # nan slips through every `<` check; inf ("1e400" too) overflows timers and dates
        raise ValueError(f"{name} must be a finite number, got {env.get(name)!r}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def env_path(env: Mapping[str, str], name: str) -> Path | None:
    """An optional path; unset or empty means None."""
    value = env.get(name)
    return None if value is None or value == "" else Path(value).expanduser()


def current_env() -> Mapping[str, str]:
    return os.environ


def triton_model_env(
    model_config: Mapping[str, Any], environ: Mapping[str, str], prefixes: tuple[str, ...]
) -> dict[str, str]:
    """The settings a Triton model reads: its `config.pbtxt` parameters whose names start with one of
    `prefixes` are defaults; a variable of such a name in the server's environment wins, even when
    empty (`PHONOS_ESMFOLD_WEIGHTS_DIR=` selects the random weights whatever the config says)."""
    parameters = model_config.get("parameters", {})
    merged = {k: v.get("string_value", "") for k, v in parameters.items() if k.startswith(prefixes)}
    merged.update({k: v for k, v in environ.items() if k.startswith(prefixes)})
    return merged


S = TypeVar("S")


def read_settings(cls: type[S], env: Mapping[str, str], prefix: str) -> S:
    """An instance of the frozen dataclass `cls` with every field read from `<prefix><FIELD NAME>` (e.g.
    `max_length` from PHONOS_ESMFOLD_MAX_LENGTH); unset or empty variables keep the class default. The
    field's annotation says how to parse: int, float, str, bool, Path, Path | None, tuple[str, ...]
    (comma-separated), or a nested settings dataclass, which reads its own variables (`from_env`)."""
    hints = get_type_hints(cls)
    values = {f.name: _read(env, prefix + f.name.upper(), hints[f.name], f.default)
              for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**values)


def _read(env: Mapping[str, str], name: str, kind: Any, default: Any) -> Any:
    readers: dict[Any, Callable[[Mapping[str, str], str, Any], Any]] = {
        int: env_int, float: env_float, str: env_str, bool: env_bool}
    if kind in readers:
        return readers[kind](env, name, default)
    if kind in (Path, Path | None):
        path = env_path(env, name)
        return default if path is None else path
    if dataclasses.is_dataclass(kind) and hasattr(kind, "from_env"):  # a settings group with its own names
        return kind.from_env(env)
    if kind == tuple[str, ...]:
        raw = env.get(name) or ""
        # Each item once, in the order given (PHONOS_MODELS=esmfold,esmfold served one model named twice).
        items = tuple(dict.fromkeys(item.strip() for item in raw.split(",") if item.strip()))
        if raw.strip() and not items:  # "," is not "unset": it read as the default, e.g. every model
            raise ValueError(f"{name} lists nothing ({raw!r}); leave it unset for the default")
        return items or default
    raise TypeError(f"{name}: no reader for settings of type {kind!r}")
