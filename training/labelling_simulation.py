"""The labelling simulation behind `manage.py simulate_labelling`: how much macro-F1 each label buys.

Replays the product's labelling loop on a pool of reviews whose gold labels stay hidden until "labelled":
start from what a fresh install serves (the lexicon baseline; for the accurate kind, the shipped fine-tuned head
where shipped models deploy), show the next `step` reviews the strategy's
queue would show (training.ml.selection, the live queue's own selection), reveal their gold labels as human
labels, retrain with the product's sentiment trainer of the kind training builds (SENTIMENT_MODEL_KIND, or
`kind`; every label at settings.HUMAN_LABEL_WEIGHT as in production), score the retrained model itself on the
evaluation set, repeat until the budget is spent. The fast kind is training.ml.lexicon_prior.fit; the accurate
kind is the same plus the shipped fine-tuned head refit on the labelled reviews the encoder never saw
(training.ml.finetuned: the reviews are encoded once, as each retraining would encode them).

It runs in memory: it reads Django settings and writes nothing (no database row, no MLflow run, no stored
model). Every revealed label trains (no evaluation bucket: the evaluation set is the second file).
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from training.ml import finetuned, lexicon_prior, model_choice, selection
from training.ml.labels import LABEL_INDEX, LABELS
from training.ml.metrics import evaluate

STRATEGIES = ("uncertainty", "random")
KINDS = ("fast", "accurate")

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class SimulationError(ValueError):
    """Bad input: the message says what to fix."""


@dataclass(frozen=True)
class LabelledTexts:
    texts: list[str]
    labels: list[str]


@dataclass
class SimulationResult:
    strategy: str
    labels: list[int] = field(default_factory=list)
    macro_f1: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"strategy": self.strategy, "labels": self.labels, "macro_f1": self.macro_f1, "seconds": self.seconds}


@dataclass(frozen=True)
class StepReport:
    labels: int
    macro_f1: float
    class_counts: dict[str, int]
    seconds: float

    def line(self) -> str:
        counts = ", ".join(f"{label} {self.class_counts.get(label, 0)}" for label in LABELS)
        return f"{self.labels} labels ({counts}): macro-F1 {self.macro_f1:.4f} ({self.seconds:.1f} s)"


def read_labelled_csv(path: str | Path, *, text_col: str, label_col: str) -> LabelledTexts:
    """Texts and positive/neutral/negative labels (any case) from a CSV file; rows with an empty text are skipped."""
    path = Path(path)
    if not path.is_file():
        raise SimulationError(f"No such file: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            missing = [name for name in (text_col, label_col) if name not in columns]
            if missing:
                raise SimulationError(
                    f"{path.name} has no column {', '.join(repr(name) for name in missing)} "
                    f"(its columns: {', '.join(columns) or 'none'})"
                )
            texts, labels, bad = [], [], {}
            for line, row in enumerate(reader, start=2):
                text = (row.get(text_col) or "").strip()
                if not text:
                    continue
                label = (row.get(label_col) or "").strip().lower()
                if label not in LABEL_INDEX:
                    bad.setdefault(label, line)
                    continue
                texts.append(text)
                labels.append(label)
    except UnicodeDecodeError as error:
        raise SimulationError(f"{path.name} is not UTF-8 text: {error}") from error
    except csv.Error as error:
        raise SimulationError(f"{path.name} is not a readable CSV file: {error}") from error
    if bad:
        shown = ", ".join(f"{label or '(empty)'!r} (line {line})" for label, line in list(bad.items())[:5])
        raise SimulationError(f"{path.name}: labels must be positive, neutral or negative; found {shown}")
    if not texts:
        raise SimulationError(f"{path.name} has no rows with a text")
    return LabelledTexts(texts, labels)


def check_plan(pool: LabelledTexts, *, strategy: str, budget: int, step: int) -> None:
    if strategy not in STRATEGIES:
        raise SimulationError(f"Unknown strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if step <= 0:
        raise SimulationError(f"--step must be at least 1, not {step}")
    if budget <= 0:
        raise SimulationError(f"--budget must be at least 1, not {budget}")
    if budget > len(pool.texts):
        raise SimulationError(f"--budget {budget} is larger than the pool ({len(pool.texts)} reviews)")


def queue_policy() -> selection.QueuePolicy:
    """The live queue's settings (reviews/labelling.py reads the same ones)."""
    return selection.QueuePolicy(
        random_share=float(settings.LABELLING_UNCERTAIN_RANDOM_SHARE),
        cold_start_labels=int(settings.LABELLING_COLD_START_LABELS),
    )


def _fit(texts: list[str], labels: list[str], compounds: np.ndarray):
    """The product's fast trainer on the labels so far; None while they hold a single class (training refuses)."""
    if len(set(labels)) < 2:
        return None
    weights = [float(settings.HUMAN_LABEL_WEIGHT)] * len(labels)
    return lexicon_prior.fit(texts, labels, weights, compounds=compounds)


