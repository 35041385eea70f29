"""The Celery app: `celery -A project worker` / `celery -A project beat`.

Every queue is declared in task_queues so a plain worker consumes them all; a
deployment can still run dedicated workers with `-Q training`.
"""

from __future__ import annotations

import os

from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

from celery import Celery  # noqa: E402
from celery.signals import setup_logging  # noqa: E402

DEFAULT_QUEUE = "default"
BULK_QUEUE = "bulk"
TRAINING_QUEUE = "training"

app = Celery("project")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each queue bound under its own routing key: with Queue(name) alone all three would share the
# key "default", and a message published through the exchange would reach every queue.
app.conf.task_queues = [Queue(name, routing_key=name) for name in (DEFAULT_QUEUE, BULK_QUEUE, TRAINING_QUEUE)]
# Long or heavy work goes to its own queue so a deployment can give it dedicated workers.
app.conf.task_routes = {
    "training.run_training_job": {"queue": TRAINING_QUEUE},
    "reviews.rescore_unlabelled_reviews": {"queue": BULK_QUEUE},
    "reviews.extract_aspects": {"queue": BULK_QUEUE},
    "reviews.run_import_job": {"queue": BULK_QUEUE},
    "reviews.reextract_all_aspects": {"queue": BULK_QUEUE},
}
# Celery's Django fixup closes inherited database connections in forked children
# and around each task, so no extra handling is needed here.
app.autodiscover_tasks()


@setup_logging.connect
def _log_like_the_web_processes(**kwargs) -> None:
    """Workers and beat log through settings.LOGGING (LOG_FORMAT, LOG_LEVEL, request ids) instead of
    replacing the root handlers with Celery's own; `--loglevel` then has no effect, LOG_LEVEL does."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
