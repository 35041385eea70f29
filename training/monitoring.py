"""Monitoring: live accuracy against later human labels, drift against the champion's
reference statistics, retraining triggers with a cooldown, and negative-review spikes.

Every alarm is sample-size aware: it needs a minimum sample, an effect above a
threshold and a significant test, so a quiet day raises nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections import Counter

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from scipy import stats as scipy_stats

from reviews.models import Prediction, Review
from training import storage
from training.alerts import alert_notify
from training.jobs import JobAlreadyActive, training_job_create, training_job_enqueue
from training.ml.holdout import in_evaluation_bucket
from training.ml.labels import LABELS, rating_to_label
from training.models import ModelVersion, MonitoringSnapshot, TrainingJob
from training.registry import current_champion

_TOKEN = re.compile(r"[a-z0-9']+")


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)


def population_stability_index(expected: np.ndarray, actual: np.ndarray, epsilon: float = 1e-4) -> float:
    expected = np.clip(np.asarray(expected, float) / max(np.sum(expected), 1e-12), epsilon, None)
    actual = np.clip(np.asarray(actual, float) / max(np.sum(actual), 1e-12), epsilon, None)
    return round(float(np.sum((actual - expected) * np.log(actual / expected))), 4)


def _accuracy(pairs: list[tuple[str, str]]) -> dict:
    n = len(pairs)
    correct = sum(1 for predicted, truth in pairs if predicted == truth)
    low, high = wilson_interval(correct, n)
    return {"n": n, "accuracy": round(correct / n, 4) if n else None, "ci_low": low, "ci_high": high}


def live_accuracy(since: dt.datetime, version: ModelVersion | None = None) -> dict:
    """The champion's ingest predictions against human labels given since `since` (all of them, and those of
    reviews in the evaluation bucket, labelled blind: no suggestion shown, so unbiased), and every model's
    figure in `by_model`.

    Only `version`'s own predictions count in `all` and `blind`: labelled reviews are never re-scored, so the
    labels of the window mostly score the models that were deployed when those reviews arrived. Counting them
    for the current champion blamed it for a retired model's errors, and retraining fired on them every
    cooldown until they left the window."""
    rows = list(
        Prediction.objects.filter(is_ingest=True, review__human_labelled_at__gte=since)
        .exclude(review__human_label__isnull=True)
        .values_list("review_id", "label", "review__human_label", "model_version__name")
    )
    by_model: dict[str, list[tuple[str, str]]] = {}
    for _, predicted, truth, name in rows:
        by_model.setdefault(name or "(deleted model)", []).append((predicted, truth))
    own = [row for row in rows if version is not None and row[3] == version.name]
    everything = [(predicted, truth) for _, predicted, truth, _ in own]
    blind = [(predicted, truth) for review_id, predicted, truth, _ in own if in_evaluation_bucket(review_id)]
    return {
        "model_version": version.name if version is not None else None,
        "all": _accuracy(everything),
        "blind": _accuracy(blind),
        "by_model": {name: _accuracy(pairs) for name, pairs in sorted(by_model.items())},
    }


def rating_agreement(since: dt.datetime) -> dict:
    """Secondary signal (partly circular: the model learned from ratings)."""
    rows = Review.objects.filter(effective_at__gte=since, rating__isnull=False, predicted_label__isnull=False)
    pairs = [
        (
            label,
            rating_to_label(
                float(rating), negative_max=settings.RATING_NEGATIVE_MAX, positive_min=settings.RATING_POSITIVE_MIN
            ),
        )
        for label, rating in rows.values_list("predicted_label", "rating")[:50_000]
    ]
    result = _accuracy(pairs)
    return {"n": result["n"], "agreement": result["accuracy"]}


def _vocabulary(version: ModelVersion) -> set[str] | None:
    key = version.reference_stats.get("vocabulary_key")
    if not key:
        return None
    try:
        return set(json.loads(storage.local_path(key).read_text()))
    except (OSError, ValueError):
        return None


def drift(version: ModelVersion, since: dt.datetime) -> tuple[dict, list[str]]:
    reference = version.reference_stats or {}
    predictions = Prediction.objects.filter(is_ingest=True, created_at__gte=since, model_version=version)
    labels, confidences = [], []
    for label, confidence in predictions.values_list("label", "confidence")[:100_000]:
        labels.append(label)
        confidences.append(confidence)
    n = len(labels)
    result: dict = {"predictions": n}
    alarms: list[str] = []
    reference_classes = reference.get("class_distribution")
    if reference_classes and n:
        counts = Counter(labels)
        observed = np.array([counts.get(label, 0) for label in LABELS], float)
        expected_share = np.array([max(reference_classes.get(label, 0.0), 1e-4) for label in LABELS])
        expected_share = expected_share / expected_share.sum()
        psi = population_stability_index(expected_share, observed)
        p_value = float(scipy_stats.chisquare(observed, expected_share * n).pvalue)
        result.update(
            prediction_psi=psi,
            prediction_p_value=round(p_value, 6),
            prediction_share=dict(zip(LABELS, (observed / n).round(4).tolist(), strict=True)),
        )
        if (
            n >= settings.MONITOR_MIN_PREDICTIONS
            and psi > settings.MONITOR_PSI_THRESHOLD
            and p_value < settings.MONITOR_P_VALUE
        ):
            alarms.append(f"prediction distribution shifted (PSI {psi} > {settings.MONITOR_PSI_THRESHOLD}, n={n})")
    histogram = reference.get("confidence_histogram")
    if histogram and n:
        edges = np.array(histogram["edges"])
        observed_hist, _ = np.histogram(np.array(confidences), bins=edges)
        psi = population_stability_index(np.array(histogram["counts"]) + 1, observed_hist + 1)
        result["confidence_psi"] = psi
        result["mean_confidence"] = round(float(np.mean(confidences)), 4)
        if n >= settings.MONITOR_MIN_PREDICTIONS and psi > settings.MONITOR_PSI_THRESHOLD:
            alarms.append(f"confidence distribution shifted (PSI {psi}, n={n})")
    vocabulary = _vocabulary(version)
    if vocabulary is not None and "oov_rate" in reference:
        texts = Review.objects.filter(created_at__gte=since).values_list("text", flat=True)[:20_000]
        tokens = [token for text in texts for token in _TOKEN.findall(text.lower())]
        if tokens:
            rate = sum(1 for token in tokens if token not in vocabulary) / len(tokens)
            base = reference["oov_rate"]
            standard_error = math.sqrt(max(base * (1 - base), 1e-6) / len(tokens))
            z = (rate - base) / standard_error
            result.update(oov_rate=round(rate, 4), oov_reference=base, oov_z=round(z, 2), tokens=len(tokens))
            if n >= settings.MONITOR_MIN_PREDICTIONS and rate - base > settings.MONITOR_OOV_DELTA and z > 3:
                alarms.append(f"vocabulary drift: out-of-vocabulary rate {rate:.3f} vs {base:.3f} at training")
    return result, alarms


def negative_spikes(now: dt.datetime) -> list[dict]:
    """Businesses whose negative share in the last day is significantly above their previous four weeks."""
    day_ago, month_ago = now - dt.timedelta(days=1), now - dt.timedelta(days=29)
    recent = (
        Review.objects.filter(effective_at__gte=day_ago).exclude(business="")
        .values("business").annotate(n=Count("id"), negative=Count("id", filter=Q(predicted_label="negative")))
        .filter(n__gte=settings.NEGATIVE_SPIKE_MIN_REVIEWS)
    )  # fmt: skip
    spikes = []
    for row in recent:
        before = Review.objects.filter(
            business=row["business"], effective_at__gte=month_ago, effective_at__lt=day_ago
        ).aggregate(n=Count("id"), negative=Count("id", filter=Q(predicted_label="negative")))
        base = (before["negative"] + 1) / (before["n"] + 2)  # smoothed, so a new business has a baseline
        share = row["negative"] / row["n"]
        p_value = scipy_stats.binomtest(row["negative"], row["n"], base, alternative="greater").pvalue
        if share >= 2 * base and p_value < settings.MONITOR_P_VALUE:
            spikes.append(
                {"business": row["business"], "reviews": row["n"], "negative": row["negative"],
                 "negative_share": round(share, 3), "baseline_share": round(base, 3), "p_value": round(p_value, 6)}
            )  # fmt: skip
    return spikes


def _retraining_trigger(accuracy: dict, alarms: list[str], now: dt.datetime) -> dict:
    reasons = []
    overall = accuracy["all"]
    if overall["n"] >= settings.MONITOR_MIN_LABELS and overall["accuracy"] < settings.MONITOR_ACCURACY_THRESHOLD:
        reasons.append(
            f"live accuracy {overall['accuracy']} < {settings.MONITOR_ACCURACY_THRESHOLD} on {overall['n']} labels"
        )
    reasons.extend(alarms)
    if not reasons:
        return {"decision": "none", "reason": "accuracy and drift within thresholds"}
    cooldown_start = now - dt.timedelta(hours=settings.MONITOR_RETRAIN_COOLDOWN_HOURS)
    recent = TrainingJob.objects.filter(trigger=TrainingJob.Trigger.MONITOR, created_at__gte=cooldown_start).first()
    if recent is not None:
        return {"decision": "cooldown", "reason": "; ".join(reasons) + f" (job {recent.pk} started within cooldown)"}
    try:
        with transaction.atomic():
            job = training_job_create(parameters={"reason": "; ".join(reasons)}, trigger=TrainingJob.Trigger.MONITOR)
            training_job_enqueue(job)
    except JobAlreadyActive as exc:
        return {"decision": "busy", "reason": "; ".join(reasons) + f" (job {exc.job.pk} already {exc.job.status})"}
    return {"decision": "retrain", "reason": "; ".join(reasons), "job_id": job.pk}


def monitoring_run(*, now: dt.datetime | None = None) -> MonitoringSnapshot:
    now = now or timezone.now()
    since = now - dt.timedelta(days=settings.MONITOR_WINDOW_DAYS)
    champion = current_champion()
    accuracy = live_accuracy(since, champion)
    drift_result, alarms = drift(champion, since) if champion else ({}, [])
    trigger = _retraining_trigger(accuracy, alarms, now)
    spikes = negative_spikes(now)
    snapshot = MonitoringSnapshot.objects.create(
        model_version=champion,
        window_days=settings.MONITOR_WINDOW_DAYS,
        live_accuracy=accuracy,
        rating_agreement=rating_agreement(since),
        drift={**drift_result, "negative_spikes": spikes},
        alarms=alarms,
        trigger=trigger,
    )
    overall = accuracy["all"]
    if overall["n"] >= settings.MONITOR_MIN_LABELS and overall["accuracy"] < settings.MONITOR_ACCURACY_THRESHOLD:
        alert_notify(event="accuracy_drop", subject=f"Live accuracy {overall['accuracy']}", payload=overall)
    for alarm in alarms:
        alert_notify(event="drift", subject=alarm, payload=drift_result)
    for spike in spikes:
        alert_notify(event="negative_spike", subject=f"Negative reviews spike at {spike['business']}", payload=spike)
    return snapshot
