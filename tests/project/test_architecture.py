"""The house stays in shape: module sizes and the import rules (docs/architecture.md).

`make test` runs lint-imports on .importlinter (layers, infrastructure, the pure training.ml, no cycles);
these tests keep what the contracts cannot say."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("project", "reviews", "training", "analytics")
MAX_LINES = 400  # one job per module


def python_modules() -> list[Path]:
    return sorted(
        path for package in PACKAGES for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts
    )


def test_no_module_is_over_400_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in python_modules()}

    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


def test_the_contracts_name_the_three_apps_in_their_order():
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")

    assert config["importlinter:contract:apps"]["layers"].split() == ["analytics", "training", "reviews"]
    assert config["importlinter:contract:ml-pure"]["source_modules"].split() == ["training.ml"]


def test_the_import_contracts_hold():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )

    assert result.returncode == 0, result.stdout[-3000:]
