"""The database (and its optional read replica), the cache, the Celery broker and the task outbox."""

from __future__ import annotations

import os

import environ
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_float, env_int, env_str
from project.settings.base import RUNNING_TESTS, TIME_ZONE, VAR_DIR

# --- Database -----------------------------------------------------------------------------------------
# FastAPI runs plain `def` endpoints in a thread pool of this size; the PostgreSQL
# connection pool is sized to match so a busy API never opens more connections.
#: Thread pool for the API's sync endpoints; also the default maximum of the PostgreSQL pool
#: (`DB_POOL_MAX_SIZE`).
API_THREADS = env_int("API_THREADS", 16)
DATABASES = {
    #: Database; `postgres://user:password@host:5432/name` for PostgreSQL.
    #: default: `sqlite:///VAR_DIR/db.sqlite3`
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
        #: SQLite: how long a writer waits for the write lock before "database is locked".
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
        #: PostgreSQL: `application_name` of the connections (shown in `pg_stat_activity`).
        "application_name": env_str("DB_APPLICATION_NAME", "review-sentiment"),
        # A runaway query must not hold a connection forever.
        #: PostgreSQL: `statement_timeout` in milliseconds (10 minutes), so a runaway query cannot hold a
        #: connection.
        "options": f"-c statement_timeout={env_int('DB_STATEMENT_TIMEOUT_MS', 600_000)}",
    }
    # Celery prefork children must not inherit a pool's threads; the worker
    # entry point sets REVSENT_PROCESS=worker before settings load.
    #: PostgreSQL: use Django's psycopg connection pool in web processes (never in Celery processes).
    use_pool = env_bool("DB_POOL", True) and (
        #: Set by the code, not by you: project/__init__.py sets `worker` in processes started by the
        #: `celery` command, which turns the pool off; do not put it in `.env` (it would turn the pool off
        #: in the web process too).
        #: default: set to `worker` by the code in processes started by `celery`
        os.environ.get("REVSENT_PROCESS") != "worker"
    )
    if use_pool:
        options["pool"] = {
            #: PostgreSQL: smallest pool per web process.
            "min_size": env_int("DB_POOL_MIN_SIZE", 2),
            #: PostgreSQL: largest pool per web process.
            #: default: `API_THREADS`
            "max_size": env_int("DB_POOL_MAX_SIZE", API_THREADS),
            #: PostgreSQL: wait for a free pooled connection (also the longest a request waits while the
            #: database is down).
            "timeout": env_float("DB_POOL_TIMEOUT_SECONDS", 10.0),
        }
    DATABASES["default"]["OPTIONS"] = options
    DATABASES["default"].setdefault("TEST", {})

# An optional PostgreSQL read replica for analytics reads (project/db_router.py). It gets the same
# options as the primary, including its own pool per web process; under the test runner it mirrors
# the test database, so the suite needs no second server.
#: PostgreSQL read replica (e.g. a streaming replica of `DATABASE_URL`) for analytics reads (dashboard,
#: charts, constructive feedback, insights, monitoring); writes and all other reads stay on
#: `DATABASE_URL`. Pooled like the primary: each web process may hold up to `DB_POOL_MAX_SIZE`
#: connections to it as well.
#: default: empty (no replica)
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

# --- Cache and broker ---------------------------------------------------------------------------------
#: Redis for the cache and, unless `CELERY_BROKER_URL` says otherwise, the broker.
#: default: empty: file cache in `VAR_DIR/cache`, filesystem broker
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            #: Key prefix in the Redis cache (only used with `REDIS_URL`).
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "revsent"),
            "TIMEOUT": 300,
            # The cache is an optimisation: a dead or hanging Redis must cost a request little (project/cache.py).
            "OPTIONS": {
                #: Connect and read timeout of the Redis cache.
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
# The cache is an optimisation (project/cache.py).
#: After a cache error, requests skip the cache (a miss) for this long before trying it again.
CACHE_RETRY_SECONDS = env_float("CACHE_RETRY_SECONDS", 5.0)

CELERY_BROKER_DIR = VAR_DIR / "broker"
# The filesystem broker ignores the host, but without one kombu warns "No hostname was supplied" at every publish.
#: Celery broker.
#: default: `REDIS_URL` if set, else `filesystem://localhost//` (kombu's filesystem transport in `VAR_DIR/broker`)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "filesystem://localhost//")
#: Hard time limit of a training task in seconds (3 hours); the soft limit is 60 s less.
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
    # It was training's limit + 1 h (4 h): a worker killed mid re-scoring left reviews on the old model
    # for hours.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        #: Redis broker: a task taken by a worker that died (acks_late) goes to another worker after this
        #: long; above every such task's hard time limit except training's (evaluate_weekly: 1,900 s), or a
        #: task still running would be handed out twice (a training task handed out twice finds its job
        #: running and returns at once).
        "visibility_timeout": env_int("BROKER_VISIBILITY_TIMEOUT_SECONDS", 2400),
        # A request that publishes must not hang on a dead or unreachable broker (the outbox keeps the
        # task).
        #: Redis broker: connect timeout (a publish to a dead broker fails fast; the outbox keeps the task).
        "socket_connect_timeout": env_float("BROKER_CONNECT_TIMEOUT_SECONDS", 1.0),
        #: Redis broker: read timeout (above the worker's 1 s blocking pop).
        "socket_timeout": env_float("BROKER_SOCKET_TIMEOUT_SECONDS", 5.0),
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
#: Run Celery tasks inline in the caller instead of on a worker (tests, debugging).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 600
CELERY_TASK_TIME_LIMIT = 900
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# One quick retry (a pooled connection to a restarted Redis is stale), then the publish fails and the
# task waits in the outbox (project/outbox/services.py) instead of the request waiting for the broker.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

# --- The task outbox ----------------------------------------------------------------------------------
# Background work enqueued by a write is an outbox row in the same transaction, published after commit;
# a row the broker refused is sent by the relay: a thread in each web process and the `outbox.relay` beat
# task (docs/operations.md).
#: Interval of the outbox relay thread in each web process, which sends tasks the broker could not take;
#: `0` turns it off.
#: default: `5` (`0` under pytest)
OUTBOX_RELAY_SECONDS = env_float("OUTBOX_RELAY_SECONDS", 0 if RUNNING_TESTS else 5.0)
#: The relay leaves rows younger than this to their own after-commit publish.
OUTBOX_RELAY_MIN_AGE_SECONDS = env_float("OUTBOX_RELAY_MIN_AGE_SECONDS", 2.0)
#: After a failed publish, a web process stops trying the broker for this long.
OUTBOX_BROKER_RETRY_SECONDS = env_float("OUTBOX_BROKER_RETRY_SECONDS", 5.0)
#: The record of sent tasks (admin: *Sent tasks*) is deleted after this long (hours).
OUTBOX_KEEP_SENT_HOURS = env_float("OUTBOX_KEEP_SENT_HOURS", 24.0)
