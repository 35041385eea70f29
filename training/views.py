"""Staff pages for models (metrics, gate decisions, promote and roll back) and training jobs."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_GET, require_POST

from project.plotly import PLOTLY_URL
from project.views import can, clean_int, json_permission_required, permission_required
from training.jobs import (
    DEFAULT_MIN_SAMPLES,
    JobAlreadyActive,
    training_job_create,
    training_job_enqueue,
    training_job_request_cancel,
)
from training.learning_curve import sentiment_learning_curve
from training.ml import lexicon
from training.models import Deployment, EvaluationReport, GateDecision, ModelVersion, TrainingJob
from training.retraining import retraining_need
from training.version_notes import accurate_composition
from training.versions import (
    DeploymentError,
    model_version_promote,
    model_version_rollback,
    model_version_rollback_target,
)

LABELS = ("positive", "neutral", "negative")


def mlflow_ui_base() -> str:
    """The MLflow web UI: MLFLOW_UI_URL, else the tracking server when tracking is over HTTP. A sqlite or
    file tracking store has no web UI, so there is nothing to link to."""
    base = getattr(settings, "MLFLOW_UI_URL", "") or ""
    if not base:
        tracking = getattr(settings, "MLFLOW_TRACKING_URI", "") or ""
        base = tracking if tracking.lower().startswith(("http://", "https://")) else ""
    if not base:
        return ""
    parts = urlsplit(base)
    # Never put credentials of the tracking URI (http://user:password@host) into a page.
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", "")).rstrip("/")


def mlflow_run_url(version: ModelVersion) -> str:
    return mlflow_url_for_run(version.mlflow_run_id)


def mlflow_url_for_run(run_id: str) -> str:
    base = mlflow_ui_base()
    if not base or not run_id:
        return ""
    # The experiment id is not stored with the run id; MLflow 3's UI has a direct route, /#/runs/<run id>
    # (runPageDirect), that finds the run's experiment itself.
    return f"{base}/#/runs/{quote(run_id, safe='')}"


# --- One plain sentence per model version ------------------------------------------


def _percent(share: float) -> int:
    # Half up on the decimal value as stored (0.705 reads 71%); round() would go to even, and on a binary float.
    return int((Decimal(str(share)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def version_summary(
    *,
    accuracy: float | None,
    previous_accuracy: float | None = None,
    previous_name: str = "",
    baseline: bool = False,
    aspects: bool = False,
    suggestions: bool = False,
) -> str:
    """What a manager needs to know about a model version, in one sentence.

    accuracy: the share of held-out reviews it got right (for an aspect model: the share of topics whose
    sentiment it got right; for a suggestion detector: its F1 at finding suggestions). previous_accuracy: the
    model deployed before it, scored on the same held-out reviews (None when it was not). previous_name: that
    model, or "" when there was none. The difference is taken between the rounded percentages, so the sentence
    agrees with the numbers it shows."""
    if baseline:
        text = (
            "The built-in baseline: a fixed list of positive and negative words, not trained on your reviews; "
            "a trained model is only deployed if it does better."
        )
        if accuracy is not None:
            text += f" It was correct on {_percent(accuracy)}% of held-out reviews when last compared."
        return text
    if accuracy is None:
        return "Not scored on held-out reviews, so there is no accuracy to report."
    if aspects:
        head = f"Gets the sentiment right for {_percent(accuracy)}% of the topics in held-out sentences"
    elif suggestions:
        head = f"Finds suggestions in held-out sentences with an F1 of {_percent(accuracy)}%"
    else:
        head = f"Correct on {_percent(accuracy)}% of held-out reviews"
    if not previous_name:
        return f"{head}; the first model, so there is nothing to compare it with."
    if previous_accuracy is None:
        return f"{head}; the model before it ({previous_name}) was not scored on the same reviews."
    points = _percent(accuracy) - _percent(previous_accuracy)
    if points == 0:
        return f"{head}; the same as the previous model ({previous_name})."
    direction = "better" if points > 0 else "worse"
    unit = "point" if abs(points) == 1 else "points"
    return f"{head}; {direction} than the previous model ({previous_name}) by {abs(points)} {unit}."


_MEASURE = {ModelVersion.Kind.ASPECTS: "polarity_accuracy", ModelVersion.Kind.SUGGESTIONS: "f1"}


def _accuracy(metrics: dict | None, kind: str) -> float | None:
    value = (metrics or {}).get(_MEASURE.get(kind, "accuracy"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _is_baseline(version: ModelVersion) -> bool:
    return (
        version.kind == ModelVersion.Kind.SENTIMENT
        and not version.artifact_path
        and version.algorithm == lexicon.ALGORITHM
        and not _evaluation(version)
    )


def version_summaries(versions: list[ModelVersion], gates: dict[int, GateDecision]) -> dict[int, str]:
    """The sentence of each version. The comparison is the gate's: candidate and the champion of the day on
    the same held-out reviews. Without a gate decision the model before it is the last one deployed before
    it was made, which was scored on other reviews, so no difference is claimed."""
    baselines = [v.pk for v in versions if _is_baseline(v)]
    # The baseline is never scored on its own; its latest score is from the gate that compared a model with it.
    baseline_scores: dict[int, float | None] = {}
    for gate in GateDecision.objects.filter(champion_id__in=baselines).order_by("-id"):
        baseline_scores.setdefault(gate.champion_id, _accuracy(gate.champion_metrics, ModelVersion.Kind.SENTIMENT))
    ungated = {v.kind for v in versions if v.pk not in gates and v.pk not in baselines}
    history = list(
        Deployment.objects.filter(model_version__kind__in=sorted(ungated))
        .select_related("model_version")
        .order_by("id")
        if ungated
        else []
    )
    summaries = {}
    for version in versions:
        if _is_baseline(version):
            summaries[version.pk] = version_summary(accuracy=baseline_scores.get(version.pk), baseline=True)
            continue
        aspects = version.kind == ModelVersion.Kind.ASPECTS
        accuracy = _accuracy(_evaluation(version), version.kind)
        gate = gates.get(version.pk)
        if gate is not None and gate.champion_metrics:
            if gate.champion_id:
                previous_name = gate.champion.name
            else:
                previous_name = {
                    ModelVersion.Kind.ASPECTS: "the built-in aspect rules",
                    ModelVersion.Kind.SUGGESTIONS: "the built-in suggestion rule",
                }.get(version.kind, "the built-in model")
            previous_accuracy = _accuracy(gate.champion_metrics, version.kind)
        else:
            earlier = [
                d.model_version
                for d in history
                if d.model_version.kind == version.kind
                and d.model_version_id != version.pk
                and d.created_at <= version.created_at
            ]
            previous_name, previous_accuracy = (earlier[-1].name if earlier else ""), None
        summaries[version.pk] = version_summary(
            accuracy=accuracy,
            previous_accuracy=previous_accuracy,
            previous_name=previous_name,
            aspects=aspects,
            suggestions=version.kind == ModelVersion.Kind.SUGGESTIONS,
        )
    return summaries


def _evaluation_reports(limit: int = 20) -> list[dict]:
    """The weekly evaluations of the champion, latest first."""
    reports = EvaluationReport.objects.select_related("model_version").order_by("-id")[:limit]
    return [{"report": report, "mlflow_url": mlflow_url_for_run(report.mlflow_run_id)} for report in reports]


def _evaluation(version: ModelVersion) -> dict:
    return (version.metrics or {}).get("evaluation") or {}


def _macro_f1_series(versions: list[ModelVersion]) -> dict:
    ordered = sorted((v for v in versions if _evaluation(v).get("macro_f1") is not None), key=lambda v: v.pk)
    return {
        "names": [v.name for v in ordered],
        "macro_f1": [_evaluation(v)["macro_f1"] for v in ordered],
        "stages": [v.stage for v in ordered],
    }


@permission_required("training.view_modelversion")
@require_GET
def models_page(request: HttpRequest) -> HttpResponse:
    versions = list(ModelVersion.objects.select_related("training_job").order_by("-id")[:100])
    decisions = {}
    for decision in GateDecision.objects.filter(candidate__in=versions).select_related("champion").order_by("-id"):
        decisions.setdefault(decision.candidate_id, decision)
    summaries = version_summaries(versions, decisions)
    rows = [
        {
            "version": v,
            "evaluation": _evaluation(v),
            "gate": decisions.get(v.pk),
            "mlflow_url": mlflow_run_url(v),
            "summary": summaries[v.pk],
        }
        for v in versions
    ]
    rollbacks = [
        {"kind": kind, "label": label, "deployment": model_version_rollback_target(kind)}
        for kind, label in ModelVersion.Kind.choices
    ]
    return render(
        request,
        "training/models.html",
        {
            "rows": rows,
            "series": _macro_f1_series(versions),
            "learning_curve": sentiment_learning_curve(),
            "reports": _evaluation_reports(),
            "deployments": Deployment.objects.select_related("model_version", "previous", "user").order_by("-id")[:20],
            "rollbacks": rollbacks,
            "can_promote": can(request.user, "training.promote_modelversion"),
            "can_rollback": can(request.user, "training.rollback_modelversion"),
            "plotly_url": PLOTLY_URL,
        },
    )


@permission_required("training.view_modelversion")
@require_GET
def model_page(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion.objects.select_related("training_job"), pk=version_id)
    evaluation = _evaluation(version)
    matrix = evaluation.get("confusion_matrix") or []
    gates = list(GateDecision.objects.filter(candidate=version).select_related("champion").order_by("-id"))
    return render(
        request,
        "training/model.html",
        {
            "version": version,
            "evaluation": evaluation,
            "per_class": [(label, evaluation.get("per_class", {}).get(label, {})) for label in LABELS],
            "matrix": [(LABELS[i], row) for i, row in enumerate(matrix) if i < len(LABELS)],
            "labels": LABELS,
            "gates": gates,
            "summary": version_summaries([version], {version.pk: gates[0]} if gates else {})[version.pk],
            "composition": accurate_composition(version),
            "deployments": Deployment.objects.filter(model_version=version).select_related("user").order_by("-id"),
            "mlflow_url": mlflow_run_url(version),
            "can_promote": can(request.user, "training.promote_modelversion"),
            "plotly_url": PLOTLY_URL,
        },
    )


@permission_required("training.promote_modelversion")
@require_POST
def promote(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, pk=version_id)
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation box to promote a model.")
        return redirect("model", version_id=version.pk)
    reason = (request.POST.get("reason") or "").strip()[:500] or f"Promoted by hand by {request.user.get_username()}"
    try:
        model_version_promote(version=version, action=Deployment.Action.MANUAL, user_id=request.user.pk, reason=reason)
    except DeploymentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{version.name} is now deployed.")
    return redirect("models")


@permission_required("training.rollback_modelversion")
@require_POST
def rollback(request: HttpRequest) -> HttpResponse:
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the confirmation box to roll back.")
        return redirect("models")
    kind = request.POST.get("kind") or ModelVersion.Kind.SENTIMENT  # the service refuses an unknown kind
    reason = (request.POST.get("reason") or "").strip()[:500]
    try:
        version = model_version_rollback(
            kind=kind,
            user_id=request.user.pk,
            reason=reason,
            seen_deployment_id=clean_int(request.POST.get("deployment"), 0) or None,
        )
    except DeploymentError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Rolled back: {version.name} is deployed again.")
    return redirect("models")


def job_json(job: TrainingJob) -> dict:
    return {
        "id": job.pk,
        "status": job.status,
        "status_display": job.get_status_display(),
        "progress": job.progress,
        "progress_message": job.progress_message,
        "trigger": job.get_trigger_display(),
        "parameters": job.parameters,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "requested_by": job.requested_by.get_username() if job.requested_by else "",
        "created_at": job.created_at.isoformat(),
        "created_display": date_format(timezone.localtime(job.created_at), "DATETIME_FORMAT"),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "decision": (job.metrics or {}).get("decision", ""),
        "is_final": job.is_final,
    }


def _jobs() -> list[TrainingJob]:
    return list(TrainingJob.objects.select_related("requested_by").order_by("-id")[:30])


@permission_required("training.view_trainingjob")
@require_GET
def jobs_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "training/jobs.html",
        {
            "jobs": [job_json(job) for job in _jobs()],
            "can_start": can(request.user, "training.start_trainingjob"),
            "default_min_samples": DEFAULT_MIN_SAMPLES,
            "need": retraining_need(),
        },
    )


@json_permission_required("training.view_trainingjob")
@require_GET
def jobs_status(request: HttpRequest) -> JsonResponse:
    """Polled by the jobs page while a job is active."""
    return JsonResponse({"status": "ok", "jobs": [job_json(job) for job in _jobs()]})


@permission_required("training.start_trainingjob")
@require_POST
def start_job(request: HttpRequest) -> HttpResponse:
    raw = (request.POST.get("min_samples") or str(DEFAULT_MIN_SAMPLES)).strip()
    # Digits only: int() would also take "1_000", "+5" or "٣" (an Arabic-Indic three).
    min_samples = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0
    if not 1 <= min_samples <= 100_000_000:
        messages.error(request, "min_samples must be a whole number from 1 to 100,000,000.")
        return redirect("jobs")
    try:
        with transaction.atomic():
            job = training_job_create(
                parameters={"min_samples": min_samples},
                trigger=TrainingJob.Trigger.STAFF,
                requested_by_id=request.user.pk,
            )
            training_job_enqueue(job)
    except JobAlreadyActive as exc:
        messages.error(request, f"Training job #{exc.job.pk} is already {exc.job.status}; one job runs at a time.")
    else:
        messages.success(request, f"Training job #{job.pk} queued.")
    return redirect("jobs")


@permission_required("training.start_trainingjob")
@require_POST
def cancel_job(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(TrainingJob, pk=job_id)
    if job.is_final:
        messages.info(request, f"Job #{job.pk} had already {job.status}.")
    else:
        training_job_request_cancel(job=job)
        messages.success(request, f"Cancelling job #{job.pk}.")
    return redirect("jobs")
