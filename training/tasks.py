from __future__ import annotations

from celery import shared_task
from django.conf import settings

from training import automation
from training.services import model_version_sync_aliases, training_job_run, training_job_sweep_stuck


@shared_task(
    name="training.run_training_job",
    soft_time_limit=settings.TRAINING_TIME_LIMIT_SECONDS - 60,
    time_limit=settings.TRAINING_TIME_LIMIT_SECONDS,
)
def run_training_job(job_id: int) -> str | None:
    """Thin interface: load by id, call the service (which records every outcome on the job).

    Not acks_late: a job is not idempotent. If its worker dies, the stuck-job sweep
    fails it (the filesystem broker never redelivers anyway)."""
    job = training_job_run(job_id=job_id)
    return job.status if job else None


@shared_task(
    name="training.sync_registry_aliases",
    autoretry_for=(Exception,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def sync_registry_aliases(model_version_id: int, previous_id: int | None = None) -> None:
    model_version_sync_aliases(version_id=model_version_id, previous_id=previous_id)


@shared_task(name="training.retrain_daily", acks_late=True, reject_on_worker_lost=True)
def retrain_daily() -> str | None:
    run = automation.retrain_if_needed()
    return run.reason if run else None


@shared_task(
    name="training.evaluate_weekly", soft_time_limit=1800, time_limit=1900, acks_late=True, reject_on_worker_lost=True
)
def evaluate_weekly() -> str | None:
    run = automation.evaluate_champion()
    return run.reason if run else None


@shared_task(name="training.sweep_stuck_jobs", acks_late=True, reject_on_worker_lost=True)
def sweep_stuck_jobs() -> list[int]:
    return training_job_sweep_stuck()
