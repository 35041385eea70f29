"""Mode, runtime files, security, the Django application itself, time and static files, HTTPS."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

# --- Mode and files -----------------------------------------------------------------------------------
#: `development` or `production`; production refuses unsafe values (a missing or weak `SECRET_KEY`, a
#: true `DEBUG`, an empty `ALLOWED_HOSTS`; see docs/operations.md).
DJANGO_ENV = env_str("DJANGO_ENV", "development").strip().lower()
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development or production, got {DJANGO_ENV!r}")
IS_PRODUCTION = DJANGO_ENV == "production"

# The test suite gets its own folder so it never shares a broker or database file
# with a running development instance (pytest imports settings before conftest).
RUNNING_TESTS = "pytest" in sys.modules
#: Runtime state: SQLite database, broker folder, file cache, model files, development secret key,
#: logs; created on first use.
#: default: `var/` in the repository (`var/test/` under pytest)
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var" / ("test" if RUNNING_TESTS else "")))).resolve()
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _development_secret_key() -> str:
    """A random key generated once and kept in var/, so sessions survive restarts."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        try:
            # O_EXCL: web, worker and beat may start at the same moment.
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
    for _ in range(50):
        key = key_file.read_text().strip()
        if key:
            return key
        import time

        time.sleep(0.02)
    raise ImproperlyConfigured(f"{key_file} is empty")


# --- Security -----------------------------------------------------------------------------------------
#: Django's signing key; production needs 50+ characters, 5+ different ones, not starting with
#: `django-insecure` (Django's own bar for `check --deploy`).
#: default: development: generated once into `VAR_DIR/secret_key`; production: required
SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if IS_PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    SECRET_KEY = _development_secret_key()
elif IS_PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure")):
    # Django's own bar (check --deploy, security.W009): a key that fails it is refused, not warned about.
    raise ImproperlyConfigured("SECRET_KEY is too weak for production (50+ random characters)")

#: Django debug mode; refused in production.
#: default: `true` in development, `false` in production
DEBUG = env_bool("DEBUG", default=not IS_PRODUCTION)
if IS_PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be false in production")

#: Host names the site answers to (comma-separated).
#: default: development: `localhost,127.0.0.1,[::1],testserver`; production: empty (refused)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production")
#: Origins trusted for CSRF on the Django pages (login, admin), e.g. `https://reviews.example.com`.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_celery_beat",
    "axes",
    "reviews",
    "training",
    "analytics",
    "project.outbox",
    "project",  # its management commands (backup, restore): wiring that reaches every app
]

MIDDLEWARE = [
    # Hands the matched URL pattern to the request metrics (project/observability.py).
    "project.observability.route_label_middleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a login refused for too many failures into the lockout page (django-axes).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Time and static files ----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
#: Time zone for naive dates in requests and for Celery's schedule.
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Dates read "5 Jan 2013" and "5 Jan 2013, 14:05" (never "midnight" or "p.m."). Localised formatting is always
# on in Django 5, so the locale's format module wins over the settings below: project/formats/en holds the same
# formats and comes first. The settings still serve code that formats with use_l10n=False.
FORMAT_MODULE_PATH = ["project.formats"]
DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y, H:i"

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
#: Target of `collectstatic` (WhiteNoise serves static files from here).
#: default: `VAR_DIR/staticfiles`
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# In development WhiteNoise serves straight from the finders: no collectstatic step.
#: Serve static files from the app folders without `collectstatic`.
#: default: `false` (always on when `DEBUG`)
WHITENOISE_USE_FINDERS = DEBUG or env_bool("WHITENOISE_USE_FINDERS", False)
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- HTTPS behind a proxy -----------------------------------------------------------------------------
#: Trust `X-Forwarded-Proto: https` from a reverse proxy (only behind one that always sets it).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("USE_X_FORWARDED_PROTO", False) else None
#: Session cookie over HTTPS only.
#: default: `true` in production, `false` in development
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", IS_PRODUCTION)
#: CSRF cookie over HTTPS only.
#: default: `true` in production, `false` in development
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", IS_PRODUCTION)
# HSTS is opt-in even in production: browsers remember it, so a site that turns it on by
# accident cannot go back to plain HTTP for that long (docs/operations.md recommends values).
#: HSTS max-age in seconds; 0 sends no header.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
#: HSTS also covers subdomains (only with `SECURE_HSTS_SECONDS`).
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
#: HSTS asks to be preloaded by browsers (only with `SECURE_HSTS_SECONDS`).
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Off by default: without USE_X_FORWARDED_PROTO, behind a TLS proxy every request looks like
# plain HTTP and would redirect forever. /api (FastAPI) is not redirected either way.
#: Redirect plain HTTP to HTTPS (the Django pages; /api is not redirected).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
