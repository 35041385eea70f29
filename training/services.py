"""Writes for model versions and training jobs."""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from dataclasses import dataclass

import joblib
import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from training.ml import lexicon, text_classifier
from training.ml.labels import rating_to_label
from training.ml.metrics import evaluate
from training.models import ModelVersion, TrainingJob

logger = logging.getLogger(__name__)

BASELINE_NAME = "baseline-lexicon"
DEFAULT_MIN_SAMPLES = 50
# Human labels are rarer and more trustworthy than labels inferred from stars.
HUMAN_LABEL_WEIGHT = 3.0
EVALUATION_SHARE_PERCENT = 20


class TrainingError(Exception):
    """A job cannot proceed; the message is shown to the user as the job's error."""


class JobCancelled(Exception):
    pass


class JobAlreadyActive(Exception):
    def __init__(self, job: TrainingJob) -> None:
        super().__init__(f"Training job {job.pk} is already {job.status}")
        self.job = job


def model_version_ensure_baseline() -> ModelVersion:
    """The lexicon baseline exists and, if nothing else is deployed, is the champion."""
    baseline, _ = ModelVersion.objects.get_or_create(
        name=BASELINE_NAME,
        defaults={
            "algorithm": lexicon.ALGORITHM,
            "parameters": {"steepness": 4.0, "neutral_bias": 1.0},
        },
    )
    if not ModelVersion.objects.filter(kind=baseline.kind, stage=ModelVersion.Stage.CHAMPION).exists():
        try:
            with transaction.atomic():
                ModelVersion.objects.filter(pk=baseline.pk).update(
                    stage=ModelVersion.Stage.CHAMPION, deployed_at=timezone.now()
                )
        except IntegrityError:
            pass  # another process deployed something at the same moment; that one wins
        baseline.refresh_from_db()
    return baseline


def model_version_promote(*, version: ModelVersion) -> ModelVersion:
    """Make `version` the champion; the previous champion is archived."""
    with transaction.atomic():
        ModelVersion.objects.filter(kind=version.kind, stage=ModelVersion.Stage.CHAMPION).exclude(pk=version.pk).update(
            stage=ModelVersion.Stage.ARCHIVED
        )
        ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.CHAMPION, deployed_at=timezone.now())
    version.refresh_from_db()
    return version


# --- Training jobs ------------------------------------------------------------------


def training_job_create(
    *, parameters: dict, trigger: str = TrainingJob.Trigger.API, requested_by_id: int | None = None
) -> TrainingJob:
    """Queue a job; refuses while another is queued or running (one at a time)."""
    active_statuses = [TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING]
    active = TrainingJob.objects.filter(status__in=active_statuses).first()
    if active is not None:
        raise JobAlreadyActive(active)
    try:
        with transaction.atomic():
            return TrainingJob.objects.create(parameters=parameters, trigger=trigger, requested_by_id=requested_by_id)
    except IntegrityError:
        # Lost the race to a concurrent start: the database's one-active-job index said no.
        active = TrainingJob.objects.filter(status__in=active_statuses).first()
        if active is None:
            raise
        raise JobAlreadyActive(active) from None


def training_job_transition(*, job_id: int, to: str, **fields) -> bool:
    """Compare-and-set status change: True only if this call made the transition.

    Works the same on SQLite (where select_for_update is a no-op) and PostgreSQL.
    """
    allowed_from = [status for status, nexts in TrainingJob.TRANSITIONS.items() if to in nexts]
    if to == TrainingJob.Status.RUNNING:
        fields.setdefault("started_at", timezone.now())
    if to in TrainingJob.FINAL_STATUSES:
        fields.setdefault("finished_at", timezone.now())
    updated = TrainingJob.objects.filter(pk=job_id, status__in=allowed_from).update(status=to, **fields)
    return updated == 1


def training_job_request_cancel(*, job: TrainingJob) -> TrainingJob:
    TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    # A queued job nobody has picked up yet is cancelled on the spot; a running one
    # sees the flag at its next progress step.
    TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.CANCELLED, error="Cancelled before it started", finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


@dataclass
class _Progress:
    job_id: int

    def __call__(self, fraction: float, message: str) -> None:
        cancelled = TrainingJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()
        if cancelled:
            raise JobCancelled()
        TrainingJob.objects.filter(pk=self.job_id, status=TrainingJob.Status.RUNNING).update(
            progress=round(fraction, 3), progress_message=message[:300]
        )


