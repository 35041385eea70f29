"""Staff pages for analytics: the dashboard (Plotly charts) and the insights page."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from analytics import charts, filters, periods
from analytics.aspect_report import EMERGING_ALPHA, EMERGING_MIN_MENTIONS, aspect_report
from analytics.digest import weekly_digest
from analytics.verdicts import MIN_POLAR_MENTIONS
from project.db_router import reads_from_replica
from project.plotly import PLOTLY_URL
from project.views import (
    can,
    check_range,
    clean_choice,
    clean_text,
    json_permission_required,
    parse_date,
    permission_required,
    show_problems,
)
from reviews.filters import ReviewFilters
from reviews.models import Review, ReviewAspect
from reviews.selectors import business_choices, business_names
from training.aspects import current_aspect_champion
from training.registry import current_champion

logger = logging.getLogger(__name__)
GRANULARITY_CHOICES = [("day", "Day"), ("week", "Week"), ("month", "Month")]
PERIOD_LABELS = {"30": "30 days", "90": "90 days", "365": "365 days", periods.ALL_TIME: "All time"}


def scope_filters(data, problems: list[str] | None = None) -> ReviewFilters:
    filters = ReviewFilters(
        business=clean_text(data.get("business")),
        source=clean_text(data.get("source"), 50),
        date_from=parse_date(data.get("date_from"), field="date_from", problems=problems),
        date_to=parse_date(data.get("date_to"), field="date_to", problems=problems),
    )
    check_range(filters.start, filters.last, problems, "date")
    return filters


def _scope_query(data) -> str:
    keys = ("date_from", "date_to", "source", "business")
    return urlencode({key: data.get(key) for key in keys if data.get(key)})


def _period(request: HttpRequest) -> periods.Period:
    """The page's period: the dates given, else `period` (default 90 days) ending at the newest review in scope."""
    return periods.resolve_period(
        request.GET, business=clean_text(request.GET.get("business")), source=clean_text(request.GET.get("source"), 50)
    )


def _period_context(request: HttpRequest, period: periods.Period, keep: tuple[str, ...]) -> dict:
    """Links to 30/90/365 days and all time (each ending at the newest review, keeping the other filters),
    and the sentence that says which period is shown and why."""
    kept = {key: request.GET.get(key) for key in keep if request.GET.get(key)}
    links = [
        {"label": label, "query": urlencode({**kept, "period": choice}), "current": period.choice == choice}
        for choice, label in PERIOD_LABELS.items()
    ]
    return {"period": period, "period_links": links}


@reads_from_replica
def _choices() -> dict:
    return {
        "sources": list(Review.objects.order_by("source").values_list("source", flat=True).distinct()[:100]),
        "businesses": business_choices(limit=500),
    }


@login_required
@require_GET
@reads_from_replica
def dashboard_page(request: HttpRequest) -> HttpResponse:
    problems: list[str] = []
    period = _period(request)
    query = period.query(request.GET)
    filters = scope_filters(query, problems)
    status = show_problems(request, problems)
    first, last = filters.days()
    granularity = clean_choice(request.GET.get("granularity"), GRANULARITY_CHOICES) or periods.bucket_for(
        first, last or timezone.localdate()
    )
    data, timings = charts.dashboard_charts(filters, granularity, with_themes=False)
    champion = current_champion()
    return render(
        request,
        "analytics/dashboard.html",
        {
            "charts": data,
            "timings": timings,
            "show_timings": settings.DEBUG,
            "has_reviews": Review.objects.exists(),
            "form": query,
            "granularity": granularity,
            "granularities": GRANULARITY_CHOICES,
            "scope_query": _scope_query(query),
            **_period_context(request, period, ("source", "business", "granularity")),
            "champion": champion,
            "plotly_url": PLOTLY_URL,
            # The themes come from review texts (GET /insights/themes.json needs reviews.view_review).
            "can_view_reviews": can(request.user, "reviews.view_review"),
            **_choices(),
        },
        status=status,
    )


@json_permission_required("reviews.view_review")
@require_GET
@reads_from_replica
def themes_json(request: HttpRequest) -> JsonResponse:
    problems: list[str] = []
    filters = scope_filters(request.GET, problems)
    if problems:
        return JsonResponse({"status": "invalid", "detail": " ".join(problems)}, status=400)
    timed = charts.Timed()
    data = timed.run("themes", charts.themes, filters)
    return JsonResponse({"status": "ok", "themes": data, "timings": timed.timings})


