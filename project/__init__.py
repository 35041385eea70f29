"""Importing the package loads the Celery app so shared tasks bind to it."""

import os
import sys

# A Celery worker forks children: it must not start a PostgreSQL connection pool
# (with its threads) before forking. Settings read this marker.
if "celery" in os.path.basename(sys.argv[0] if sys.argv else ""):
    os.environ.setdefault("REVSENT_PROCESS", "worker")

from project.celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
