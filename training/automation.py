"""What the schedules do: claimed once per period, every decision recorded."""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from reviews.models import Review
from training import tracking
from training.datasets import collect_examples, split_examples
from training.jobs import JobAlreadyActive, training_job_create, training_job_enqueue
from training.ml.holdout import in_evaluation_bucket
from training.ml.labels import LABEL_INDEX, LABELS
from training.ml.metrics import evaluate
from training.models import EvaluationReport, ScheduledRun, TrainingJob
from training.registry import current_champion, load_model
from training.retraining import retraining_need

logger = logging.getLogger(__name__)


def current_slot(period: str, now: dt.datetime | None = None) -> str:
    """The period a run covers, in local time: 'day', 'week' (ISO) or 'hour'."""
    local = timezone.localtime(now or timezone.now())
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return local.strftime("%Y-%m-%dT%H")


def scheduled_run_claim(*, task: str, slot: str) -> ScheduledRun | None:
    """The database decides who runs a period's work: the first claim wins, a second
    firing of the same schedule (two beats, a redelivery) gets None."""
    try:
        with transaction.atomic():
            return ScheduledRun.objects.create(task=task, slot=slot)
    except IntegrityError:
        logger.info("%s for %s already claimed; skipping", task, slot)
        return None


def _finish(run: ScheduledRun, outcome: str, reason: str, **fields) -> ScheduledRun:
    ScheduledRun.objects.filter(pk=run.pk).update(outcome=outcome, reason=reason, finished_at=timezone.now(), **fields)
    run.refresh_from_db()
    return run


def retrain_if_needed(*, slot: str | None = None) -> ScheduledRun | None:
    run = scheduled_run_claim(task="retrain-daily", slot=slot or current_slot("day"))
    if run is None:
        return None
    need = retraining_need()
    details = {key: (value.isoformat() if isinstance(value, dt.datetime) else value) for key, value in need.items()}
    if not need["ready"]:
        return _finish(
            run,
            ScheduledRun.Outcome.SKIPPED,
            f"Too little new data: {need['new_labels']} new labels (need {need['min_new_labels']}) and "
            f"{need['new_rated']} new rated reviews (need {need['min_new_rated']}) since the last training",
            details=details,
        )
    try:
        with transaction.atomic():
            job = training_job_create(parameters={}, trigger=TrainingJob.Trigger.SCHEDULE)
            training_job_enqueue(job)
    except JobAlreadyActive as exc:
        return _finish(run, ScheduledRun.Outcome.SKIPPED, f"Training job {exc.job.pk} is already {exc.job.status}")
    return _finish(run, ScheduledRun.Outcome.DONE, f"Started training job {job.pk}", details=details, training_job=job)


def evaluate_champion(*, slot: str | None = None) -> ScheduledRun | None:
    """Score the champion on the evaluation set and on the last week's human labels it did not learn from."""
    run = scheduled_run_claim(task="evaluate-weekly", slot=slot or current_slot("week"))
    if run is None:
        return None
    champion = current_champion()
    if champion is None:
        return _finish(run, ScheduledRun.Outcome.SKIPPED, "No model is deployed")
    model = load_model(champion)
    _, evaluation = split_examples(collect_examples())
    report: dict = {}
    errors: list[dict] = []
    if len(evaluation.examples):
        probabilities = np.asarray(model.predict_proba(evaluation.examples.texts))
        report = evaluate(probabilities, evaluation.examples.labels)
        predicted = probabilities.argmax(axis=1)
        truth = np.array([LABEL_INDEX[label] for label in evaluation.examples.labels])
        wrong = np.flatnonzero(predicted != truth)
        # The most confident mistakes teach the most.
        for i in wrong[np.argsort(-probabilities[wrong].max(axis=1))][:20]:
            errors.append(
                {
                    "review_id": evaluation.examples.ids[i],
                    "text": evaluation.examples.texts[i][:500],
                    "label": evaluation.examples.labels[i],
                    "predicted": LABELS[int(predicted[i])],
                    "confidence": round(float(probabilities[i].max()), 4),
                }
            )
    week_ago = timezone.now() - dt.timedelta(days=7)
    # Only labels the champion did not learn from: given after its training collected its data, or held out in
    # the evaluation bucket. A model scored on its own training labels reads high (0.86 on a week whose labels
    # were mostly wrong, all of which it had memorised).
    trained_at = champion.training_job.started_at if champion.training_job_id else None
    fresh = [
        (text, label)
        for review_id, text, label, labelled_at in Review.objects.filter(
            human_labelled_at__gte=week_ago, human_label__isnull=False
        ).values_list("id", "text", "human_label", "human_labelled_at")
        if trained_at is None or labelled_at > trained_at or in_evaluation_bucket(review_id)
    ]
    fresh_report = (
        evaluate(np.asarray(model.predict_proba([t for t, _ in fresh])), [label for _, label in fresh]) if fresh else {}
    )
    record = EvaluationReport.objects.create(
        model_version=champion,
        evaluation_set=evaluation.describe(),
        metrics=report,
        fresh_labels=fresh_report,
        sample_errors=errors,
    )
    run_id = tracking.safely(
        "log the weekly evaluation",
        _log_evaluation,
        champion.name,
        report,
        fresh_report,
        evaluation.describe(),
    )
    if run_id:
        EvaluationReport.objects.filter(pk=record.pk).update(mlflow_run_id=run_id)
    summary = (
        f"{champion.name}: macro-F1 {report.get('macro_f1')} on {len(evaluation.examples)} evaluation reviews, "
        f"{fresh_report.get('macro_f1')} on {len(fresh)} labels from the last week it did not learn from"
    )
    return _finish(run, ScheduledRun.Outcome.DONE, summary, details={"report_id": record.pk})


def _log_evaluation(name: str, report: dict, fresh_report: dict, evaluation_set: dict) -> str:
    mlflow = tracking._mlflow()
    with mlflow.start_run(experiment_id=tracking._experiment_id(), run_name=f"evaluation-{name}") as run:
        mlflow.set_tags({"model_version": name, "kind": "weekly-evaluation"})
        mlflow.log_metrics(tracking._flat_metrics(report))
        mlflow.log_metrics(tracking._flat_metrics(fresh_report, "fresh."))
        mlflow.log_dict({"report": report, "fresh": fresh_report, "evaluation_set": evaluation_set}, "evaluation.json")
    return run.info.run_id
