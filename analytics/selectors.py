"""The dashboard API's aggregates (GET /api/analytics/dashboard); scope: reviews.filters."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics import rollups
from project.db_router import reads_from_replica
from reviews.filters import ReviewFilters, scoped
from reviews.models import Sentiment
from training.models import ModelVersion

LABELS = [choice.value for choice in Sentiment]


def _label_counts() -> dict:
    return {f"n_{label}": Count("id", filter=Q(predicted_label=label)) for label in LABELS}


def _label_sums() -> dict:
    return {f"n_{label}": Sum("n", filter=Q(predicted_label=label)) for label in LABELS}


def _rollup_plan(filters: ReviewFilters, start, end):
    """Whole days of the scope answered by the daily rollup (analytics.rollups), or None."""
    if filters.business or filters.rating_min is not None or filters.rating_max is not None:
        return None
    return rollups.plan(start, end)


@reads_from_replica
def dashboard(*, filters: ReviewFilters, trend_days: int = 90) -> dict:
    reviews = scoped(filters)
    aggregates = dict(
        total=Count("id"),
        labelled=Count("id", filter=Q(human_label__isnull=False)),
        **_label_counts(),
        **{f"h_{label}": Count("id", filter=Q(human_label=label)) for label in LABELS},
    )
    plan = _rollup_plan(filters, filters.start, filters.end)
    if plan is None:
        totals = reviews.aggregate(**aggregates)
        source_rows = (
            reviews.values("source").annotate(count=Count("id"), **_label_counts()).order_by("-count", "source")[:50]
        )
        rating_rows = reviews.values("rating").annotate(count=Count("id")).order_by("rating")
    else:
        rest = scoped(ReviewFilters(source=filters.source)).filter(plan.base)
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
    # The newest `trend_days` days of the range [start, end), ending now when it has no end.
    trend_end = filters.end or timezone.now()
    trend_start = trend_end - dt.timedelta(days=trend_days)
    if filters.start is not None:
        trend_start = max(filters.start, trend_start)
    trend_plan = _rollup_plan(filters, trend_start, trend_end)
    trend_reviews = (
        reviews.filter(effective_at__gte=trend_start, effective_at__lt=trend_end)
        if trend_plan is None
        else scoped(ReviewFilters(source=filters.source)).filter(trend_plan.base)
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
