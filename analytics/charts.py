"""Chart data for the dashboard: every series is one aggregate query in SQL (GROUP BY),
never a loop over reviews in Python, so each stays fast on a million reviews."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek
from django.utils import timezone

from analytics import rollups
from analytics.feedback import feedback_by_business
from analytics.keyphrases import key_phrases_of, sentence_phrases
from project.db_router import reads_from_replica
from reviews.filters import ReviewFilters, scoped
from reviews.models import Sentiment
from reviews.selectors import business_names

LABELS = [choice.value for choice in Sentiment]
GRANULARITIES = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
# Without a date filter, how far back the trend looks at each granularity.
DEFAULT_TREND_DAYS = {"day": 90, "week": 365, "month": 365 * 3}
TOP = 12


@dataclass
class Timed:
    """Chart data plus how long its query took (shown on the page, checked by tests)."""

    timings: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn, *args, **kwargs):
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        self.timings[name] = round((time.perf_counter() - started) * 1000, 1)
        return result


def _label_counts() -> dict:
    return {label: Count("id", filter=Q(predicted_label=label)) for label in LABELS}


def _label_sums() -> dict:
    return {label: Sum("n", filter=Q(predicted_label=label)) for label in LABELS}


def _plan(filters: ReviewFilters, start=None, *, grain: str = "day"):
    """The rollup split for this scope (analytics.rollups), or None: read the reviews table only."""
    if filters.business:
        return None
    return rollups.plan(start if start is not None else filters.start, filters.end, grain=grain)


def _base(filters: ReviewFilters, plan):
    """The reviews the rollup does not cover: the scope without its dates, on plan.base."""
    return scoped(ReviewFilters(source=filters.source)).filter(plan.base)


def _sum_rows(rows: list[dict], keys: list[str]) -> dict:
    return {key: sum(row[key] or 0 for row in rows) for key in keys}


@reads_from_replica
def distribution(filters: ReviewFilters) -> dict:
    aggregates = dict(
        total=Count("id"),
        labelled=Count("id", filter=Q(human_label__isnull=False)),
        **{f"p_{label}": Count("id", filter=Q(predicted_label=label)) for label in LABELS},
        **{f"h_{label}": Count("id", filter=Q(human_label=label)) for label in LABELS},
    )
    plan = _plan(filters)
    if plan is None:
        row = scoped(filters).aggregate(**aggregates)
    else:
        rolled = rollups.daily(plan, filters.source).aggregate(
            total=Sum("n"),
            labelled=Sum("n", filter=Q(human_label__isnull=False)),
            **{f"p_{label}": Sum("n", filter=Q(predicted_label=label)) for label in LABELS},
            **{f"h_{label}": Sum("n", filter=Q(human_label=label)) for label in LABELS},
        )
        row = _sum_rows([rolled, _base(filters, plan).aggregate(**aggregates)], list(aggregates))
    return {
        "total": row["total"],
        "labelled": row["labelled"],
        "labels": LABELS,
        "predicted": [row[f"p_{label}"] for label in LABELS],
        "human": [row[f"h_{label}"] for label in LABELS],
    }


@reads_from_replica
def trend(filters: ReviewFilters, granularity: str) -> dict:
    trunc = GRANULARITIES.get(granularity, TruncDay)
    reviews = scoped(filters)
    start = filters.start
    if start is None:
        end = filters.end or timezone.now()
        start = end - dt.timedelta(days=DEFAULT_TREND_DAYS.get(granularity, 90))
        reviews = reviews.filter(effective_at__gte=start)
    plan = _plan(filters, start)
    if plan is not None:
        reviews = _base(filters, plan)
    rows = list(
        reviews.annotate(period=trunc("effective_at", tzinfo=timezone.get_current_timezone()))
        .values("period")
        .annotate(total=Count("id"), **_label_counts())
        .order_by("period")
    )
    if plan is not None:
        periods: dict = {}
        rolled = (
            rollups.daily(plan, filters.source)
            .annotate(period=trunc("day") if trunc is not TruncDay else F("day"))
            .values("period")
            .annotate(total=Sum("n"), **_label_sums())
        )
        for row in [*rolled, *({**row, "period": row["period"].date()} for row in rows)]:
            merged = periods.setdefault(row["period"], {"total": 0, **{label: 0 for label in LABELS}})
            for key in merged:
                merged[key] += row[key] or 0
        rows = [{"period": period, **periods[period]} for period in sorted(periods)]
        return {
            "granularity": granularity,
            "periods": [row["period"].isoformat() for row in rows],
            "total": [row["total"] for row in rows],
            **{label: [row[label] for row in rows] for label in LABELS},
        }
    return {
        "granularity": granularity,
        "periods": [row["period"].date().isoformat() if row["period"] else None for row in rows],
        "total": [row["total"] for row in rows],
        **{label: [row[label] for row in rows] for label in LABELS},
    }


@reads_from_replica
def by_field(filters: ReviewFilters, name: str) -> dict:
    plan = _plan(filters, grain="month" if name == "business" else "day")
    if plan is None:
        rows = list(
            scoped(filters).values(name).annotate(total=Count("id"), **_label_counts()).order_by("-total", name)[:TOP]
        )
    else:
        rolled = rollups.monthly(plan, filters.source) if name == "business" else rollups.daily(plan, filters.source)
        rows = rollups.union_grouped(
            [
                rolled.values(name).annotate(total=Sum("n"), **_label_sums()),
                _base(filters, plan).values(name).annotate(total=Count("id"), **_label_counts()),
            ],
            keys=[name],
            sums=["total", *LABELS],
            order=["-total", name],
            limit=TOP,
        )
    labels = business_names(row[name] for row in rows) if name == "business" else {}
    return {
        "names": [labels.get(row[name], row[name]) or "(none)" for row in rows],
        "keys": [row[name] for row in rows],
        "total": [row["total"] for row in rows],
        **{label: [row[label] for row in rows] for label in LABELS},
    }


@reads_from_replica
def rating_vs_predicted(filters: ReviewFilters) -> dict:
    plan = _plan(filters)
    reviews = scoped(filters) if plan is None else _base(filters, plan)
    rows = list(
        reviews.filter(rating__isnull=False, predicted_label__isnull=False)
        .values("rating", "predicted_label")
        .annotate(n=Count("id"))
    )
    if plan is not None:
        rows += list(
            rollups.daily(plan, filters.source)
            .filter(rating__isnull=False, predicted_label__isnull=False)
            .values("rating", "predicted_label")
            .annotate(n=Sum("n"))
        )
    ratings = ["1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]
    grid = {(rating, label): 0 for rating in ratings for label in LABELS}
    for row in rows:
        key = (format(row["rating"].normalize(), "f"), row["predicted_label"])
        if key in grid:
            grid[key] += row["n"]
    used = [rating for rating in ratings if any(grid[(rating, label)] for label in LABELS)] or ["1", "2", "3", "4", "5"]
    return {"ratings": used, "labels": LABELS, "z": [[grid[(rating, label)] for rating in used] for label in LABELS]}


@reads_from_replica
def themes(filters: ReviewFilters, limit: int = 300) -> dict:
    """What the constructive feedback (criticism and suggestions) keeps mentioning: key phrases ("slow service",
    "cold fries"; analytics.keyphrases), never function words.

    Built on analytics.feedback.feedback_by_business (the analytics API's report, from the stored
    aspects) over the newest `limit` reviews in scope."""
    report = feedback_by_business(filters=filters, limit=limit, per_business=50)
    criticism: list[set[str]] = []
    suggestions: list[set[str]] = []
    for group in report["businesses"]:
        for item in group["items"]:
            criticism.extend(sentence_phrases(sentence) for sentence in item["criticism"])
            suggestions.extend(sentence_phrases(sentence) for sentence in item["suggestions"])
    top = [phrase for phrase, _ in key_phrases_of(criticism + suggestions, top=TOP, min_count=1)]
    names = business_names(g["business"] for g in report["businesses"][:TOP])
    return {
        "terms": top,
        "criticism": [sum(phrase in found for found in criticism) for phrase in top],
        "suggestions": [sum(phrase in found for found in suggestions) for phrase in top],
        "analysed_reviews": report["analysed_reviews"],
        "businesses": [
            {
                "business": names.get(g["business"], g["business"]) or "(none)",
                "mixed": g["mixed_reviews"],
                "suggestions": g["reviews_with_suggestions"],
            }
            for g in report["businesses"][:TOP]
        ],
    }


@reads_from_replica
def dashboard_charts(
    filters: ReviewFilters, granularity: str = "day", *, with_themes: bool = True
) -> tuple[dict, dict]:
    timed = Timed()
    data = {
        "distribution": timed.run("distribution", distribution, filters),
        "trend": timed.run("trend", trend, filters, granularity),
        "by_source": timed.run("by_source", by_field, filters, "source"),
        "by_business": timed.run("by_business", by_field, filters, "business"),
        "rating_vs_predicted": timed.run("rating_vs_predicted", rating_vs_predicted, filters),
    }
    if with_themes:
        data["themes"] = timed.run("themes", themes, filters)
    return data, timed.timings
