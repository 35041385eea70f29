"""Who may do what and how much: logins and their throttle, API tokens, rate and body limits."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_float, env_int

# --- Logins -------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
# Password guessing on the login form and the admin (django-axes): per (username, address) pair, so a
# guesser cannot lock a user out from everywhere; the address is the client uvicorn resolved
# (X-Forwarded-For only from FORWARDED_ALLOW_IPS). Attempts, lockouts and successful logins are listed in
# the admin; `manage.py axes_reset` unlocks.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
#: Wrong passwords for one username from one address before that pair is refused with 429 (staff login
#: form and admin, django-axes; see docs/api.md); a correct password resets the count;
#: `manage.py axes_reset_username NAME` unlocks at once; `0` turns the login throttle off.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_ENABLED = LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = max(LOGIN_FAILURE_LIMIT, 1)
#: How long such a pair stays refused (minutes).
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "project.auth.login_attempt_username"
CSRF_FAILURE_VIEW = "project.views.csrf_failure"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# --- API ----------------------------------------------------------------------------------------------
# The token check runs on every API call; its result is cached in the shared cache.
#: How long a resolved API token (user and permissions) is cached; a deleted token or removed role stops
#: working within this window at most, and at once on the same cache because deletes invalidate the entry.
API_TOKEN_CACHE_SECONDS = env_int("API_TOKEN_CACHE_SECONDS", 60)
# Per-token rate limit of the API (project/ratelimit.py), counted in Redis (or the cache) with per-process
# batching. The default is far above what bench/api.py reaches on 2 cores.
#: Requests per window per API token (see docs/api.md); `0` turns rate limiting off.
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 300_000)
#: Length of a rate limit window (seconds).
API_RATE_LIMIT_WINDOW_SECONDS = env_int("API_RATE_LIMIT_WINDOW_SECONDS", 60)
if API_RATE_LIMIT < 0 or API_RATE_LIMIT_WINDOW_SECONDS < 1:
    raise ImproperlyConfigured("API_RATE_LIMIT must be >= 0 and API_RATE_LIMIT_WINDOW_SECONDS >= 1")
#: Also rate-limit tokens of staff users and superusers (exempt otherwise).
API_RATE_LIMIT_STAFF = env_bool("API_RATE_LIMIT_STAFF", False)
# Largest request body, refused with 413 before it is read (project/bodylimit.py). Pages only post small
# forms (no uploads), and Django's own check of form and JSON bodies uses the same number.
#: Largest API request body; larger ones get 413 before they are read (the default fits a bulk of 1,000
#: reviews or texts of ~9,000 characters each).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 10_000_000)
#: Largest request body of the Django pages (also `DATA_UPLOAD_MAX_MEMORY_SIZE`).
PAGE_MAX_BODY_BYTES = env_int("PAGE_MAX_BODY_BYTES", 2_621_440)
#: Largest review file the `/imports/` page takes (that form's body limit; the file is kept in the
#: database until imported).
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 50_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = PAGE_MAX_BODY_BYTES
API_MAX_BULK_ITEMS = 1000
API_MAX_PAGE_SIZE = 500
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
}
