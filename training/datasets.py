"""Training data: which reviews train and which evaluate, the examples, their snapshot and reference statistics."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings

from reviews.models import Review
from training.ml import model_choice
from training.ml.holdout import in_evaluation_bucket
from training.ml.labels import LABELS, rating_to_label

VOCABULARY_SIZE = 50_000
VOCABULARY_SAMPLE = 20_000
CONFIDENCE_POPULATION = 50_000
_TOKEN = re.compile(r"[a-z0-9']+")


@dataclass
class Examples:
    ids: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "human" or "rating"
    # The serving model's stored confidence in each review (None: never predicted): what the labelling queue
    # chose on, so training can tell how far the labelled reviews stray from all of them (confidence_weights).
    confidences: list[float | None] = field(default_factory=list)

    def add(
        self, review_id: int, text: str, label: str, weight: float, source: str, confidence: float | None = None
    ) -> None:
        self.ids.append(review_id)
        self.texts.append(text)
        self.labels.append(label)
        self.weights.append(weight)
        self.sources.append(source)
        self.confidences.append(confidence)

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, keep: list[bool]) -> Examples:
        out = Examples()
        for i, wanted in enumerate(keep):
            if wanted:
                out.add(
                    self.ids[i], self.texts[i], self.labels[i], self.weights[i], self.sources[i], self.confidences[i]
                )
        return out

    def fingerprint(self) -> str:
        return hashlib.sha256(",".join(map(str, sorted(self.ids))).encode()).hexdigest()[:16]


def collect_examples() -> Examples:
    """Every usable review: human labels first (weighted), else a weak label from the rating."""
    reviews = Review.objects.filter(human_label__isnull=False) | Review.objects.filter(rating__isnull=False)
    if not settings.TRAIN_INCLUDE_NON_ENGLISH:
        reviews = reviews.filter(is_english=True)
    examples = Examples()
    rows = reviews.order_by("id").values_list("id", "text", "human_label", "rating", "predicted_confidence")
    for review_id, text, human_label, rating, confidence in rows.iterator(chunk_size=5000):
        if human_label:
            examples.add(review_id, text, human_label, settings.HUMAN_LABEL_WEIGHT, "human", confidence)
        else:
            label = rating_to_label(
                float(rating), negative_max=settings.RATING_NEGATIVE_MAX, positive_min=settings.RATING_POSITIVE_MIN
            )
            examples.add(review_id, text, label, 1.0, "rating", confidence)
    return examples


def confidence_weights(examples: Examples, population: int = CONFIDENCE_POPULATION) -> list[float]:
    """How much each example counts when training checks a refit or a blend on held-out examples: the labelled
    reviews weighted to stand for all the reviews, by the serving model's stored confidence
    (model_choice.importance_weights). The uncertain queue labels the reviews the model doubts most, so without
    this those checks score candidates on hard reviews only. The population is the most recent reviews;
    an example never predicted counts 1."""
    known = [i for i, confidence in enumerate(examples.confidences) if confidence is not None]
    weights = np.ones(len(examples))
    recent = Review.objects.filter(predicted_confidence__isnull=False).order_by("-id")
    scores = np.array(list(recent.values_list("predicted_confidence", flat=True)[:population]), dtype=float)
    if known and len(scores):
        labelled = np.array([examples.confidences[i] for i in known], dtype=float)
        weights[known] = model_choice.importance_weights(labelled, scores)
    return weights.tolist()


@dataclass
class EvaluationSet:
    examples: Examples
    kind: str  # "human" or "rated"
    note: str

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "size": len(self.examples),
            "fingerprint": self.examples.fingerprint(),
            "note": self.note,
        }


def split_examples(examples: Examples) -> tuple[Examples, EvaluationSet]:
    """Training data and the evaluation set. Reviews in the evaluation bucket never
    train; the gate uses their human labels once there are enough of them."""
    bucket = [in_evaluation_bucket(review_id) for review_id in examples.ids]
    train = examples.subset([not held for held in bucket])
    held_out = examples.subset(bucket)
    human = held_out.subset([source == "human" for source in held_out.sources])
    if len(human) >= settings.EVALUATION_MIN_HUMAN_LABELS:
        return train, EvaluationSet(human, "human", f"{len(human)} human-labelled reviews held out")
    note = (
        f"only {len(human)} human labels in the evaluation bucket (< {settings.EVALUATION_MIN_HUMAN_LABELS}): "
        "using held-out rated reviews with labels from their stars"
    )
    if len(held_out) > settings.EVALUATION_MAX_RATED:
        note += f" (a fixed sample of {settings.EVALUATION_MAX_RATED} of {len(held_out)})"
        held_out = _stable_sample(held_out, settings.EVALUATION_MAX_RATED)
    return train, EvaluationSet(held_out, "rated", note)


def _stable_sample(examples: Examples, size: int) -> Examples:
    """The `size` examples whose ids hash lowest: the same reviews every time, and as the data
    grows a review leaves the sample only when enough lower-hashing ones arrive."""
    rank = sorted(
        range(len(examples)),
        key=lambda i: hashlib.blake2b(f"sample:{examples.ids[i]}".encode(), digest_size=8).digest(),
    )
    chosen = set(rank[:size])
    return examples.subset([i in chosen for i in range(len(examples))])


def data_snapshot(train: Examples) -> dict:
    counts = Counter(zip(train.sources, train.labels, strict=True))
    return {
        "train_size": len(train),
        "by_label_source": {f"{source}:{label}": n for (source, label), n in sorted(counts.items())},
        "train_ids_sha256": train.fingerprint(),
    }


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def reference_statistics(train_texts: list[str], eval_texts: list[str], probabilities: np.ndarray) -> tuple[dict, dict]:
    """Distributions that monitoring compares live traffic with, plus the vocabulary
    (kept as a file beside the model, it is too big for a database row).

    The vocabulary comes from at most VOCABULARY_SAMPLE training texts (an even, deterministic
    sample), so its cost stays flat with the training set (tokenising all 80,000 training texts
    of a 100,000-review job took 1.1 s, the sample 0.4 s). Live traffic is checked against this
    same vocabulary, so the reference OOV rate and the live one stay comparable.
    """
    counts: Counter[str] = Counter()
    step = max(1, -(-len(train_texts) // VOCABULARY_SAMPLE))
    for text in train_texts[::step]:
        counts.update(_tokens(text))
    vocabulary = {token: n for token, n in counts.most_common(VOCABULARY_SIZE)}
    eval_tokens = [token for text in eval_texts for token in _tokens(text)]
    oov = sum(1 for token in eval_tokens if token not in vocabulary) / len(eval_tokens) if eval_tokens else 0.0
    predicted = probabilities.argmax(axis=1) if len(probabilities) else np.array([], dtype=int)
    confidence = probabilities.max(axis=1) if len(probabilities) else np.array([])
    histogram, edges = np.histogram(confidence, bins=10, range=(0.0, 1.0))
    stats = {
        "class_distribution": {
            label: round(float((predicted == i).mean()), 4) if len(predicted) else 0.0 for i, label in enumerate(LABELS)
        },
        "confidence_histogram": {"edges": [round(e, 2) for e in edges.tolist()], "counts": histogram.tolist()},
        "mean_confidence": round(float(confidence.mean()), 4) if len(confidence) else 0.0,
        "vocabulary_size": len(vocabulary),
        "oov_rate": round(oov, 4),
        "sample_size": int(len(predicted)),
    }
    return stats, vocabulary
