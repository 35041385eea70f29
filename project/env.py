"""Strict readers of environment variables, for the settings (`project/settings/`).

Unset or empty always means the default. A boolean that is neither clearly true nor clearly false, or a
number that is not a number, stops start-up with an error naming the variable.

Every call names its variable as a literal and is documented by the `#:` comment lines right above it:
`python -m project.settings_reference` reads them to write docs/configuration.md and .env.example.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

TRUE_VALUES = {"true", "1", "yes", "on"}
FALSE_VALUES = {"false", "0", "no", "off"}


def env_bool(name: str, default: bool) -> bool:
    """A boolean that is neither clearly true nor clearly false is a mistake, not False."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_str(name: str, default: str) -> str:
    """Unset or empty both mean the default (an empty DATABASE_URL is no database)."""
    raw = os.environ.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    """Comma-separated; blanks around items and empty items are dropped."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]
