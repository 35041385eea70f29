"""Aspect annotations and the aspect model's lifecycle (import, train, gate, serve).

The aspect model trains from stored annotations (SemEval files or staff
corrections) through the same job / MLflow / gate path as the sentiment model.
Without a trained aspect model, the cold-start model (seed terms, no labels) serves.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from xml.etree import ElementTree

import joblib
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from training import storage, tracking
from training.jobs import TrainingError
from training.ml import aspect_data, encoder
from training.ml.aspect_coldstart import ColdStartAspectModel
from training.ml.aspects import AspectModel
from training.models import AspectAnnotation, ModelVersion, TrainingJob
from training.registry import aspect_serving_key, current_aspect_champion, load_model, sentiment_features_version
from training.registry import serving_aspect_model_key as serving_aspect_model_key  # still imported from here
from training.versions import model_version_register
from training.versions import reextract_all_aspects as reextract_all_aspects  # still imported from here

logger = logging.getLogger(__name__)
SEMEVAL2014 = "semeval2014"
GATE_MIN_DELTA = 0.005
_lock = threading.Lock()
_cache: dict[str, object] = {}


class AnnotationError(Exception):
    pass


def _xml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob("**/*.xml"))
    return [path]


def aspect_annotations_import(*, path: Path) -> dict[str, int]:
    """Store the sentences of SemEval-2014 or SemEval-2016 XML files (format by root
    element); idempotent by (source, sentence id)."""
    counts = {"files": 0, "sentences": 0, "created": 0, "existing": 0, "skipped": 0}
    for file in _xml_files(path):
        try:
            root = ElementTree.parse(file).getroot()
        except ElementTree.ParseError as exc:
            raise AnnotationError(f"{file}: not XML ({exc})") from exc
        if root.tag == "sentences":
            sentences, scheme = aspect_data.parse_semeval2014(file), "semeval2014"
        elif root.tag == "Reviews":
            sentences, scheme = aspect_data.parse_semeval2016(file), "semeval2016"
        else:
            raise AnnotationError(f"{file}: root <{root.tag}> is neither SemEval-2014 <sentences> nor 2016 <Reviews>")
        counts["files"] += 1
        counts["sentences"] += len(sentences)
        # Sentences the parsers leave out: SemEval-2016's OutOfScope ones (not about the restaurant) and empty ones.
        counts["skipped"] += sum(1 for _ in root.iter("sentence")) - len(sentences)
        existing = set(
            AspectAnnotation.objects.filter(
                source=scheme, external_id__in=[s.sentence_id for s in sentences]
            ).values_list("external_id", flat=True)
        )
        fresh = [
            AspectAnnotation(
                text=s.text,
                aspects=[{"category": c, "polarity": p} for c, p in s.aspects],
                scheme=scheme,
                source=scheme,
                external_id=s.sentence_id,
            )
            for s in sentences
            if s.sentence_id not in existing
        ]
        with transaction.atomic():
            AspectAnnotation.objects.bulk_create(fresh, ignore_conflicts=True)
        counts["created"] += len(fresh)
        counts["existing"] += len(existing)
    return counts


def _annotated_sentences() -> list[tuple[int, aspect_data.AnnotatedSentence]]:
    rows = AspectAnnotation.objects.order_by("id").values_list("id", "text", "aspects", "source", "external_id")
    return [
        (
            pk,
            aspect_data.AnnotatedSentence(
                text=text,
                aspects=[(a["category"], a["polarity"]) for a in aspects],
                source="semeval2016" if source == "semeval2016" else "semeval2014",
                sentence_id=external_id,
            ),
        )
        for pk, text, aspects, source, external_id in rows
    ]


def _held_out(text: str) -> bool:
    # By normalised text, so the same sentence from the 2014 and 2016 files, or a
    # near-identical generic one, never sits on both sides.
    key = aspect_data.group_key(text)
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % 100 < 20


def _score(model, sentences: list[str], gold: list[list[tuple[str, str]]]) -> dict:
    predicted = model.predict(sentences)
    tp = fp = fn = 0
    for guess, truth in zip(predicted, gold, strict=True):
        guessed = {category for category, _, _ in guess}
        true = {category for category, _ in truth}
        tp, fp, fn = tp + len(guessed & true), fp + len(guessed - true), fn + len(true - guessed)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    micro_f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pairs = [(s, c, p) for s, truth in zip(sentences, gold, strict=True) for c, p in truth]
    if pairs:
        polarities = model.predict_polarity([s for s, _, _ in pairs], [c for _, c, _ in pairs])
        polarity_accuracy = sum(1 for (_, _, p), (q, _) in zip(pairs, polarities, strict=True) if p == q) / len(pairs)
    else:
        polarity_accuracy = 0.0
    return {
        "n": len(sentences),
        "micro_f1": round(micro_f1, 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "polarity_accuracy": round(polarity_accuracy, 4),
    }


def aspect_model_evaluate(version: ModelVersion) -> dict:
    """Score an aspect model version on today's held-out annotations (the sentences its gate uses)."""
    annotated = [(s.text, aspect_data.to_semeval2014_scheme(s)) for _, s in _annotated_sentences()]
    test = [(text, gold) for text, gold in annotated if gold and _held_out(text)]
    if not test:
        raise ValueError("No held-out aspect annotations: import some with import_aspect_annotations first")
    return {
        "evaluation_set": {"kind": "aspect-annotations", "size": len(test), "note": "20% of sentences by text hash"},
        "metrics": _score(load_aspect_model(version), [t for t, _ in test], [g for _, g in test]),
    }


