"""Whether enough new training data arrived since the last successful training."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from reviews.models import Review
from training.ml.holdout import EVALUATION_SHARE_PERCENT, in_evaluation_bucket
from training.models import TrainingJob

# Past this many new reviews the readiness count is the expected share outside the evaluation bucket (the
# bucket is a uniform hash: off by well under 1%), not a Python pass over every id. Kept small because the
# labelling page polls readiness: the pass costs about 1 ms per 1,000 ids fetched and hashed.
EXACT_TRAINING_COUNT_LIMIT = 10_000


def _count_training_side(reviews: models.QuerySet) -> int:
    """How many of these reviews a training would learn from: those outside the evaluation bucket."""
    total = reviews.count()
    if total > EXACT_TRAINING_COUNT_LIMIT:
        return round(total * (100 - EVALUATION_SHARE_PERCENT) / 100)
    ids = reviews.values_list("id", flat=True).iterator(chunk_size=10_000)
    return sum(1 for review_id in ids if not in_evaluation_bucket(review_id))


def retraining_need() -> dict:
    """How much new training data arrived since the last successful training, and how much more is needed.

    Counted as collect_examples() would use it: reviews in the evaluation bucket never train, and nor do
    non-English ones unless TRAIN_INCLUDE_NON_ENGLISH. Counting them made "ready" fire for data that left the
    next model identical to the last (same training ids, gain +0.0000)."""
    last = TrainingJob.objects.filter(status=TrainingJob.Status.SUCCEEDED).order_by("-started_at").first()
    since = last.started_at if last else None
    labelled = Review.objects.filter(human_label__isnull=False)
    rated = Review.objects.filter(rating__isnull=False, human_label__isnull=True)
    if not settings.TRAIN_INCLUDE_NON_ENGLISH:
        labelled, rated = labelled.filter(is_english=True), rated.filter(is_english=True)
    if since is not None:
        labelled = labelled.filter(human_labelled_at__gt=since)
        rated = rated.filter(created_at__gt=since)
    new_labels, new_rated = _count_training_side(labelled), _count_training_side(rated)
    return {
        "last_training_at": since,
        "new_labels": new_labels,
        "new_rated": new_rated,
        "min_new_labels": settings.RETRAIN_MIN_NEW_LABELS,
        "min_new_rated": settings.RETRAIN_MIN_NEW_RATED,
        "labels_needed": max(0, settings.RETRAIN_MIN_NEW_LABELS - new_labels),
        "rated_needed": max(0, settings.RETRAIN_MIN_NEW_RATED - new_rated),
        "ready": new_labels >= settings.RETRAIN_MIN_NEW_LABELS or new_rated >= settings.RETRAIN_MIN_NEW_RATED,
    }