class _AccurateKind:
    """The accurate kind's training (training.ml.finetuned.fit) over the pool, whose reviews are encoded once."""

    def __init__(self, pool: LabelledTexts, evaluation: LabelledTexts) -> None:
        encoder = finetuned.shipped_encoder()
        self.pool_vectors = encoder.encode(pool.texts)
        self.eval_vectors = encoder.encode(evaluation.texts)

    def fit(
        self, labelled: list[int], texts: list[str], labels: list[str], compounds: np.ndarray, confidence: np.ndarray
    ):
        """None while the labels hold a single class (training refuses). confidence: the serving model's
        confidence in each pool review, which the queue chose on (training weighs its checks by it, as the
        sentiment job does with the stored predictions)."""
        if len(set(labels)) < 2:
            return None
        rows_in_pool = np.asarray(labelled)
        weights = np.full(len(labels), float(settings.HUMAN_LABEL_WEIGHT))

        def fit_fast(rows: np.ndarray):
            return lexicon_prior.fit(
                [texts[i] for i in rows], [labels[i] for i in rows], weights[rows], compounds=compounds[rows]
            )

        return finetuned.fit(
            texts,
            labels,
            weights,
            embed=lambda rows: self.pool_vectors[rows_in_pool[rows]],
            fit_fast=fit_fast,
            check_weights=model_choice.importance_weights(confidence[rows_in_pool], confidence),
        )

    @staticmethod
    def predict(model, vectors: np.ndarray, texts: list[str], compounds: np.ndarray) -> np.ndarray:
        fast = model.base.predict_proba(texts, compounds)
        return model.blend(model.head.predict_proba(vectors), fast, model.tfidf_weight)


def labelling_simulate(
    pool: LabelledTexts,
    evaluation: LabelledTexts,
    *,
    strategy: str,
    budget: int,
    step: int,
    seed: int = 0,
    kind: str | None = None,
    report: Callable[[StepReport], None] | None = None,
) -> SimulationResult:
    """Label `budget` reviews of the pool `step` at a time in the strategy's order; macro-F1 after each step."""
    check_plan(pool, strategy=strategy, budget=budget, step=step)
    kind = kind or settings.SENTIMENT_MODEL_KIND
    if kind not in KINDS:
        raise SimulationError(f"Unknown model kind {kind!r}; use one of {', '.join(KINDS)}")
    if kind == "accurate" and not finetuned.is_available():
        raise SimulationError("The accurate kind needs the shipped fine-tuned encoder (training/pretrained/)")
    accurate = _AccurateKind(pool, evaluation) if kind == "accurate" else None
    started = time.monotonic()
    rng = np.random.default_rng(seed)
    policy = queue_policy()
    # The lexicon's polarity of every text once: the baseline's probabilities and the trained model's prior.
    pool_compounds = lexicon_prior.lexicon_compounds(pool.texts)
    eval_compounds = lexicon_prior.lexicon_compounds(evaluation.texts)
    features = selection.text_features(pool.texts) if strategy == "uncertainty" else None
    # What a fresh install serves: the shipped fine-tuned head where shipped models deploy (the accurate kind's
    # starting point), else the lexicon.
    start_head = finetuned.shipped_head() if accurate is not None and settings.DEPLOY_SHIPPED_MODELS else None
    if start_head is None:
        probabilities = lexicon_prior.lexicon_probabilities(pool_compounds)
    else:
        probabilities = start_head.predict_proba(accurate.pool_vectors)
    eval_truth = evaluation.labels
    labelled: list[int] = []
    is_labelled = np.zeros(len(pool.texts), dtype=bool)
    model = None
    result = SimulationResult(strategy=strategy)
    while len(labelled) < budget:
        step_started = time.monotonic()
        k = min(step, budget - len(labelled))
        open_rows = np.flatnonzero(~is_labelled)
        if strategy == "random":
            picked = rng.choice(open_rows, size=k, replace=False).tolist()
        else:
            positions = selection.next_for_labelling(
                probabilities[open_rows],
                k,
                labelled=len(labelled),
                features=features[open_rows],
                rng=rng,
                policy=policy,
            )
            picked = open_rows[positions].tolist()
        labelled += picked
        is_labelled[picked] = True
        texts = [pool.texts[i] for i in labelled]
        labels = [pool.labels[i] for i in labelled]
        if accurate is None:
            model = _fit(texts, labels, pool_compounds[labelled]) or model
        else:
            confidence = probabilities.max(axis=1)
            model = accurate.fit(labelled, texts, labels, pool_compounds[labelled], confidence) or model
        if model is None:
            eval_probabilities = (
                lexicon_prior.lexicon_probabilities(eval_compounds)
                if start_head is None
                else start_head.predict_proba(accurate.eval_vectors)
            )
        elif accurate is None:
            eval_probabilities = model.predict_proba(evaluation.texts, eval_compounds)
            if strategy == "uncertainty":
                probabilities = model.predict_proba(pool.texts, pool_compounds)
        else:
            eval_probabilities = accurate.predict(model, accurate.eval_vectors, evaluation.texts, eval_compounds)
            if strategy == "uncertainty":
                probabilities = accurate.predict(model, accurate.pool_vectors, pool.texts, pool_compounds)
        macro_f1 = round(float(evaluate(eval_probabilities, eval_truth)["macro_f1"]), 4)
        result.labels.append(len(labelled))
        result.macro_f1.append(macro_f1)
        if report is not None:
            counts = {label: labels.count(label) for label in LABELS}
            report(StepReport(len(labelled), macro_f1, counts, time.monotonic() - step_started))
    result.seconds = round(time.monotonic() - started, 2)
    return result
