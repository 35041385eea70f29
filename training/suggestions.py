"""Suggestion annotations and the suggestion detector's lifecycle (import, train, gate, serve).

The detector (training/ml/suggestions.py) learns from stored annotations (SemEval-2019 Task 9 files,
staff corrections on the review page) plus the review-domain sentences that ship with the code
(training/ml/data/review_suggestions.csv), through the same job / MLflow / gate path as the other
models. Without a trained champion, the keyword/imperative rule serves.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import joblib
from django.db import transaction
from django.utils import timezone

from training import storage, tracking
from training.jobs import TrainingError
from training.ml.aspect_data import group_key
from training.ml.holdout import text_in_evaluation_bucket
from training.ml.suggestion_data import read_semeval2019_csv, review_domain_sentences
from training.ml.suggestions import SuggestionModel, SuggestionRule
from training.models import ModelVersion, SuggestionAnnotation, TrainingJob
from training.registry import current_champion
from training.versions import model_version_register

logger = logging.getLogger(__name__)
SEMEVAL2019 = "semeval2019"
STAFF = "staff"
SHIPPED = "shipped review sentences"
GATE_MIN_DELTA = 0.005
# The review-domain F1 may not drop by more than this for a candidate that gains on the whole set:
# most annotations are forum sentences, and reviews are what the product reads.
REVIEW_DOMAIN_TOLERANCE = 0.02
_lock = threading.Lock()
_cache: dict[str, object] = {}


class SuggestionAnnotationError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    label: int
    origin: str  # SEMEVAL2019 (forum), STAFF or SHIPPED (both review text)

    @property
    def is_review_text(self) -> bool:
        return self.origin != SEMEVAL2019


def _csv_files(path: Path) -> list[Path]:
    return sorted(path.glob("**/*.csv")) if path.is_dir() else [path]


def suggestion_annotations_import(*, path: Path) -> dict[str, int]:
    """Store the sentences of SemEval-2019 Task 9 CSV files (a file or a folder); idempotent by
    (file name, row): the files repeat ids, so the row number names a sentence."""
    counts = {"files": 0, "sentences": 0, "created": 0, "existing": 0, "skipped": 0}
    for file in _csv_files(path):
        try:
            parsed = read_semeval2019_csv(file)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SuggestionAnnotationError(f"{file}: {exc}") from exc
        counts["files"] += 1
        counts["sentences"] += len(parsed)
        counts["skipped"] += parsed.skipped
        rows = {f"{file.name}:{index}:{sentence.sentence_id}"[:200]: sentence for index, sentence in enumerate(parsed)}
        existing = set(
            SuggestionAnnotation.objects.filter(source=SEMEVAL2019, external_id__in=list(rows)).values_list(
                "external_id", flat=True
            )
        )
        fresh = [
            SuggestionAnnotation(
                text=sentence.text, is_suggestion=bool(sentence.label), source=SEMEVAL2019, external_id=external_id
            )
            for external_id, sentence in rows.items()
            if external_id not in existing
        ]
        with transaction.atomic():
            SuggestionAnnotation.objects.bulk_create(fresh, batch_size=2000, ignore_conflicts=True)
        counts["created"] += len(fresh)
        counts["existing"] += len(existing)
    return counts


def suggestion_examples() -> list[Example]:
    """Every stored annotation and shipped review sentence, once per normalised text (deduplicated)."""
    stored = SuggestionAnnotation.objects.order_by("id").values_list("text", "is_suggestion", "source")
    examples = [
        Example(text, int(is_suggestion), STAFF if source == STAFF else SEMEVAL2019)
        for text, is_suggestion, source in stored.iterator(chunk_size=5000)
    ]
    examples += [Example(s.text, s.label, SHIPPED) for s in review_domain_sentences()]
    return deduplicated(examples)


def deduplicated(examples: Sequence[Example]) -> list[Example]:
    """One example per normalised text. A staff label wins over the files' and the shipped ones (it is about
    this business's reviews); otherwise the majority label, and a tie is left out."""
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(group_key(example.text), []).append(example)
    kept = []
    for group in groups.values():
        staff = [e for e in group if e.origin == STAFF]
        if staff:
            kept.append(staff[-1])
            continue
        votes = Counter(e.label for e in group).most_common()
        if len(votes) == 1 or votes[0][1] > votes[1][1]:
            winner = votes[0][0]
            kept.append(next(e for e in group if e.label == winner))
    return kept


