"""The documentation stays true: every setting read from the environment is documented."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READ_FROM_ENV = re.compile(r'env_(?:str|bool|int|float|list)\("([A-Z0-9_]+)"')


def settings_variables() -> set[str]:
    return set(READ_FROM_ENV.findall((ROOT / "project" / "settings.py").read_text()))


def test_settings_read_a_good_number_of_variables():
    assert len(settings_variables()) > 30


def test_every_variable_is_in_env_example():
    documented = (ROOT / ".env.example").read_text()

    assert sorted(v for v in settings_variables() if f"# {v}=" not in documented) == []


def test_every_variable_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()

    assert sorted(v for v in settings_variables() if f"| `{v}` |" not in readme) == []


def test_the_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()

    assert "make run" in readme and "make test" in readme
