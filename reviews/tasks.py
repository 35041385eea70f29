from __future__ import annotations

from celery import shared_task

from reviews.services import review_rescore_batch

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
    run, then hand the rest to the next run (no task holds a worker for hours)."""
    last_id = review_rescore_batch(model_version_id=model_version_id, after_id=after_id, size=RESCORE_BATCH_SIZE)
    if last_id is not None:
        rescore_unlabelled_reviews.delay(model_version_id, last_id)
    return last_id or 0
