"""Settings as a fresh process sees them: each case starts Python with only the given environment."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent
STRONG_KEY = "k3Jx9-vQ2mZ7pR4tW8yB1nC6fH0sL5aE_dG2jK9uXcV"
PRINT_SETTINGS = (
    "import hashlib, django; django.setup(); from django.conf import settings; "
    "print(settings.DJANGO_ENV, settings.DEBUG, ','.join(settings.ALLOWED_HOSTS), "
    "hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest())"
)


def start_django(var_dir: Path, **environment: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(var_dir)),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "VAR_DIR": str(var_dir),
        **environment,
    }
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def production(**overrides: str) -> dict[str, str]:
    return {"DJANGO_ENV": "production", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "reviews.example.com", **overrides}


def without(environment: dict[str, str], name: str) -> dict[str, str]:
    return {key: value for key, value in environment.items() if key != name}


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        (without(production(), "SECRET_KEY"), "SECRET_KEY must be set in production"),
        (production(SECRET_KEY="short"), "SECRET_KEY is too weak"),
        (production(SECRET_KEY="django-insecure-" + "x" * 40), "SECRET_KEY is too weak"),
        (production(DEBUG="true"), "DEBUG must be false in production"),
        (without(production(), "ALLOWED_HOSTS"), "ALLOWED_HOSTS must be set in production"),
        (production(ALLOWED_HOSTS=""), "ALLOWED_HOSTS must be set in production"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"DJANGO_ENV": "staging"}, "DJANGO_ENV must be development or production"),
    ],
    ids=[
        "production-without-secret-key",
        "production-short-key",
        "production-insecure-key",
        "production-debug",
        "production-without-hosts",
        "production-empty-hosts",
        "debug-maybe",
        "unknown-env",
    ],
)
def test_an_unsafe_or_unclear_setting_stops_the_start_with_a_message(tmp_path, environment, message):
    result = start_django(tmp_path / "var", **environment)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_starts_with_a_strong_key_allowed_hosts_and_debug_off(tmp_path):
    result = start_django(tmp_path / "var", **production(DEBUG="false"))

    assert result.returncode == 0, result.stderr
    env, debug, hosts, _ = result.stdout.split()
    assert (env, debug, hosts) == ("production", "False", "reviews.example.com")
    assert not (tmp_path / "var" / "secret_key").exists()


def test_without_any_environment_a_secret_key_is_generated_once_and_reused(tmp_path):
    var_dir = tmp_path / "var"

    first = start_django(var_dir)
    second = start_django(var_dir)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    key_file = var_dir / "secret_key"
    key = key_file.read_text().strip()
    assert len(key) >= 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    env, debug, _, first_key_hash = first.stdout.split()
    assert (env, debug) == ("development", "True")
    assert first_key_hash == second.stdout.split()[-1] == hashlib.sha256(key.encode()).hexdigest()


@pytest.mark.django_db
def test_sqlite_runs_in_wal_mode():
    if settings.IS_POSTGRES:
        pytest.skip("PostgreSQL has no journal mode")

    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        (mode,) = cursor.fetchone()

    assert mode.lower() == "wal"
