"""Settings as a fresh process sees them: each case starts Python with only the given environment."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
STRONG_KEY = "k3Jx9-vQ2mZ7pR4tW8yB1nC6fH0sL5aE_dG2jK9uXcV-7hQe2Wr5Ty8Ui"
# The README's recommended production settings behind a TLS-terminating proxy.
BEHIND_HTTPS = {
    "USE_X_FORWARDED_PROTO": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}
PRINT_SETTINGS = (
    "import hashlib, django; django.setup(); from django.conf import settings; "
    "print(settings.DJANGO_ENV, settings.DEBUG, ','.join(settings.ALLOWED_HOSTS), "
    "hashlib.sha256(settings.SECRET_KEY.encode()).hexdigest())"
)


def run_python(var_dir: Path, *arguments: str, **environment: str) -> subprocess.CompletedProcess:
    """Python in a fresh process with only the given environment (plus PATH, HOME and the settings module)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", str(var_dir)),
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "VAR_DIR": str(var_dir),
        **environment,
    }
    return subprocess.run(
        [sys.executable, *arguments], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def start_django(var_dir: Path, **environment: str) -> subprocess.CompletedProcess:
    return run_python(var_dir, "-c", PRINT_SETTINGS, **environment)


def security_settings(var_dir: Path, **environment: str) -> dict:
    """The HTTPS-related settings, and whether a request the proxy marks as HTTPS counts as secure."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "from django.test import RequestFactory; "
        "names = ['SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_PROXY_SSL_HEADER', 'SECURE_SSL_REDIRECT', "
        "'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD']; "
        "values = {n: getattr(settings, n) for n in names}; "
        "request = RequestFactory().get('/', HTTP_X_FORWARDED_PROTO='https', SERVER_NAME='reviews.example.com'); "
        "values['forwarded_https_is_secure'] = request.is_secure(); print(json.dumps(values))"
    )
    result = run_python(var_dir, "-c", code, **environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


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
        (production(SECRET_KEY=STRONG_KEY[:49]), "SECRET_KEY is too weak"),
        (production(SECRET_KEY="abcd" * 20), "SECRET_KEY is too weak"),
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
        "production-49-character-key",
        "production-key-of-4-characters",
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


def test_manage_py_check_deploy_passes_with_the_recommended_production_settings(tmp_path):
    result = run_python(
        tmp_path / "var", "manage.py", "check", "--deploy", "--fail-level", "WARNING", **production(**BEHIND_HTTPS)
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_names_what_production_over_plain_http_lacks(tmp_path):
    # The compose stack's defaults without a TLS proxy: only the two HTTPS checks warn.
    result = run_python(tmp_path / "var", "manage.py", "check", "--deploy", "--fail-level", "WARNING", **production())

    assert result.returncode != 0
    assert sorted(set(re.findall(r"\(security\.(\w+)\)", result.stderr))) == ["W004", "W008"]


def test_production_cookies_are_https_only_by_default_and_the_proxy_is_trusted_only_when_told(tmp_path):
    defaults = security_settings(tmp_path / "var", **production())
    behind_https = security_settings(tmp_path / "var", **production(**BEHIND_HTTPS))
    over_http = security_settings(
        tmp_path / "var", **production(SESSION_COOKIE_SECURE="false", CSRF_COOKIE_SECURE="false")
    )

    assert defaults == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_PROXY_SSL_HEADER": None,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
        "forwarded_https_is_secure": False,
    }
    assert behind_https == {
        **defaults,
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "forwarded_https_is_secure": True,
    }
    assert (over_http["SESSION_COOKIE_SECURE"], over_http["CSRF_COOKIE_SECURE"]) == (False, False)


def test_development_without_any_environment_passes_the_checks_and_keeps_its_defaults(tmp_path):
    check = run_python(tmp_path / "var", "manage.py", "check", "--fail-level", "WARNING")
    development = security_settings(tmp_path / "var")

    assert check.returncode == 0, check.stdout + check.stderr
    assert development["SESSION_COOKIE_SECURE"] is development["CSRF_COOKIE_SECURE"] is False
    assert development["SECURE_PROXY_SSL_HEADER"] is None and development["SECURE_HSTS_SECONDS"] == 0


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


@pytest.mark.parametrize(
    ("environment", "expected"),
    [({}, [True, 10, 15 * 60]), ({"LOGIN_FAILURE_LIMIT": "5", "LOGIN_LOCKOUT_MINUTES": "60"}, [True, 5, 3600]),
     ({"LOGIN_FAILURE_LIMIT": "0"}, [False, 1, 15 * 60])],
)  # fmt: skip
def test_the_login_throttle_follows_its_two_variables(tmp_path, environment, expected):
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps([settings.AXES_ENABLED, settings.AXES_FAILURE_LIMIT, "
        "settings.AXES_COOLOFF_TIME.total_seconds()]))"
    )
    result = run_python(tmp_path, "-c", code, **environment)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == expected


def test_no_task_that_acknowledges_late_outlives_the_redis_visibility_timeout_except_training():
    """Past the visibility timeout Redis hands an unacknowledged task to another worker: a task still running then
    would run twice at once. Training is the exception by design (its second copy finds the job running)."""
    from project.celery import app

    options = app.conf.broker_transport_options or {}
    if "visibility_timeout" not in options:
        pytest.skip("the embedded broker has no visibility timeout")
    app.loader.import_default_modules()
    late = {
        name: task.time_limit
        for name, task in app.tasks.items()
        if getattr(task, "acks_late", False) and name != "training.run_training_job"
    }

    assert late, "no acks_late task found"
    assert all(limit is not None and limit < options["visibility_timeout"] for limit in late.values()), late
