"""The monitoring staff page: live accuracy, drift, scheduled runs and alerts; and running monitoring now."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from project.db_router import reads_from_replica
from project.plotly import PLOTLY_URL
from project.views import can, permission_required
from training import monitoring
from training.models import Alert, MonitoringSnapshot, ScheduledRun

logger = logging.getLogger(__name__)

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


# The page shows what GET /api/analytics/monitoring serves, with the same permission.
@permission_required("reviews.view_review")
@require_GET
@reads_from_replica
def monitoring_page(request: HttpRequest) -> HttpResponse:
    snapshots = list(MonitoringSnapshot.objects.select_related("model_version")[:MONITORING_POINTS])
    latest = snapshots[0] if snapshots else None
    return render(
        request,
        "training/monitoring.html",
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
            "plotly_url": PLOTLY_URL,
        },
    )


@permission_required(MONITORING_RUN_PERMISSION)
@require_POST
def monitoring_run_now(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation box to run monitoring now.")
        return redirect("monitoring")
    try:
        snapshot = monitoring.monitoring_run()
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
