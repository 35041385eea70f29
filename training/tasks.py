from __future__ import annotations

from celery import shared_task
from django.conf import settings

from training.services import training_job_run


@shared_task(
    name="training.run_training_job",
    soft_time_limit=settings.TRAINING_TIME_LIMIT_SECONDS - 60,
    time_limit=settings.TRAINING_TIME_LIMIT_SECONDS,
)
def run_training_job(job_id: int) -> str | None:
    """Thin interface: load by id, call the service (which records every outcome on the job)."""
    job = training_job_run(job_id=job_id)
    return job.status if job else None