def in_evaluation_bucket(review_id: int) -> bool:
    """Deterministic ~20% hold-out: a review never moves between training and evaluation."""
    digest = hashlib.blake2b(str(review_id).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100 < EVALUATION_SHARE_PERCENT


def _collect_examples() -> list[tuple[int, str, str, float, str]]:
    """(review id, text, label, weight, label source) for every usable review."""
    from reviews.models import Review

    rows = Review.objects.filter(human_label__isnull=False) | Review.objects.filter(rating__isnull=False)
    examples = []
    for review_id, text, human_label, rating in rows.values_list("id", "text", "human_label", "rating").iterator(
        chunk_size=2000
    ):
        if human_label:
            examples.append((review_id, text, human_label, HUMAN_LABEL_WEIGHT, "human"))
        else:
            label = rating_to_label(
                float(rating),
                negative_max=settings.RATING_NEGATIVE_MAX,
                positive_min=settings.RATING_POSITIVE_MIN,
            )
            examples.append((review_id, text, label, 1.0, "rating"))
    return examples


def training_job_run(*, job_id: int) -> TrainingJob | None:
    """Run a queued job to a final state. Safe to call twice: only one call claims it."""
    if not training_job_transition(job_id=job_id, to=TrainingJob.Status.RUNNING, progress=0.0):
        # Already claimed, finished, cancelled or deleted: nothing to do.
        return TrainingJob.objects.filter(pk=job_id).first()
    job = TrainingJob.objects.get(pk=job_id)
    progress = _Progress(job_id)
    started = time.monotonic()
    try:
        metrics, version = _train(job, progress)
    except JobCancelled:
        training_job_transition(job_id=job_id, to=TrainingJob.Status.CANCELLED, error="Cancelled on request")
    except TrainingError as exc:
        training_job_transition(job_id=job_id, to=TrainingJob.Status.FAILED, error=str(exc))
    except Exception as exc:  # recorded on the job; the worker must survive it
        logger.exception("Training job %s failed", job_id)
        training_job_transition(job_id=job_id, to=TrainingJob.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    else:
        metrics["training_seconds"] = round(time.monotonic() - started, 3)
        training_job_transition(
            job_id=job_id,
            to=TrainingJob.Status.SUCCEEDED,
            metrics=metrics,
            progress=1.0,
            progress_message=f"Done: {metrics['decision']}",
        )
        logger.info("Training job %s produced %s: %s", job_id, version.name, metrics["decision"])
    return TrainingJob.objects.get(pk=job_id)


def _train(job: TrainingJob, progress: _Progress) -> tuple[dict, ModelVersion]:
    from training.registry import forget_deployed_model, get_deployed_model

    min_samples = int(job.parameters.get("min_samples", DEFAULT_MIN_SAMPLES))
    progress(0.05, "Collecting labelled and rated reviews")
    examples = _collect_examples()
    if len(examples) < min_samples:
        raise TrainingError(
            f"Not enough usable examples: found {len(examples)} labelled or rated reviews, need {min_samples}"
        )
    train = [e for e in examples if not in_evaluation_bucket(e[0])]
    held_out = [e for e in examples if in_evaluation_bucket(e[0])]
    if len({e[2] for e in train}) < 2:
        raise TrainingError("Training data has a single class; need at least two of positive/neutral/negative")
    if not held_out:
        raise TrainingError("No reviews fall in the evaluation bucket yet; add more labelled or rated reviews")

    progress(0.2, f"Fitting TF-IDF + logistic regression on {len(train)} reviews")
    model = text_classifier.fit([e[1] for e in train], [e[2] for e in train], [e[3] for e in train])

    progress(0.7, f"Evaluating candidate and champion on {len(held_out)} held-out reviews")
    eval_texts = [e[1] for e in held_out]
    eval_labels = [e[2] for e in held_out]
    candidate_metrics = evaluate(model.predict_proba(eval_texts), eval_labels)
    champion = get_deployed_model()
    champion_metrics = evaluate(np.asarray(champion.model.predict_proba(eval_texts)), eval_labels)

    progress(0.9, "Saving the model")
    settings.MODEL_ARTIFACT_DIR.mkdir(parents=True, exist_ok=True)
    name = f"sentiment-{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    artifact = f"{name}.joblib"
    joblib.dump(model, settings.MODEL_ARTIFACT_DIR / artifact)
    counts = {source: sum(1 for e in train if e[4] == source) for source in ("human", "rating")}
    version = ModelVersion.objects.create(
        name=name,
        algorithm=text_classifier.ALGORITHM,
        artifact_path=artifact,
        parameters={"min_samples": min_samples, "human_label_weight": HUMAN_LABEL_WEIGHT},
        metrics={"evaluation": candidate_metrics, "evaluation_set_size": len(held_out)},
        training_job=job,
    )
    better = candidate_metrics["macro_f1"] > champion_metrics["macro_f1"]
    if better:
        model_version_promote(version=version)
        forget_deployed_model()
        decision = f"promoted {name} (macro-F1 {candidate_metrics['macro_f1']} > {champion_metrics['macro_f1']})"
    else:
        ModelVersion.objects.filter(pk=version.pk).update(stage=ModelVersion.Stage.REJECTED)
        decision = (
            f"kept {champion.name} (candidate macro-F1 {candidate_metrics['macro_f1']} "
            f"<= {champion_metrics['macro_f1']})"
        )
    metrics = {
        "decision": decision,
        "promoted": better,
        "model_version": name,
        "champion": champion.name,
        "train_size": len(train),
        "train_counts_by_label_source": counts,
        "evaluation_set_size": len(held_out),
        "candidate": candidate_metrics,
        "champion_metrics": champion_metrics,
    }
    return metrics, version
