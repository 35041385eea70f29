from __future__ import annotations

from celery import shared_task
from django.conf import settings

from training.services import model_version_sync_aliases, training_job_run


@shared_task(
    name="training.run_training_job",
    soft_time_limit=settings.TRAINING_TIME_LIMIT_SECONDS - 60,
    time_limit=settings.TRAINING_TIME_LIMIT_SECONDS,
)
def run_training_job(job_id: int) -> str | None:
    """Thin interface: load by id, call the service (which records every outcome on the job)."""
    job = training_job_run(job_id=job_id)
    return job.status if job else None


@shared_task(name="training.sync_registry_aliases", autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def sync_registry_aliases(model_version_id: int, previous_id: int | None = None) -> None:
    model_version_sync_aliases(version_id=model_version_id, previous_id=previous_id)