def suggestion_scores(model, examples: Sequence[Example]) -> dict:
    """F1 / precision / recall of the suggestion class on these examples, overall and on review text alone."""

    def score(subset: Sequence[Example]) -> dict:
        if not subset:
            return {"n": 0}
        predicted = model.predict([e.text for e in subset])
        tp = sum(1 for e, p in zip(subset, predicted, strict=True) if p and e.label)
        fp = sum(1 for e, p in zip(subset, predicted, strict=True) if p and not e.label)
        fn = sum(1 for e, p in zip(subset, predicted, strict=True) if not p and e.label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        positives = sum(e.label for e in subset)
        return {"n": len(subset), "positives": positives, "f1": round(f1, 4), "precision": round(precision, 4)} | {
            "recall": round(recall, 4)
        }

    overall = score(examples)
    reviews = score([e for e in examples if e.is_review_text])
    return overall | {f"review_{key}": value for key, value in reviews.items()}


def suggestion_gate(candidate: dict, champion: dict, champion_label: str) -> tuple[bool, str]:
    """Promote a candidate whose F1 is up by GATE_MIN_DELTA, unless its F1 on review text drops by more
    than REVIEW_DOMAIN_TOLERANCE."""
    least = GATE_MIN_DELTA - 1e-9  # metrics are rounded to 4 places
    promote = candidate["f1"] - champion["f1"] >= least
    if candidate.get("review_n") and champion.get("review_n"):
        promote = promote and candidate["review_f1"] - champion["review_f1"] >= -REVIEW_DOMAIN_TOLERANCE - 1e-9
    reason = f"F1 {candidate['f1']} vs {champion['f1']} ({champion_label})"
    if candidate.get("review_n"):
        reason += f", on review sentences {candidate['review_f1']} vs {champion.get('review_f1')}"
    return promote, reason


def suggestions_train(job: TrainingJob, progress: Callable[[float, str], None]) -> dict:
    """Train the suggestion detector on the stored annotations and the shipped review sentences, and gate it
    on held-out sentences (by normalised-text hash: no model is scored on a sentence it learned from)."""
    progress(0.02, "Collecting suggestion annotations")
    examples = suggestion_examples()
    annotated = sum(1 for e in examples if e.origin != SHIPPED)
    if annotated < int(job.parameters.get("min_samples", 50)):
        raise TrainingError(
            f"Not enough suggestion annotations: found {annotated}; import some with import_suggestion_annotations"
        )
    train = [e for e in examples if not text_in_evaluation_bucket(e.text)]
    test = [e for e in examples if text_in_evaluation_bucket(e.text)]
    if not {e.label for e in train} >= {0, 1} or not any(e.label for e in test):
        raise TrainingError("The suggestion annotations need both suggestions and other sentences")
    progress(0.1, f"Fitting the suggestion detector on {len(train)} sentences")
    started = time.monotonic()
    model = SuggestionModel().fit(
        [e.text for e in train],
        [e.label for e in train],
        progress=lambda stage, fraction: progress(0.1 + 0.6 * min(max(fraction, 0.0), 1.0), f"Suggestions: {stage}"),
        review_domain=[e.is_review_text for e in train],
    )
    fit_seconds = round(time.monotonic() - started, 2)
    progress(0.75, f"Scoring candidate and champion on {len(test)} held-out sentences")
    candidate_metrics = suggestion_scores(model, test)
    champion = current_champion(ModelVersion.Kind.SUGGESTIONS)
    champion_model = load_suggestion_model(champion) if champion else SuggestionRule()
    champion_metrics = suggestion_scores(champion_model, test)
    promote, reason = suggestion_gate(candidate_metrics, champion_metrics, "champion" if champion else "the rule")
    name = f"suggestions-{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    scratch = storage.scratch_dir()
    joblib.dump(model, scratch / "model.joblib")
    evaluation_set = {
        "kind": "suggestion-annotations",
        "size": len(test),
        "note": "20% of sentences by normalised-text hash",
    }
    parameters = {
        "train_size": len(train),
        "train_review_sentences": sum(1 for e in train if e.is_review_text),
        "threshold": round(float(model.threshold), 4),
    }
    run_id = tracking.safely(
        "log the suggestion training run",
        tracking.log_run,
        name=name,
        kind="suggestions",
        params={"algorithm": model.algorithm, "job_id": job.pk, "fit_seconds": fit_seconds, **parameters},
        metrics={
            **{k: v for k, v in candidate_metrics.items() if isinstance(v, float)},
            "champion_f1": champion_metrics["f1"],
        },
        model_file=scratch / "model.joblib",
    )
    storage.save(scratch / "model.joblib", f"{name}.joblib")
    model_version_register(
        job=job,
        name=name,
        kind=ModelVersion.Kind.SUGGESTIONS,
        algorithm=model.algorithm,
        parameters=parameters,
        evaluation_set=evaluation_set,
        candidate_metrics=candidate_metrics,
        champion=champion,
        champion_metrics=champion_metrics,
        promote=promote,
        reason=reason,
        delta=round(candidate_metrics["f1"] - champion_metrics["f1"], 4),
        probability_better=1.0 if promote else 0.0,
        mlflow_run_id=run_id or "",
    )
    if promote:
        decision = f"promoted {name}: {reason}"
    else:
        decision = f"kept {champion.name if champion else 'the rule'}: candidate {name} rejected ({reason})"
    return {
        "decision": decision,
        "promoted": promote,
        "model": "suggestions",
        "model_version": name,
        "train_size": len(train),
        "evaluation_set": evaluation_set,
        "candidate": candidate_metrics,
        "champion_metrics": champion_metrics,
        "fit_seconds": fit_seconds,
        "mlflow_run_id": run_id or "",
    }


def load_suggestion_model(version: ModelVersion):
    return joblib.load(storage.local_path(version.artifact_path))


def serving_suggestion_key(champion: ModelVersion | None) -> str:
    return champion.name if champion else "rule"


def get_suggestion_model():
    """The deployed suggestion detector, or the keyword/imperative rule when none has been trained."""
    champion = current_champion(ModelVersion.Kind.SUGGESTIONS)
    key = serving_suggestion_key(champion)
    with _lock:
        if key not in _cache:
            _cache.clear()
            _cache[key] = load_suggestion_model(champion) if champion else SuggestionRule()
        return _cache[key]


def sentence_suggestions(sentences: Sequence[str], model=None) -> list[tuple[bool, float]]:
    """(is a suggestion, P(suggestion)) per sentence, each distinct sentence scored once."""
    model = model or get_suggestion_model()
    distinct = list(dict.fromkeys(sentences))
    if not distinct:
        return []
    scores = model.predict_proba(distinct)
    threshold = float(model.threshold)
    by_sentence = {s: (bool(p >= threshold), float(p)) for s, p in zip(distinct, scores, strict=True)}
    return [by_sentence[s] for s in sentences]
