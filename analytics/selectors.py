"""Aggregates behind the dashboard and the constructive-feedback report."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from project.db_router import reads_from_replica
from reviews.models import Review, Sentiment
from training.ml import text as text_analysis
from training.models import ModelVersion

LABELS = [choice.value for choice in Sentiment]


@dataclass(frozen=True)
class ScopeFilters:
    business: str | None = None
    source: str | None = None
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    rating_min: float | None = None
    rating_max: float | None = None


def _scoped(filters: ScopeFilters):
    reviews = Review.objects.all()
    if filters.business:
        reviews = reviews.filter(business=filters.business)
    if filters.source:
        reviews = reviews.filter(source=filters.source)
    if filters.date_from:
        reviews = reviews.filter(effective_at__gte=filters.date_from)
    if filters.date_to:
        reviews = reviews.filter(effective_at__lte=filters.date_to)
    if filters.rating_min is not None:
        reviews = reviews.filter(rating__gte=filters.rating_min)
    if filters.rating_max is not None:
        reviews = reviews.filter(rating__lte=filters.rating_max)
    return reviews


def _label_counts() -> dict:
    return {f"n_{label}": Count("id", filter=Q(predicted_label=label)) for label in LABELS}


def _label_sums() -> dict:
    return {f"n_{label}": Sum("n", filter=Q(predicted_label=label)) for label in LABELS}


def _rollup_plan(filters: ScopeFilters, start, end):
    """Whole days of the scope answered by the daily rollup (analytics.rollups), or None."""
    from analytics import rollups

    if filters.business or filters.rating_min is not None or filters.rating_max is not None:
        return None
    return rollups.plan(start, end, end_inclusive=True)


@reads_from_replica
def dashboard(*, filters: ScopeFilters, trend_days: int = 90) -> dict:
    from analytics import rollups

    reviews = _scoped(filters)
    aggregates = dict(
        total=Count("id"),
        labelled=Count("id", filter=Q(human_label__isnull=False)),
        **_label_counts(),
        **{f"h_{label}": Count("id", filter=Q(human_label=label)) for label in LABELS},
    )
    plan = _rollup_plan(filters, filters.date_from, filters.date_to)
    if plan is None:
        totals = reviews.aggregate(**aggregates)
        source_rows = (
            reviews.values("source").annotate(count=Count("id"), **_label_counts()).order_by("-count", "source")[:50]
        )
        rating_rows = reviews.values("rating").annotate(count=Count("id")).order_by("rating")
    else:
        rest = _scoped(ScopeFilters(source=filters.source)).filter(plan.base)
        rolled = rollups.daily(plan, filters.source)
        totals = rolled.aggregate(
            total=Sum("n"),
            labelled=Sum("n", filter=Q(human_label__isnull=False)),
            **_label_sums(),
            **{f"h_{label}": Sum("n", filter=Q(human_label=label)) for label in LABELS},
        )
        totals = {key: (totals[key] or 0) + value for key, value in rest.aggregate(**aggregates).items()}
        source_rows = rollups.union_grouped(
            [
                rolled.values("source").annotate(count=Sum("n"), **_label_sums()),
                rest.values("source").annotate(count=Count("id"), **_label_counts()),
            ],
            keys=["source"],
            sums=["count", *(f"n_{label}" for label in LABELS)],
            order=["-count", "source"],
            limit=50,
        )
        rating_rows = rollups.union_grouped(
            [rolled.values("rating").annotate(count=Sum("n")), rest.values("rating").annotate(count=Count("id"))],
            keys=["rating"],
            sums=["count"],
            order=["rating"],
        )
    total = totals["total"]
    by_source = [
        {"source": row["source"], "count": row["count"], **{label: row[f"n_{label}"] for label in LABELS}}
        for row in source_rows
    ]
    by_rating = [
        {"rating": float(row["rating"]) if row["rating"] is not None else None, "count": row["count"]}
        for row in rating_rows
    ]
    trend_end = filters.date_to or timezone.now()
    trend_start = (
        max(filters.date_from, trend_end - dt.timedelta(days=trend_days))
        if filters.date_from
        else (trend_end - dt.timedelta(days=trend_days))
    )
    trend_plan = _rollup_plan(filters, trend_start, trend_end)
    trend_reviews = (
        reviews.filter(effective_at__gte=trend_start, effective_at__lte=trend_end)
        if trend_plan is None
        else _scoped(ScopeFilters(source=filters.source)).filter(trend_plan.base)
    )
    daily = list(
        trend_reviews.annotate(day=TruncDate("effective_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(count=Count("id"), **_label_counts())
        .order_by("day")
    )
    if trend_plan is not None:
        days: dict = {}
        rolled_days = rollups.daily(trend_plan, filters.source).values("day").annotate(count=Sum("n"), **_label_sums())
        for row in [*rolled_days, *daily]:
            merged = days.setdefault(row["day"], dict.fromkeys(["count", *(f"n_{label}" for label in LABELS)], 0))
            for key in merged:
                merged[key] += row[key] or 0
        daily = [{"day": day, **days[day]} for day in sorted(days)]
    champion = ModelVersion.objects.filter(kind=ModelVersion.Kind.SENTIMENT, stage=ModelVersion.Stage.CHAMPION).first()
    return {
        "total_reviews": total,
        "labelled_reviews": totals["labelled"],
        "labelled_share": round(totals["labelled"] / total, 4) if total else 0.0,
        "by_predicted_label": {label: totals[f"n_{label}"] for label in LABELS},
        "by_human_label": {label: totals[f"h_{label}"] for label in LABELS},
        "by_source": by_source,
        "by_rating": by_rating,
        "daily_trend": [
            {"date": row["day"], "count": row["count"], **{label: row[f"n_{label}"] for label in LABELS}}
            for row in daily
        ],
        "model": {
            "name": champion.name,
            "algorithm": champion.algorithm,
            "deployed_at": champion.deployed_at,
            "metrics": champion.metrics,
        }
        if champion
        else None,
    }


@reads_from_replica
def constructive_feedback(*, filters: ScopeFilters, limit: int = 500, per_business: int = 5) -> dict:
    """Reviews that mix praise and criticism or carry a suggestion, grouped by business.

    Looks at the newest `limit` reviews in scope; each sentence (and each clause of
    a contrastive sentence) is scored by the deployed model.
    """
    from reviews.services import predict_texts

    reviews = list(
        _scoped(filters)
        .order_by("-effective_at", "-id")
        .values_list("id", "business", "text", "predicted_label")[:limit]
    )
    per_review: dict[int, dict] = defaultdict(lambda: {"praise": [], "criticism": [], "suggestions": []})
    clauses: list[tuple[int, str]] = []  # (review index, clause) to score
    for index, (_, _, text, _) in enumerate(reviews):
        for sentence in text_analysis.split_sentences(text):
            if text_analysis.is_suggestion(sentence):
                per_review[index]["suggestions"].append(sentence)
            else:
                clauses.extend((index, clause) for clause in text_analysis.split_clauses(sentence))
    batch = predict_texts([clause for _, clause in clauses]) if clauses else None
    for (index, clause), result in zip(clauses, batch.results if batch else []):
        if result.label == "positive" and result.confidence >= 0.5:
            per_review[index]["praise"].append((clause, result.confidence))
        elif result.label == "negative" and result.confidence >= 0.5:
            per_review[index]["criticism"].append((clause, result.confidence))

    businesses: dict[str, dict] = {}
    for index, (review_id, business, _, predicted_label) in enumerate(reviews):
        entry = per_review.get(index)
        if entry is None:
            continue
        mixed = bool(entry["praise"]) and bool(entry["criticism"])
        if not (mixed or entry["suggestions"]):
            continue
        group = businesses.setdefault(
            business or "",
            {"business": business or "", "mixed_reviews": 0, "reviews_with_suggestions": 0, "items": []},
        )
        group["mixed_reviews"] += int(mixed)
        group["reviews_with_suggestions"] += int(bool(entry["suggestions"]))
        group["items"].append(
            {
                "review_id": review_id,
                "predicted_label": predicted_label,
                "mixed": mixed,
                "praise": [sentence for sentence, _ in sorted(entry["praise"], key=lambda p: -p[1])[:3]],
                "criticism": [sentence for sentence, _ in sorted(entry["criticism"], key=lambda p: -p[1])[:3]],
                "suggestions": entry["suggestions"][:3],
            }
        )
    groups = sorted(businesses.values(), key=lambda g: -(g["mixed_reviews"] + g["reviews_with_suggestions"]))
    for group in groups:
        group["reviews"] = len(group["items"])
        group["items"] = group["items"][:per_business]
    return {
        "analysed_reviews": len(reviews),
        "model_version": batch.model_version if batch else None,
        "businesses": groups,
    }
