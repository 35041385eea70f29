"""The optional read replica (DATABASE_REPLICA_URL, project/db_router.py).

In the suite the `replica` alias points at the test database itself (what Django's TEST MIRROR does),
through a connection of its own, so a query can be traced to the alias that ran it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import router

from project.db_router import REPLICA, read_alias, replica_reads
from reviews.models import Review

ROOT = Path(__file__).resolve().parents[2]

PRINT_DATABASES = (
    "import django, json; django.setup(); from django.conf import settings; "
    "print(json.dumps({alias: {'NAME': db['NAME'], 'TEST': db.get('TEST'), 'pool': 'pool' in db.get('OPTIONS', {}),"
    " 'application_name': db.get('OPTIONS', {}).get('application_name')} for alias, db in settings.DATABASES.items()}))"
)


def start_django(tmp_path, **environment: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "VAR_DIR": str(tmp_path),
        **environment,
    }
    return subprocess.run(
        [sys.executable, "-c", PRINT_DATABASES], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_without_a_replica_url_there_is_no_replica_alias_and_analytics_reads_use_default(settings):
    assert REPLICA not in settings.DATABASES
    with replica_reads():
        assert router.db_for_read(Review) == "default"
        assert read_alias() == "default"
    assert router.db_for_write(Review) == "default"


def test_a_replica_url_adds_a_replica_alias_that_mirrors_default_under_tests(tmp_path):
    import json

    result = start_django(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/primary",
        DATABASE_REPLICA_URL="postgres://reader@replica.example.com:5432/primary",
    )
    assert result.returncode == 0, result.stderr
    databases = json.loads(result.stdout.strip().splitlines()[-1])
    assert databases["replica"]["NAME"] == "primary"
    assert databases["replica"]["TEST"]["MIRROR"] == "default"
    assert databases["replica"]["pool"] is True
    assert databases["replica"]["application_name"] == "review-sentiment-replica"
    assert not databases["default"]["TEST"].get("MIRROR")


def test_a_replica_without_postgresql_stops_the_start_with_a_message(tmp_path):
    result = start_django(tmp_path, DATABASE_REPLICA_URL=f"sqlite:///{tmp_path / 'replica.sqlite3'}")
    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL needs PostgreSQL" in result.stderr


def test_with_a_replica_analytics_reads_use_it_and_everything_else_uses_default(tmp_path, on_postgres):
    """tests/replica_checks.py run by its own pytest with DATABASE_REPLICA_URL set: the settings add the
    alias, the test runner makes it a mirror of the test database, and the checks trace every query."""
    if not on_postgres or not os.environ.get("DATABASE_URL"):
        pytest.skip("the replica needs PostgreSQL")
    # Its own database name, so its test database never meets this run's.
    url = os.environ["DATABASE_URL"].split("?")[0].rstrip("/") + "_replica"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(DATABASE_URL=url, DATABASE_REPLICA_URL=url, VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/replica_checks.py", "-q", "-p", "no:cacheprovider", "--create-db"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "5 passed" in result.stdout, result.stdout[-2000:]
