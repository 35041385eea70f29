"""Staff pages for analytics: the dashboard (Plotly charts), the insights page and the monitoring page."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import plotly
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from analytics import charts
from analytics.selectors import ScopeFilters, constructive_feedback
from project.views import can, clean_choice, json_permission_required, parse_date, permission_required
from reviews.models import Review
from training.services import current_champion

logger = logging.getLogger(__name__)
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


MONITORING_POINTS = 168  # a week of hourly runs on the charts
MONITORING_ROWS = 20
# Running monitoring may start a training job, so it takes the permission to start one (managers).
MONITORING_RUN_PERMISSION = "training.start_trainingjob"


def _monitoring_series(snapshots: list) -> dict:
    """The snapshot time series for the charts, oldest first; a missing number is null (a gap)."""

    def accuracy(snapshot, key: str, field: str):
        return ((snapshot.live_accuracy or {}).get(key) or {}).get(field)

    def drift(snapshot, field: str):
        return (snapshot.drift or {}).get(field)

    ordered = sorted(snapshots, key=lambda s: s.pk)
    return {
        "times": [s.created_at.isoformat() for s in ordered],
        "accuracy": [accuracy(s, "all", "accuracy") for s in ordered],
        "accuracy_n": [accuracy(s, "all", "n") or 0 for s in ordered],
        "ci_low": [accuracy(s, "all", "ci_low") if accuracy(s, "all", "n") else None for s in ordered],
        "ci_high": [accuracy(s, "all", "ci_high") if accuracy(s, "all", "n") else None for s in ordered],
        "blind": [accuracy(s, "blind", "accuracy") for s in ordered],
        "blind_n": [accuracy(s, "blind", "n") or 0 for s in ordered],
        "agreement": [(s.rating_agreement or {}).get("agreement") for s in ordered],
        "prediction_psi": [drift(s, "prediction_psi") for s in ordered],
        "confidence_psi": [drift(s, "confidence_psi") for s in ordered],
        "predictions": [drift(s, "predictions") or 0 for s in ordered],
        "oov_rate": [drift(s, "oov_rate") for s in ordered],
        "oov_reference": [drift(s, "oov_reference") for s in ordered],
        "thresholds": {
            "accuracy": settings.MONITOR_ACCURACY_THRESHOLD,
            "psi": settings.MONITOR_PSI_THRESHOLD,
        },
    }


@login_required
@require_GET
def monitoring_page(request: HttpRequest) -> HttpResponse:
    from analytics.models import Alert, MonitoringSnapshot
    from training.models import ScheduledRun

    snapshots = list(MonitoringSnapshot.objects.select_related("model_version")[:MONITORING_POINTS])
    latest = snapshots[0] if snapshots else None
    return render(
        request,
        "analytics/monitoring.html",
        {
            "latest": latest,
            "snapshots": snapshots[:MONITORING_ROWS],
            "series": _monitoring_series(snapshots),
            "spikes": (latest.drift or {}).get("negative_spikes", []) if latest else [],
            "runs": ScheduledRun.objects.select_related("training_job")[:30],
            "alerts": Alert.objects.select_related("channel")[:30],
            "limits": {
                "accuracy_threshold": settings.MONITOR_ACCURACY_THRESHOLD,
                "min_labels": settings.MONITOR_MIN_LABELS,
                "psi_threshold": settings.MONITOR_PSI_THRESHOLD,
                "min_predictions": settings.MONITOR_MIN_PREDICTIONS,
                "window_days": settings.MONITOR_WINDOW_DAYS,
                "cooldown_hours": settings.MONITOR_RETRAIN_COOLDOWN_HOURS,
            },
            "can_run": can(request.user, MONITORING_RUN_PERMISSION),
            "plotly_url": f"/vendor/plotly-{PLOTLY_VERSION}.min.js",
        },
    )


@permission_required(MONITORING_RUN_PERMISSION)
@require_POST
def monitoring_run_now(request: HttpRequest) -> HttpResponse:
    from analytics.monitoring import monitoring_run

    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation box to run monitoring now.")
        return redirect("monitoring")
    try:
        snapshot = monitoring_run()
    except Exception as exc:  # shown to the user; the traceback goes to the log
        logger.exception("Monitoring run started from the page failed")
        messages.error(request, f"Monitoring failed: {exc}")
        return redirect("monitoring")
    trigger = snapshot.trigger or {}
    text = f"Monitoring ran: retraining decision “{trigger.get('decision', 'none')}”"
    if trigger.get("job_id"):
        text += f" (training job #{trigger['job_id']} queued)"
    alarms = len(snapshot.alarms or [])
    text += f", {alarms} alarm{'s' if alarms != 1 else ''}."
    messages.success(request, text)
    return redirect("monitoring")
