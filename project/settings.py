"""Settings, driven by the environment (see `.env.example` and the README table).

With no environment at all the project runs in development mode on the embedded
default: SQLite, kombu's filesystem broker, a file cache and a local MLflow store,
all of it under `var/`. Setting `DATABASE_URL` / `REDIS_URL` switches to the real
services. Production (`DJANGO_ENV=production`) is opt-in and refuses unsafe values.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

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


DJANGO_ENV = env_str("DJANGO_ENV", "development").strip().lower()
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development or production, got {DJANGO_ENV!r}")
IS_PRODUCTION = DJANGO_ENV == "production"

# All runtime state (database, broker folder, MLflow store, artifacts, secret key,
# logs) lives here, created on first use.
# The test suite gets its own folder so it never shares a broker or database file
# with a running development instance (pytest imports settings before conftest).
RUNNING_TESTS = "pytest" in sys.modules
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


SECRET_KEY = env_str("SECRET_KEY", "")
if not SECRET_KEY:
    if IS_PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    SECRET_KEY = _development_secret_key()
elif IS_PRODUCTION and (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure")):
    # Django's own bar (check --deploy, security.W009): a key that fails it is refused, not warned about.
    raise ImproperlyConfigured("SECRET_KEY is too weak for production (50+ random characters)")

DEBUG = env_bool("DEBUG", default=not IS_PRODUCTION)
if IS_PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must be false in production")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]", "testserver"])
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production")
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

# --- Database ---------------------------------------------------------------
# FastAPI runs plain `def` endpoints in a thread pool of this size; the PostgreSQL
# connection pool is sized to match so a busy API never opens more connections.
API_THREADS = env_int("API_THREADS", 16)
DATABASES = {
    "default": environ.Env.db_url_config(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")),
}
DB_ENGINE = DATABASES["default"]["ENGINE"]
IS_SQLITE = DB_ENGINE == "django.db.backends.sqlite3"
IS_POSTGRES = DB_ENGINE == "django.db.backends.postgresql"
# Connections are pooled (PostgreSQL) or cheap (SQLite); under ASGI persistent
# per-thread connections would leak one per pool thread.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
if IS_SQLITE:
    # Web, worker and beat write the same file at once: WAL lets readers proceed
    # during a write, IMMEDIATE takes the write lock at BEGIN (no lock upgrades that
    # deadlock), and the busy timeout waits instead of failing with "locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("SQLITE_BUSY_TIMEOUT_SECONDS", 30),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
    # models.W040: SQLite has no covering indexes. The reviews indexes declared with `include=` are still
    # created there, without the INCLUDE columns; the included columns only save PostgreSQL a table read.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
elif IS_POSTGRES:
    options: dict = {
        "application_name": env_str("DB_APPLICATION_NAME", "review-sentiment"),
        # A runaway query must not hold a connection forever.
        "options": f"-c statement_timeout={env_int('DB_STATEMENT_TIMEOUT_MS', 600_000)}",
    }
    # Celery prefork children must not inherit a pool's threads; the worker
    # entry point sets REVSENT_PROCESS=worker before settings load.
    use_pool = env_bool("DB_POOL", True) and os.environ.get("REVSENT_PROCESS") != "worker"
    if use_pool:
        options["pool"] = {
            "min_size": env_int("DB_POOL_MIN_SIZE", 2),
            "max_size": env_int("DB_POOL_MAX_SIZE", API_THREADS),
            "timeout": env_float("DB_POOL_TIMEOUT_SECONDS", 10.0),
        }
    DATABASES["default"]["OPTIONS"] = options
    DATABASES["default"].setdefault("TEST", {})

# An optional PostgreSQL read replica for analytics reads (project/db_router.py). It gets the same
# options as the primary, including its own pool per web process; under the test runner it mirrors
# the test database, so the suite needs no second server.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
if DATABASE_REPLICA_URL:
    replica = environ.Env.db_url_config(DATABASE_REPLICA_URL)
    if not IS_POSTGRES or replica["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs PostgreSQL for both DATABASE_URL and the replica")
    replica.update(
        CONN_MAX_AGE=0,
        CONN_HEALTH_CHECKS=False,
        OPTIONS={**DATABASES["default"]["OPTIONS"], "application_name": f"{options['application_name']}-replica"},
        TEST={"MIRROR": "default"},
    )
    DATABASES["replica"] = replica
DATABASE_ROUTERS = ["project.db_router.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and broker ---------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "revsent"),
            "TIMEOUT": 300,
            # The cache is an optimisation: a dead or hanging Redis must cost a request little (project/cache.py).
            "OPTIONS": {
                "socket_connect_timeout": env_float("CACHE_SOCKET_TIMEOUT_SECONDS", 0.25),
                "socket_timeout": env_float("CACHE_SOCKET_TIMEOUT_SECONDS", 0.25),
            },
        }
    }
else:
    # A file cache is shared by web, worker and beat on one machine.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
            "TIMEOUT": 300,
        }
    }

CELERY_BROKER_DIR = VAR_DIR / "broker"
# The filesystem broker ignores the host, but without one kombu warns "No hostname was supplied" at every publish.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost//")
TRAINING_TIME_LIMIT_SECONDS = env_int("TRAINING_TIME_LIMIT_SECONDS", 3 * 3600)
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_DIR.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Without it kombu writes its control exchange relative to the working directory.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
        # Without it a task waits ~1 s before a worker notices it.
        "polling_interval": 0.1,
    }
else:
    # How long Redis waits before it hands a task a dead worker had taken (acks_late) to another worker. Longer
    # than every acks_late task's hard time limit except training's (evaluate_weekly: 1,900 s), or a task still
    # running would be handed out twice; a training task handed out twice finds its job running and returns at
    # once. It was training's limit + 1 h (4 h): a worker killed mid re-scoring left reviews on the old model
    # for hours.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("BROKER_VISIBILITY_TIMEOUT_SECONDS", 2400),
        # A request that publishes must not hang on a dead or unreachable broker (the outbox keeps the
        # task). The read timeout stays above the worker's 1 s BRPOP.
        "socket_connect_timeout": env_float("BROKER_CONNECT_TIMEOUT_SECONDS", 1.0),
        "socket_timeout": env_float("BROKER_SOCKET_TIMEOUT_SECONDS", 5.0),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 900
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = env_str("TIME_ZONE", "UTC")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One quick retry (a pooled connection to a restarted Redis is stale), then the publish fails and the
# task waits in the outbox (project/outbox/services.py) instead of the request waiting for the broker.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

# Background work enqueued by a write is an outbox row in the same transaction, published after commit;
# a row the broker refused is sent by the relay: a thread in each web process every OUTBOX_RELAY_SECONDS
# (0: off; off in the in-process test run) and the `outbox.relay` beat task. After a failed publish the
# web process stops trying the broker for OUTBOX_BROKER_RETRY_SECONDS; the relay leaves fresh rows to
# their own after-commit publish for OUTBOX_RELAY_MIN_AGE_SECONDS. Sent rows are kept OUTBOX_KEEP_SENT_HOURS.
OUTBOX_RELAY_SECONDS = env_float("OUTBOX_RELAY_SECONDS", 0 if RUNNING_TESTS else 5.0)
OUTBOX_RELAY_MIN_AGE_SECONDS = env_float("OUTBOX_RELAY_MIN_AGE_SECONDS", 2.0)
OUTBOX_BROKER_RETRY_SECONDS = env_float("OUTBOX_BROKER_RETRY_SECONDS", 5.0)
OUTBOX_KEEP_SENT_HOURS = env_float("OUTBOX_KEEP_SENT_HOURS", 24.0)
# After a cache error, requests skip the cache (a miss) for this long before trying it again.
CACHE_RETRY_SECONDS = env_float("CACHE_RETRY_SECONDS", 5.0)

# --- Auth, API ------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/accounts/login/"
# Password guessing on the login form and the admin (django-axes): after LOGIN_FAILURE_LIMIT wrong
# passwords for one username from one address, that pair gets 429 for LOGIN_LOCKOUT_MINUTES; a
# correct password resets the count. Per pair, so a guesser cannot lock a user out from everywhere;
# the address is the client uvicorn resolved (X-Forwarded-For only from FORWARDED_ALLOW_IPS).
# Attempts, lockouts and successful logins are listed in the admin; `manage.py axes_reset` unlocks.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_ENABLED = LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = max(LOGIN_FAILURE_LIMIT, 1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
AXES_USERNAME_CALLABLE = "project.auth.login_attempt_username"
CSRF_FAILURE_VIEW = "project.views.csrf_failure"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# The token check runs on every API call; its result is cached this long (a
# deleted token or removed role stops working within this window at most, and at
# once on the same cache because deletes invalidate the entry).
API_TOKEN_CACHE_SECONDS = env_int("API_TOKEN_CACHE_SECONDS", 60)
# Per-token rate limit of the API (project/ratelimit.py): requests per window, counted in Redis
# (or the cache) with per-process batching; 0 turns it off. Staff and superuser tokens are exempt
# unless API_RATE_LIMIT_STAFF. The default is far above what bench/api.py reaches on 2 cores.
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 300_000)
API_RATE_LIMIT_WINDOW_SECONDS = env_int("API_RATE_LIMIT_WINDOW_SECONDS", 60)
if API_RATE_LIMIT < 0 or API_RATE_LIMIT_WINDOW_SECONDS < 1:
    raise ImproperlyConfigured("API_RATE_LIMIT must be >= 0 and API_RATE_LIMIT_WINDOW_SECONDS >= 1")
API_RATE_LIMIT_STAFF = env_bool("API_RATE_LIMIT_STAFF", False)
# Largest request body, refused with 413 before it is read (project/bodylimit.py). The API's default
# fits 1,000 reviews or texts of ~9,000 characters each; pages only post small forms (no uploads),
# and Django's own check of form and JSON bodies uses the same number.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 10_000_000)
PAGE_MAX_BODY_BYTES = env_int("PAGE_MAX_BODY_BYTES", 2_621_440)
# The staff Imports page takes review files up to this size (the file is kept in the database until imported).
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 50_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = PAGE_MAX_BODY_BYTES
API_MAX_BULK_ITEMS = 1000
API_MAX_PAGE_SIZE = 500
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
}

# --- Model and labels -----------------------------------------------------------
# Weak labels from star ratings (used by training): <= NEGATIVE_MAX is negative,
# >= POSITIVE_MIN is positive, anything between is neutral.
RATING_NEGATIVE_MAX = env_float("RATING_NEGATIVE_MAX", 2.0)
RATING_POSITIVE_MIN = env_float("RATING_POSITIVE_MIN", 4.0)
HUMAN_LABEL_WEIGHT = env_float("HUMAN_LABEL_WEIGHT", 3.0)
TRAIN_INCLUDE_NON_ENGLISH = env_bool("TRAIN_INCLUDE_NON_ENGLISH", False)
# Which sentiment model training builds: "fast" (hashed TF-IDF + LR, the default) or "accurate"
# (the same blended with MiniLM sentence embeddings: better on short texts, several times slower).
SENTIMENT_MODEL_KIND = env_str("SENTIMENT_MODEL_KIND", "fast")
if SENTIMENT_MODEL_KIND not in ("fast", "accurate"):
    raise ImproperlyConfigured(f"SENTIMENT_MODEL_KIND must be fast or accurate, not {SENTIMENT_MODEL_KIND!r}")
# The trained aspect model adds MiniLM sentence embeddings (bundled, run by onnxruntime) to its
# TF-IDF features: better aspects and polarity, slower extraction (see bench/README.md).
ASPECT_EMBEDDINGS = env_bool("ASPECT_EMBEDDINGS", True)
# The trained aspect model's polarity also reads the deployed sentiment model's probabilities of each
# sentence and clause (+0.016 polarity accuracy on the SemEval test split; see bench/README.md).
ASPECT_SENTIMENT_FEATURES = env_bool("ASPECT_SENTIMENT_FEATURES", True)
# The gate: a candidate replaces the champion only if its macro-F1 is higher by at
# least GATE_MIN_DELTA, a paired bootstrap gives at least GATE_MIN_PROBABILITY that
# it is better, and no class loses more than GATE_MAX_CLASS_F1_DROP of F1.
GATE_MIN_DELTA = env_float("GATE_MIN_DELTA", 0.005)
GATE_MIN_PROBABILITY = env_float("GATE_MIN_PROBABILITY", 0.90)
GATE_MAX_CLASS_F1_DROP = env_float("GATE_MAX_CLASS_F1_DROP", 0.05)
GATE_BOOTSTRAP_SAMPLES = env_int("GATE_BOOTSTRAP_SAMPLES", 1000)
# Below this many human-labelled reviews in the evaluation bucket, the gate uses
# rated reviews held out the same way (and says so).
EVALUATION_MIN_HUMAN_LABELS = env_int("EVALUATION_MIN_HUMAN_LABELS", 200)
# A rated (weak-label) evaluation set larger than this is a stable sample of its reviews, so
# the gate's scoring stops growing with the data (20,000 reviews scored twice took 3 s of a
# 30 s job at 100,000 reviews).
EVALUATION_MAX_RATED = env_int("EVALUATION_MAX_RATED", 10_000)
# How much new data since the last training justifies retraining.
RETRAIN_MIN_NEW_LABELS = env_int("RETRAIN_MIN_NEW_LABELS", 50)
RETRAIN_MIN_NEW_RATED = env_int("RETRAIN_MIN_NEW_RATED", 500)
PREDICTION_CACHE_SECONDS = env_int("PREDICTION_CACHE_SECONDS", 86400)
# A running job's worker refreshes its heartbeat this often; the sweep fails a job
# whose heartbeat is older than JOB_STUCK_AFTER_SECONDS (its worker died).
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", 20.0)
JOB_STUCK_AFTER_SECONDS = env_int("JOB_STUCK_AFTER_SECONDS", 180)
# How often a web process checks the database for a newly deployed model.
MODEL_REFRESH_SECONDS = env_float("MODEL_REFRESH_SECONDS", 5.0)
MODEL_ARTIFACT_DIR = Path(env_str("MODEL_ARTIFACT_DIR", str(VAR_DIR / "models")))
# Model files go to S3 when a bucket is set (AWS S3 or MinIO via AWS_S3_ENDPOINT_URL);
# MODEL_ARTIFACT_DIR then only caches downloads.
MODEL_S3_BUCKET = env_str("MODEL_S3_BUCKET", "")
MODEL_S3_PREFIX = env_str("MODEL_S3_PREFIX", "models/")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", os.environ.get("MLFLOW_S3_ENDPOINT_URL", ""))

MLFLOW_ENABLED = env_bool("MLFLOW_ENABLED", True)
MLFLOW_TRACKING_URI = env_str("MLFLOW_TRACKING_URI", f"sqlite:///{VAR_DIR / 'mlflow' / 'mlflow.db'}")
# Where new experiments keep artifacts: a folder under var/ by default, or s3://bucket/path.
MLFLOW_ARTIFACT_ROOT = env_str("MLFLOW_ARTIFACT_ROOT", (VAR_DIR / "mlflow" / "artifacts").as_uri())
MLFLOW_EXPERIMENT = env_str("MLFLOW_EXPERIMENT", "review-sentiment")
MLFLOW_MODEL_NAME = env_str("MLFLOW_MODEL_NAME", "review-sentiment")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
SHARED_DATA_DIR = Path(env_str("SHARED_DATA_DIR", str(BASE_DIR.parent / "shared" / "data")))

# --- Staff pages -------------------------------------------------------------------
# A review shown to a labeller is reserved for them this long.
LABELLING_RESERVATION_SECONDS = env_int("LABELLING_RESERVATION_SECONDS", 120)
# Share of reviews that also go to a second labeller (agreement, Cohen's kappa).
LABELLING_DOUBLE_SHARE = env_float("LABELLING_DOUBLE_SHARE", 0.1)
# Share of random reviews mixed into the most-uncertain queue, to keep labels representative.
LABELLING_UNCERTAIN_RANDOM_SHARE = env_float("LABELLING_UNCERTAIN_RANDOM_SHARE", 0.2)
# Link model versions to their MLflow runs when an MLflow UI is available, e.g. http://mlflow:5000. Unset, the
# pages link to MLFLOW_TRACKING_URI when that is an http(s) server, and show the bare run id otherwise (sqlite).
MLFLOW_UI_URL = env_str("MLFLOW_UI_URL", "")

# --- Monitoring and alerts ----------------------------------------------------------
MONITOR_WINDOW_DAYS = env_int("MONITOR_WINDOW_DAYS", 7)
# Live accuracy below this (with at least MONITOR_MIN_LABELS labels) triggers retraining.
MONITOR_ACCURACY_THRESHOLD = env_float("MONITOR_ACCURACY_THRESHOLD", 0.80)
MONITOR_MIN_LABELS = env_int("MONITOR_MIN_LABELS", 50)
# Drift alarms need this many predictions, a PSI above the threshold and a significant test.
MONITOR_MIN_PREDICTIONS = env_int("MONITOR_MIN_PREDICTIONS", 200)
MONITOR_PSI_THRESHOLD = env_float("MONITOR_PSI_THRESHOLD", 0.2)
MONITOR_OOV_DELTA = env_float("MONITOR_OOV_DELTA", 0.05)
MONITOR_P_VALUE = env_float("MONITOR_P_VALUE", 0.01)
# After a monitoring-triggered training, no new trigger for this long.
MONITOR_RETRAIN_COOLDOWN_HOURS = env_float("MONITOR_RETRAIN_COOLDOWN_HOURS", 24.0)
# A business's negative share in the last day against its previous weeks.
NEGATIVE_SPIKE_MIN_REVIEWS = env_int("NEGATIVE_SPIKE_MIN_REVIEWS", 10)
ALERT_WEBHOOK_TIMEOUT_SECONDS = env_float("ALERT_WEBHOOK_TIMEOUT_SECONDS", 5.0)
ALERT_RETRIES = env_int("ALERT_RETRIES", 5)
ALERT_RETRY_BACKOFF_SECONDS = env_float("ALERT_RETRY_BACKOFF_SECONDS", 1.0)
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "review-sentiment@localhost")

# --- I18N, static -----------------------------------------------------------------
LANGUAGE_CODE = "en-us"
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
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
# In development WhiteNoise serves straight from the finders: no collectstatic step.
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

# --- Production hardening ----------------------------------------------------------
# Behind a TLS-terminating proxy: trust its X-Forwarded-Proto (only if it always sets it).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("USE_X_FORWARDED_PROTO", False) else None
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", IS_PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", IS_PRODUCTION)
# HSTS is opt-in even in production: browsers remember it, so a site that turns it on by
# accident cannot go back to plain HTTP for that long (the README recommends values).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Off by default: without USE_X_FORWARDED_PROTO, behind a TLS proxy every request looks like
# plain HTTP and would redirect forever. /api (FastAPI) is not redirected either way.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)

# --- Logging and metrics -------------------------------------------------------------
LOG_DIR = VAR_DIR / "logs"
LOG_DIR.mkdir(parents=True, exist_ok=True)
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
# text: one line per record; json: one JSON object per line (for log shippers). Both carry the request id.
LOG_FORMAT = env_str("LOG_FORMAT", "text").lower()
if LOG_FORMAT not in ("text", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "project.observability.RequestIdFilter"}},
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
            "stream": sys.stderr,
        },
        "file": {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": str(LOG_DIR / "app.log"),
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console", "file"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Prometheus metrics (GET /metrics, project/metrics.py). Every web and Celery process writes its
# counters to memory-mapped files in this folder, summed at scrape time: all processes of one
# deployment must share it, and `make run` empties it at start.
PROMETHEUS_MULTIPROC_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))).resolve()
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
# prometheus_client reads the variable when its first metric is made, in this process and its children.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
# /metrics answers only clients in these networks, and, when a token is set, only with
# `Authorization: Bearer <token>` (or `Token <token>`).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS must be a comma-separated list of networks (CIDR), got {_network!r}"
        ) from exc
