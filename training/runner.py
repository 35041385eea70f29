"""Running a queued training job to a final state (a sentiment, aspect or suggestion model)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import transaction

from training.alerts import alert_notify_safely
from training.aspects import aspects_train
from training.jobs import JobCancelled, JobHeartbeat, JobProgress, TrainingError, training_job_transition
from training.models import TrainingJob
from training.sentiment_training import sentiment_train
from training.suggestions import suggestions_train

logger = logging.getLogger(__name__)


def training_job_run(*, job_id: int, echo: Callable[[float, str], None] | None = None) -> TrainingJob | None:
    """Run a queued job to a final state. Safe to call twice: only one call claims it."""
    if not training_job_transition(job_id=job_id, to=TrainingJob.Status.RUNNING, progress=0.0):
        # Already claimed, finished, cancelled or deleted: nothing to do.
        return TrainingJob.objects.filter(pk=job_id).first()
    job = TrainingJob.objects.get(pk=job_id)
    progress = JobProgress(job_id, echo)
    started = time.monotonic()
    heartbeat = JobHeartbeat(job_id)
    # Inside an open transaction another thread cannot see (or would wait for) the
    # job row; the beat only matters for jobs run by workers, in autocommit.
    if not transaction.get_connection().in_atomic_block:
        heartbeat.start()
    try:
        if job.parameters.get("model") == "aspects":
            metrics = aspects_train(job, progress)
        elif job.parameters.get("model") == "suggestions":
            metrics = suggestions_train(job, progress)
        else:
            metrics = sentiment_train(job, progress)
    except JobCancelled:
        training_job_transition(
            job_id=job_id, to=TrainingJob.Status.CANCELLED, error="Cancelled on request", progress_message="Cancelled"
        )
    except TrainingError as exc:
        training_job_transition(job_id=job_id, to=TrainingJob.Status.FAILED, error=str(exc))
        alert_notify_safely("job_failed", f"Training job {job_id} failed", {"job_id": job_id, "error": str(exc)})
    except Exception as exc:  # recorded on the job; the worker must survive it
        logger.exception("Training job %s failed", job_id)
        error = f"{type(exc).__name__}: {exc}"
        training_job_transition(job_id=job_id, to=TrainingJob.Status.FAILED, error=error)
        alert_notify_safely("job_failed", f"Training job {job_id} failed", {"job_id": job_id, "error": error})
    else:
        metrics["training_seconds"] = round(time.monotonic() - started, 3)
        training_job_transition(
            job_id=job_id,
            to=TrainingJob.Status.SUCCEEDED,
            metrics=metrics,
            progress=1.0,
            progress_message=f"Done: {metrics['decision']}",
        )
        logger.info("Training job %s: %s", job_id, metrics["decision"])
    finally:
        heartbeat.stop()
    return TrainingJob.objects.get(pk=job_id)