def _fast_sentiment_model(version: ModelVersion):
    """The version's model; of an accurate-kind model only its fast TF-IDF part: extraction scores every
    sentence and clause, and MiniLM there would cost more than it adds."""
    model = load_model(version)
    return getattr(model, "base", model)


def _sentiment_features_model() -> tuple[str | None, object | None]:
    """The name and fast model of the sentiment champion that feeds the aspect polarity (or Nones)."""
    version = sentiment_features_version()
    return (None, None) if version is None else (version.name, _fast_sentiment_model(version))


def aspect_gate(candidate: dict, champion: dict, champion_label: str) -> tuple[bool, str]:
    """Promote a candidate that is better on one measure and no worse on the other: micro-F1 up by
    GATE_MIN_DELTA with polarity accuracy at most 0.02 lower, or polarity accuracy up by GATE_MIN_DELTA
    with micro-F1 no lower (a model that only reads polarity better, e.g. with sentiment features,
    detects exactly what its champion detects)."""
    f1_delta = candidate["micro_f1"] - champion["micro_f1"]
    polarity_delta = candidate["polarity_accuracy"] - champion["polarity_accuracy"]
    least = GATE_MIN_DELTA - 1e-9  # the metrics are rounded to 4 places: 0.745 - 0.74 is 0.00499...
    promote = (f1_delta >= least and polarity_delta >= -0.02 - 1e-9) or (f1_delta >= -1e-9 and polarity_delta >= least)
    reason = (
        f"micro-F1 {candidate['micro_f1']} vs {champion['micro_f1']} ({champion_label}), "
        f"polarity accuracy {candidate['polarity_accuracy']} vs {champion['polarity_accuracy']}"
    )
    return promote, reason


# The fit's stages report 0..1 each; the job's bar gives them consecutive parts of 10-70 % so it never goes back.
_FIT_STAGES = {"detection-thresholds": (0.1, 0.4), "detection": (0.4, 0.55), "polarity": (0.55, 0.7)}


def _fit_progress(stage: str, fraction: float) -> float:
    start, end = _FIT_STAGES.get(stage, (0.1, 0.7))
    return start + (end - start) * min(max(fraction, 0.0), 1.0)


