from __future__ import annotations

from celery import shared_task
from django.conf import settings

from project.outbox.services import outbox_enqueue
from reviews.services import FRESH_ASPECTS_TASK
from training import automation
from training.alerts import alert_deliver
from training.aspect_extraction import review_extract_aspects, review_reextract_batch
from training.aspects import serving_aspect_model_key
from training.automation import current_slot, scheduled_run_claim
from training.jobs import training_job_sweep_stuck
from training.models import Alert
from training.monitoring import monitoring_run
from training.rescoring import review_rescore_batch, review_rescore_ingested
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


# --- Running models over stored reviews (task names keep their "reviews." prefix: queues route by them,
# and outbox rows already waiting name them).

RESCORE_BATCH_SIZE = 2000


@shared_task(
    name="reviews.rescore_unlabelled_reviews",
    acks_late=True,  # idempotent: re-scoring a batch twice gives the same result
    reject_on_worker_lost=True,
    soft_time_limit=540,
    time_limit=600,
)
def rescore_unlabelled_reviews(model_version_id: int, after_id: int = 0) -> int:
    """Re-predict unlabelled reviews with a newly deployed model, one batch per task
    run, then hand the rest to the next run (no task holds a worker for hours; through the outbox, so a
    broker hiccup between two runs does not end the walk)."""
    last_id = review_rescore_batch(model_version_id=model_version_id, after_id=after_id, size=RESCORE_BATCH_SIZE)
    if last_id is not None:
        outbox_enqueue(rescore_unlabelled_reviews, args=[model_version_id, last_id])
    return last_id or 0


ASPECT_BATCH_SIZE = 500


@shared_task(
    name="reviews.extract_aspects",
    acks_late=True,  # idempotent: extraction replaces the model-made aspects of these reviews
    reject_on_worker_lost=True,
    soft_time_limit=540,
    time_limit=600,
)
def extract_aspects(review_ids: list[int]) -> int:
    """What follows a review's arrival, for a batch of new reviews (large imports are split into batches): the
    accurate kind's full prediction after its fast ingest one (a no-op for the fast kind), then aspects and
    suggestions."""
    stored = 0
    for start in range(0, len(review_ids), ASPECT_BATCH_SIZE):
        review_rescore_ingested(review_ids[start : start + ASPECT_BATCH_SIZE])
        stored += review_extract_aspects(review_ids[start : start + ASPECT_BATCH_SIZE])
    return stored


@shared_task(
    name=FRESH_ASPECTS_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=540,
    time_limit=600,
)
def extract_fresh_aspects(review_ids: list[int]) -> int:
    """The same extraction for reviews created one at a time (POST /api/reviews/). It has its own name so it
    is routed to the default queue: on the bulk queue it waited behind every batch of a running import, and
    a review posted during a 100,000-row import got its aspects only once the import's were done."""
    return extract_aspects(review_ids)


@shared_task(
    name="reviews.reextract_all_aspects",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=540,
    time_limit=600,
)
def reextract_all_aspects(after_id: int = 0, model_key: str | None = None) -> int:
    """Re-extract every review's aspects with a newly promoted aspect model, one batch per run. A pass
    for a model that no longer serves stops: the deployment that replaced it started its own pass."""
    if model_key is not None and model_key != serving_aspect_model_key():
        return 0
    last_id = review_reextract_batch(after_id=after_id, size=ASPECT_BATCH_SIZE)
    if last_id is not None:
        outbox_enqueue(reextract_all_aspects, args=[last_id, model_key])
    return last_id or 0


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
