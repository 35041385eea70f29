from __future__ import annotations

from celery import shared_task
from django.conf import settings

from training import automation
from training.alerts import alert_deliver
from training.automation import current_slot, scheduled_run_claim
from training.jobs import training_job_sweep_stuck
from training.models import Alert
from training.monitoring import monitoring_run
from training.runner import training_job_run
from training.versions import model_version_sync_aliases


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


# Model monitoring and alerts: their names (stored in django-celery-beat rows) are from when they lived in analytics.
@shared_task(name="analytics.deliver_alert", soft_time_limit=300, time_limit=330)
def deliver_alert(alert_id: int) -> None:
    alert = Alert.objects.select_related("channel").filter(pk=alert_id).first()
    if alert is not None and alert.status != "sent":
        alert_deliver(alert=alert)


@shared_task(
    name="analytics.monitor_hourly", soft_time_limit=600, time_limit=660, acks_late=True, reject_on_worker_lost=True
)
def monitor_hourly() -> str | None:
    run = scheduled_run_claim(task="monitor-hourly", slot=current_slot("hour"))
    if run is None:
        return None
    snapshot = monitoring_run()
    run.outcome, run.reason = "done", snapshot.trigger.get("reason", "")
    run.details = {"snapshot_id": snapshot.pk, "decision": snapshot.trigger.get("decision")}
    run.save(update_fields=["outcome", "reason", "details"])
    return snapshot.trigger.get("decision")
