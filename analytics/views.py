"""Staff pages for analytics: the dashboard (Plotly charts) and the insights page."""

from __future__ import annotations

import functools
from pathlib import Path

import plotly
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from analytics import charts
from analytics.selectors import ScopeFilters, constructive_feedback
from project.views import clean_choice, json_permission_required, parse_date, permission_required
from reviews.models import Review
from training.services import current_champion

PLOTLY_VERSION = plotly.__version__
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
GRANULARITY_CHOICES = [("day", "Day"), ("week", "Week"), ("month", "Month")]


@functools.cache
def _plotly_bytes() -> bytes:
    return PLOTLY_JS.read_bytes()


@require_GET
def plotly_js(request: HttpRequest) -> HttpResponse:
    """plotly.js straight from the installed plotly wheel (no CDN, no copy in the repository).
    The version is in the URL, so browsers may cache it for a year. Read once per process
    and sent whole: a streamed file makes Django's ASGI handler warn on every request."""
    response = HttpResponse(_plotly_bytes(), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


def scope_filters(data) -> ScopeFilters:
    return ScopeFilters(
        business=(data.get("business") or "").strip() or None,
        source=(data.get("source") or "").strip() or None,
        date_from=parse_date(data.get("date_from")),
        date_to=parse_date(data.get("date_to"), end=True),
    )


def _scope_query(data) -> str:
    keys = ("date_from", "date_to", "source", "business")
    return urlencode({key: data.get(key) for key in keys if data.get(key)})


def _choices() -> dict:
    return {
        "sources": list(Review.objects.order_by("source").values_list("source", flat=True).distinct()[:100]),
        "businesses": list(
            Review.objects.exclude(business="").order_by("business").values_list("business", flat=True).distinct()[:500]
        ),
    }


@login_required
@require_GET
def dashboard_page(request: HttpRequest) -> HttpResponse:
    filters = scope_filters(request.GET)
    granularity = clean_choice(request.GET.get("granularity"), GRANULARITY_CHOICES) or "day"
    data, timings = charts.dashboard_charts(filters, granularity, with_themes=False)
    champion = current_champion()
    return render(
        request,
        "analytics/dashboard.html",
        {
            "charts": data,
            "timings": timings,
            "form": request.GET,
            "granularity": granularity,
            "granularities": GRANULARITY_CHOICES,
            "scope_query": _scope_query(request.GET),
            "champion": champion,
            "plotly_url": f"/vendor/plotly-{PLOTLY_VERSION}.min.js",
            **_choices(),
        },
    )


@json_permission_required("reviews.view_review")
@require_GET
def themes_json(request: HttpRequest) -> JsonResponse:
    timed = charts.Timed()
    data = timed.run("themes", charts.themes, scope_filters(request.GET))
    return JsonResponse({"status": "ok", "themes": data, "timings": timed.timings})


@permission_required("reviews.view_review")
@require_GET
def insights_page(request: HttpRequest) -> HttpResponse:
    filters = scope_filters(request.GET)
    report = constructive_feedback(filters=filters, limit=500, per_business=10)
    return render(
        request,
        "analytics/insights.html",
        {
            "report": report,
            "form": request.GET,
            "scope_query": _scope_query(request.GET),
            "plotly_url": f"/vendor/plotly-{PLOTLY_VERSION}.min.js",
            **_choices(),
        },
    )