# The Insights page shows what GET /api/analytics/constructive-feedback serves, with the same permission.
INSIGHTS_PERMISSION = "reviews.view_review"
INSIGHTS_KEYS = ("date_from", "date_to", "source", "business", "rating_min", "rating_max")
RATING_CHOICES = ["1", "1.5", "2", "2.5", "3", "3.5", "4", "4.5", "5"]


def _insights_query(data, **changes) -> str:
    query = {key: data.get(key) for key in INSIGHTS_KEYS if data.get(key)}
    query.update(changes)
    return urlencode({key: value for key, value in query.items() if value})


def _quotes_with_reviews(report: dict) -> list[dict]:
    """Each aspect's quotes with the source, business and author of their reviews (one query)."""
    ids = {quote["review_id"] for aspect in report["aspects"] for quote in aspect["quotes"]}
    reviews = {row["id"]: row for row in Review.objects.filter(pk__in=ids).values("id", "source", "business", "author")}
    names = business_names(row["business"] for row in reviews.values())
    for row in reviews.values():
        row["business_name"] = names.get(row["business"], row["business"])
    return [
        {
            "category": aspect["category"],
            "quotes": [{**quote, "review": reviews.get(quote["review_id"], {})} for quote in aspect["quotes"]],
        }
        for aspect in report["aspects"]
        if aspect["quotes"]
    ]


def _ranked_with_counts(report: dict) -> tuple[list[dict], list[dict]]:
    """Issues with their negative count, strengths with their positive count and share change."""
    by_category = {aspect["category"]: aspect for aspect in report["aspects"]}

    def more(item: dict, *keys: str) -> dict:
        aspect = by_category.get(item["category"], {})
        return {**item, **{key: aspect.get(key) for key in keys}}

    return (
        [more(item, "negative") for item in report["issues_to_fix"]],
        [more(item, "positive", "positive_share_change") for item in report["strengths"]],
    )


def _polarity_chart(report: dict) -> dict:
    shown = [aspect for aspect in report["aspects"] if aspect["mentions"]]
    return {
        "categories": [aspect["category"] for aspect in shown],
        **{polarity: [aspect[polarity] for aspect in shown] for polarity in ("positive", "neutral", "negative")},
        "conflict": [aspect["conflict"] for aspect in shown],
    }


@permission_required(INSIGHTS_PERMISSION)
@require_GET
@reads_from_replica
def insights_page(request: HttpRequest) -> HttpResponse:
    """Constructive feedback v2 (analytics.aspect_report): what to fix, what to keep, what is new."""
    window = _period(request)
    query = window.query(request.GET)
    report_filters, errors = filters.parse_report_query(query)
    report = aspect_report(filters=report_filters)
    champion = current_aspect_champion()
    period = report["period"]
    issues, strengths = _ranked_with_counts(report)
    # The business's weekly digest, for the last week of the period (its newest reviews, however old).
    digest = (
        weekly_digest(
            business=report_filters.business,
            today=timezone.localtime(period["date_to"]).date() + dt.timedelta(days=1),
        )
        if report_filters.business
        else None
    )
    return render(
        request,
        "analytics/insights.html",
        {
            "report": report,
            "period_last_previous_day": period["previous_to"] - dt.timedelta(microseconds=1),
            "has_aspects": ReviewAspect.objects.exists(),
            "issues": issues,
            "strengths": strengths,
            "quotes": _quotes_with_reviews(report),
            "chart": _polarity_chart(report),
            "aspect_model": champion.name if champion else "cold-start",
            "emerging_min_mentions": EMERGING_MIN_MENTIONS,
            "emerging_alpha": EMERGING_ALPHA,
            "verdict_min_mentions": MIN_POLAR_MENTIONS,
            "digest": digest,
            "filter_errors": errors,
            "form": query,
            "ratings": RATING_CHOICES,
            **_period_context(request, window, ("source", "business", "rating_min", "rating_max")),
            "export_query": _insights_query(query),
            "plotly_url": PLOTLY_URL,
            **_choices(),
        },
        status=400 if errors else 200,
    )


@permission_required(INSIGHTS_PERMISSION)
@require_GET
@reads_from_replica
def insights_export_csv(request: HttpRequest) -> HttpResponse:
    """The per-aspect table as CSV: the file `GET /api/analytics/constructive-feedback?format=csv`
    serves (same filters, same function), for a staff session instead of an API token."""
    report_filters, errors = filters.parse_report_query(request.GET)
    if errors:
        return HttpResponse("; ".join(str(error) for error in errors), status=400, content_type="text/plain")
    response = HttpResponse(filters.report_csv(aspect_report(filters=report_filters)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filters.CSV_FILENAME}"'
    return response
