"""Logs and Prometheus metrics (request ids: project/observability.py)."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from project.env import env_list, env_str
from project.settings.base import VAR_DIR

# --- Logging ------------------------------------------------------------------------------------------
LOG_DIR = VAR_DIR / "logs"
LOG_DIR.mkdir(parents=True, exist_ok=True)
#: Root log level (`DEBUG`, `INFO`, `WARNING`, `ERROR`); logs go to stderr and `VAR_DIR/logs/app.log`,
#: Celery's too (so it sets their level, not `--loglevel`).
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
#: `text` (one line per record) or `json` (one JSON object per line, for log shippers); both carry the
#: request id (see docs/operations.md).
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

# --- Metrics (GET /metrics, Prometheus) ---------------------------------------------------------------
# project/metrics.py. Every web and Celery process writes its counters to memory-mapped files in this
# folder, summed at scrape time; `make run` empties it at start.
#: Folder of the metrics files that every web and Celery process of one deployment must share.
#: default: `VAR_DIR/prometheus`
PROMETHEUS_MULTIPROC_DIR = Path(env_str("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus"))).resolve()
PROMETHEUS_MULTIPROC_DIR.mkdir(parents=True, exist_ok=True)
# prometheus_client reads the variable when its first metric is made, in this process and its children.
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_MULTIPROC_DIR)
#: When set, `/metrics` also needs `Authorization: Bearer <token>` (or `Token <token>`).
#: default: empty (no token)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
#: Networks (CIDR, comma-separated) whose clients may read `/metrics`; `0.0.0.0/0,::/0` for any (then set
#: a token).
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_NETWORKS must be a comma-separated list of networks (CIDR), got {_network!r}"
        ) from exc
