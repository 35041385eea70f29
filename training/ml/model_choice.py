"""Keeping a default unless held-out evidence says otherwise: a paired bootstrap of macro-F1.

A customer's first few hundred labels give a held-out fifth of 40-120 reviews, whose macro-F1 moves by about
±0.05 from one draw to the next. A choice that follows the best score on it follows that noise: in the labelling
simulation a refit head chosen that way, and a blend share chosen that way, each cost up to 0.03 macro-F1 on
unseen reviews (bench/README.md). So a candidate replaces its default only where it wins on most resamples of the
reviews it was checked on. No Django imports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.ml.labels import LABEL_INDEX, LABELS

CONFIDENCE = 0.9  # a candidate must win on this share of paired resamples
DRAWS = 400


def resampled_macro_f1(predicted: np.ndarray, truth: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Macro-F1 (over the classes present in each resample's truth or predictions) of every resample at once;
    draws is an (n_draws, n) array of row positions."""
    classes = len(LABELS)
    n_draws = draws.shape[0]
    cells = (np.arange(n_draws)[:, None] * classes * classes + truth[draws] * classes + predicted[draws]).ravel()
    confusion = np.bincount(cells, minlength=n_draws * classes * classes).reshape(n_draws, classes, classes)
    hits = confusion[:, np.arange(classes), np.arange(classes)]
    actual, claimed = confusion.sum(axis=2), confusion.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(actual + claimed > 0, 2 * hits / (actual + claimed), 0.0)
    # sklearn's macro average over the label set: a class absent from both sides scores 0 there too, so the
    # absolute level differs, but the paired difference this module needs does not.
    return f1.mean(axis=1)


def importance_weights(labelled_scores: np.ndarray, population_scores: np.ndarray, bins: int = 5) -> np.ndarray:
    """Weights that make the labelled reviews stand for all the reviews, by the score the labelling queue chose on
    (the serving model's confidence): the population's share of each score band over the labelled reviews'
    share (mean 1, clipped to 0.1-10). The uncertain queue shows the reviews the model doubts most; scored on
    those, a refit that reads hard reviews better looks better than it is on the natural mix (in the labelling
    simulation it was chosen and then cost 0.02 on unseen reviews)."""
    labelled_scores, population_scores = np.asarray(labelled_scores, float), np.asarray(population_scores, float)
    if not len(labelled_scores) or not len(population_scores):
        return np.ones(len(labelled_scores))
    edges = np.unique(np.quantile(population_scores, np.linspace(0, 1, bins + 1)[1:-1]))
    population_share = np.bincount(np.searchsorted(edges, population_scores, side="right"), minlength=len(edges) + 1)
    labelled_band = np.searchsorted(edges, labelled_scores, side="right")
    labelled_share = np.bincount(labelled_band, minlength=len(edges) + 1)
    ratio = (population_share / population_share.sum()) / np.maximum(labelled_share / labelled_share.sum(), 1e-12)
    weights = np.clip(ratio[labelled_band], 0.1, 10.0)
    return weights / weights.mean()


def win_share(
    candidate: np.ndarray,
    default: np.ndarray,
    labels: Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    draws: int = DRAWS,
    seed: int = 0,
) -> float:
    """The share of paired bootstrap resamples of these reviews on which the candidate's probabilities score a
    higher macro-F1 than the default's (ties count half). weights: each review's chance of being drawn
    (importance_weights), else equal."""
    truth = np.array([LABEL_INDEX[label] for label in labels])
    if not len(truth):
        return 0.5
    rng = np.random.default_rng(seed)
    if weights is None:
        positions = rng.integers(0, len(truth), size=(draws, len(truth)))
    else:
        chance = np.asarray(weights, dtype=float) / np.sum(weights)
        positions = rng.choice(len(truth), size=(draws, len(truth)), p=chance)
    ours = resampled_macro_f1(np.asarray(candidate).argmax(axis=1), truth, positions)
    theirs = resampled_macro_f1(np.asarray(default).argmax(axis=1), truth, positions)
    return float(((ours > theirs) + 0.5 * (ours == theirs)).mean())


def weighted_macro_f1(
    probabilities: np.ndarray, labels: Sequence[str], weights: Sequence[float] | None = None
) -> float:
    """Macro-F1 with each review counted by its weight (resampled_macro_f1's convention)."""
    truth = np.array([LABEL_INDEX[label] for label in labels])
    predicted = np.asarray(probabilities).argmax(axis=1)
    weights = np.ones(len(truth)) if weights is None else np.asarray(weights, dtype=float)
    classes = len(LABELS)
    confusion = np.bincount(truth * classes + predicted, weights=weights, minlength=classes * classes)
    confusion = confusion.reshape(classes, classes)
    hits, actual, claimed = np.diag(confusion), confusion.sum(axis=1), confusion.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.where(actual + claimed > 0, 2 * hits / (actual + claimed), 0.0).mean())


def clearly_better(
    candidate: np.ndarray,
    default: np.ndarray,
    labels: Sequence[str],
    *,
    weights: Sequence[float] | None = None,
    confidence: float = CONFIDENCE,
) -> bool:
    return win_share(candidate, default, labels, weights=weights) >= confidence
