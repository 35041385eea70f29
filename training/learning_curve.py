"""The learning curve of this install (Models page): accuracy of each sentiment model on the blind evaluation
bucket against the human labels it learned from, over time, and the labels the next accuracy point needs.

The points come from what every training job already records: the model's evaluation (ModelVersion.metrics,
with the kind of set it was scored on) and the job's data snapshot (human labels by class in its training
data). Only models scored on held-out human labels enter the fit: before the bucket holds
EVALUATION_MIN_HUMAN_LABELS of them the gate scores on star ratings, a different yardstick, shown apart.
"""

from __future__ import annotations

from django.conf import settings

from training.ml.learning_curve import CurvePoint, fit_log_curve, labels_for_next_point
from training.models import ModelVersion

MAX_VERSIONS = 200


def _human_labels(version: ModelVersion) -> int | None:
    job = version.training_job
    snapshot = (job.metrics or {}).get("data_snapshot") if job is not None else None
    if not snapshot:
        return None
    by_source = snapshot.get("by_label_source") or {}
    return sum(int(n) for key, n in by_source.items() if key.startswith("human:"))


def sentiment_learning_curve() -> dict:
    """Points (human-evaluated and star-evaluated apart, oldest first) and the estimate, ready for the chart."""
    versions = (
        ModelVersion.objects.filter(kind=ModelVersion.Kind.SENTIMENT, training_job__isnull=False)
        .select_related("training_job")
        .order_by("-id")[:MAX_VERSIONS]
    )
    series: dict[str, list[dict]] = {"human": [], "rated": []}
    for version in reversed(list(versions)):
        evaluation = (version.metrics or {}).get("evaluation") or {}
        labels = _human_labels(version)
        if labels is None or evaluation.get("accuracy") is None:
            continue
        set_kind = ((version.metrics or {}).get("evaluation_set") or {}).get("kind")
        series["human" if set_kind == "human" else "rated"].append(
            {
                "name": version.name,
                "labels": labels,
                "accuracy": evaluation["accuracy"],
                "macro_f1": evaluation.get("macro_f1"),
                "evaluated_on": evaluation.get("n"),
                "date": version.created_at.date().isoformat(),
                "stage": version.stage,
            }
        )
    human = series["human"]
    fit = fit_log_curve([CurvePoint(p["labels"], p["accuracy"]) for p in human])
    latest = max((p["labels"] for p in human), default=0)
    needed = labels_for_next_point(fit, latest)
    return {
        **series,
        "fit": None
        if fit is None
        else {"intercept": fit.intercept, "slope": fit.slope, "points": fit.points, "latest_labels": latest},
        "labels_for_next_point": needed,
        "min_human_labels": settings.EVALUATION_MIN_HUMAN_LABELS,
        "summary": _summary(human, fit is not None, needed, latest),
    }


def _summary(human: list[dict], fitted: bool, needed: int | None, latest: int) -> str:
    if not human:
        return (
            "No model has been scored on held-out human labels yet: the evaluation bucket needs "
            f"{settings.EVALUATION_MIN_HUMAN_LABELS} of them (about one label in five lands there)."
        )
    if not fitted:
        return "One point so far: train again after more labels to see the curve and an estimate."
    if needed is None:
        return (
            "Accuracy has not risen with more labels across these models: more labels of the same kind may "
            "not help; label the queue's uncertain reviews."
        )
    return f"About {needed:,} more human labels for the next accuracy point (+1 %), from {latest:,} now."
