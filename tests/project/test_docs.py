"""The documentation stays true: the configuration reference is generated from the settings, and complete."""

from __future__ import annotations

import re
from pathlib import Path

from project import settings_reference

ROOT = Path(__file__).resolve().parents[2]
READ_FROM_ENV = re.compile(r'env_(?:str|bool|int|float|list)\(\s*"([A-Z0-9_]+)"')


def settings_variables() -> set[str]:
    """Every variable the settings modules read through the helpers of project/env.py."""
    return {
        name
        for path in (ROOT / "project" / "settings").glob("*.py")
        for name in READ_FROM_ENV.findall(path.read_text())
    }


def test_settings_read_a_good_number_of_variables():
    assert len(settings_variables()) > 30


def test_every_variable_is_documented_in_the_settings():
    documented = {variable.name for variable in settings_reference.collect()}

    assert sorted(settings_variables() - documented) == []


def test_the_configuration_reference_is_what_the_generator_writes():
    """docs/configuration.md is never edited by hand: `python -m project.settings_reference` rewrites it."""
    assert (ROOT / "docs" / "configuration.md").read_text() == settings_reference.outputs()[settings_reference.MARKDOWN]


def test_env_example_is_what_the_generator_writes():
    assert (ROOT / ".env.example").read_text() == settings_reference.outputs()[settings_reference.ENV_EXAMPLE]


def test_every_variable_is_in_env_example():
    documented = (ROOT / ".env.example").read_text()

    assert sorted(v for v in settings_variables() if f"# {v}=" not in documented) == []


def test_every_variable_is_in_the_configuration_reference():
    reference = (ROOT / "docs" / "configuration.md").read_text()

    assert sorted(v for v in settings_variables() if f"| `{v}` |" not in reference) == []


def test_the_check_mode_passes_on_the_committed_files():
    assert settings_reference.main(["--check"]) == 0


def test_the_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()

    assert "make run" in readme and "make test" in readme


def test_the_readme_is_short_and_its_links_resolve():
    readme = (ROOT / "README.md").read_text()

    assert len(readme.splitlines()) <= 250
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", document.read_text()):
            if "://" not in target:
                assert (document.parent / target).exists(), f"{document.name} links to missing {target}"