def aspects_train(job: TrainingJob, progress: Callable[[float, str], None]) -> dict:
    """Train the SemEval-2014-scheme aspect model from stored annotations and gate it."""
    progress(0.02, "Collecting aspect annotations")
    annotated = _annotated_sentences()
    examples = [(pk, s.text, aspect_data.to_semeval2014_scheme(s)) for pk, s in annotated]
    examples = [e for e in examples if e[2]]
    if len(examples) < int(job.parameters.get("min_samples", 50)):
        raise TrainingError(f"Not enough aspect annotations: found {len(examples)}; import some first")
    train = [e for e in examples if not _held_out(e[1])]
    test = [e for e in examples if _held_out(e[1])]
    progress(0.1, f"Fitting the aspect model on {len(train)} sentences")
    started = time.monotonic()
    sentiment_version, sentiment_model = _sentiment_features_model()
    model = AspectModel(
        taxonomy=list(aspect_data.SEMEVAL14_CATEGORIES),
        embeddings=settings.ASPECT_EMBEDDINGS and encoder.is_available(),
        sentiment_model=sentiment_model,
    )
    model.fit(
        [e[1] for e in train],
        [e[2] for e in train],
        progress=lambda stage, fraction: progress(_fit_progress(stage, fraction), f"Aspect model: {stage}"),
    )
    fit_seconds = round(time.monotonic() - started, 2)
    progress(0.75, f"Scoring candidate and champion on {len(test)} held-out sentences")
    sentences, gold = [e[1] for e in test], [e[2] for e in test]
    candidate_metrics = _score(model, sentences, gold)
    champion = current_aspect_champion()
    champion_model = load_aspect_model(champion) if champion else get_aspect_model()  # what serves now
    champion_metrics = _score(champion_model, sentences, gold)
    delta = candidate_metrics["micro_f1"] - champion_metrics["micro_f1"]
    promote, reason = aspect_gate(candidate_metrics, champion_metrics, "champion" if champion else "cold start")
    name = f"aspects-{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    scratch = storage.scratch_dir()
    joblib.dump(model, scratch / "model.joblib")
    evaluation_set = {"kind": "aspect-annotations", "size": len(test), "note": "20% of sentences by text hash"}
    run_id = tracking.safely(
        "log the aspect training run",
        _log_run,
        name,
        {
            "algorithm": model.algorithm,
            "train_size": len(train),
            "job_id": job.pk,
            "fit_seconds": fit_seconds,
            "sentiment_features": sentiment_version or "",
        },
        {**candidate_metrics, "champion_micro_f1": champion_metrics["micro_f1"]},
        scratch / "model.joblib",
    )
    storage.save(scratch / "model.joblib", f"{name}.joblib")
    model_version_register(
        job=job,
        name=name,
        kind=ModelVersion.Kind.ASPECTS,
        algorithm=model.algorithm,
        parameters={"scheme": SEMEVAL2014, "train_size": len(train), "sentiment_features": sentiment_version},
        evaluation_set=evaluation_set,
        candidate_metrics=candidate_metrics,
        champion=champion,
        champion_metrics=champion_metrics,
        promote=promote,
        reason=reason,
        delta=round(delta, 4),
        probability_better=1.0 if promote else 0.0,
        mlflow_run_id=run_id or "",
    )
    if promote:
        decision = f"promoted {name}: {reason}"
    else:
        decision = f"kept {champion.name if champion else 'cold start'}: candidate {name} rejected ({reason})"
    return {
        "decision": decision,
        "promoted": promote,
        "model": "aspects",
        "model_version": name,
        "train_size": len(train),
        "evaluation_set": evaluation_set,
        "candidate": candidate_metrics,
        "champion_metrics": champion_metrics,
        "fit_seconds": fit_seconds,
        "mlflow_run_id": run_id or "",
    }


def _log_run(name: str, params: dict, metrics: dict, model_file: Path) -> str:
    from training.tracking import _experiment_id, _mlflow

    mlflow = _mlflow()
    with mlflow.start_run(experiment_id=_experiment_id(), run_name=name) as run:
        mlflow.set_tags({"model_version": name, "kind": "aspects"})
        mlflow.log_params({key: str(value) for key, value in params.items()})
        mlflow.log_metrics({key: float(value) for key, value in metrics.items()})
        mlflow.log_artifact(str(model_file), artifact_path="model")
    return run.info.run_id


def load_aspect_model(version: ModelVersion):
    return joblib.load(storage.local_path(version.artifact_path))


def get_aspect_model():
    """The deployed aspect model, or the cold-start model when none has been trained (its clause
    polarity from the sentiment champion when there is a trained one, else from VADER)."""
    champion = current_aspect_champion()
    sentiment = None if champion else sentiment_features_version()
    key = aspect_serving_key(champion, sentiment)
    with _lock:
        if key not in _cache:
            _cache.clear()
            if champion:
                _cache[key] = load_aspect_model(champion)
            else:
                sentiment_model = _fast_sentiment_model(sentiment) if sentiment else None
                _cache[key] = ColdStartAspectModel(scheme="semeval2014", sentiment_model=sentiment_model)
        return _cache[key]


def merge_review_aspects(per_sentence: Iterable[list[tuple[str, str, float]]]) -> list[dict]:
    """One entry per category for a whole review; different polarities on one category are a conflict."""
    merged: dict[str, set[str]] = {}
    for aspects in per_sentence:
        for category, polarity, _ in aspects:
            merged.setdefault(category, set()).add(polarity)
    result = []
    for category, polarities in merged.items():
        if len(polarities) == 1:
            polarity = polarities.pop()
        elif polarities & {"positive"} and polarities & {"negative"}:
            polarity = "conflict"
        else:
            polarity = sorted(polarities - {"neutral"})[0] if polarities - {"neutral"} else "neutral"
        result.append({"category": category, "polarity": polarity})
    return result
