"""Re-scoring: a newly deployed sentiment model gives every unlabelled review a current prediction, and a two-stage
model (the accurate kind) gives newly stored reviews its full prediction after their fast ingest one."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from project.observability import count_predictions
from reviews.models import Review
from reviews.services import review_predictions_store
from training.ml.predictor import scores_from_probabilities
from training.models import ModelVersion
from training.registry import get_deployed_model, load_model
from training.serving import predict_with

logger = logging.getLogger(__name__)


def review_rescore_batch(*, model_version_id: int, after_id: int, size: int) -> int | None:
    """Give the next `size` unlabelled reviews (by id) a current prediction from the
    deployed model, if it is still `model_version_id`. The ingest prediction stays.
    Returns the last id handled, or None when done (or when the champion changed)."""
    version = ModelVersion.objects.filter(
        pk=model_version_id, kind=ModelVersion.Kind.SENTIMENT, stage=ModelVersion.Stage.CHAMPION
    ).first()
    if version is None:
        return None  # superseded (a newer deployment has its own re-scoring run), or not a sentiment model
    deployed = get_deployed_model()
    if deployed.version_id == version.pk:
        model = deployed.model
    else:
        try:
            model = load_model(version)
        except Exception:
            logger.exception("Cannot re-score with %s: its model file does not load", version.name)
            return None
    batch = list(
        Review.objects.filter(id__gt=after_id, human_label__isnull=True)
        .order_by("id")
        .values_list("id", "text", "effective_at")[:size]
    )
    if not batch:
        return None
    results = scores_from_probabilities(model.predict_proba([text for _, text, _ in batch]))
    count_predictions(version.name, [result.label for result in results])
    review_predictions_store(
        model_version_id=version.pk, reviews=[(pk, effective_at) for pk, _, effective_at in batch], results=results
    )
    return batch[-1][0]


def review_rescore_ingested(review_ids: Sequence[int]) -> int:
    """The full prediction of newly stored reviews whose ingest prediction came from the deployed model's fast
    part (training.serving.predict_on_arrival); labelled reviews and reviews another version predicted are left
    alone. Returns how many were re-scored (0 when the deployed model has a single stage)."""
    deployed = get_deployed_model()
    if getattr(deployed.model, "ingest_model", None) is None or not review_ids:
        return 0
    batch = list(
        Review.objects.filter(pk__in=list(review_ids), human_label__isnull=True, predicted_by_id=deployed.version_id)
        .order_by("id")
        .values_list("id", "text", "effective_at")
    )
    if not batch:
        return 0
    results = predict_with(deployed, [text for _, text, _ in batch]).results
    review_predictions_store(
        model_version_id=deployed.version_id,
        reviews=[(pk, effective_at) for pk, _, effective_at in batch],
        results=results,
    )
    return len(batch)
