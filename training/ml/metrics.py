"""Evaluation metrics for a probability matrix against true labels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from training.ml.labels import LABEL_INDEX, LABELS


def expected_calibration_error(probabilities: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def reliability_bins(probabilities: np.ndarray, truth: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean confidence against accuracy per confidence bin (the reliability diagram)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == truth
    edges = np.linspace(0.0, 1.0, bins + 1)
    rows = []
    for low, high in zip(edges[:-1], edges[1:]):
        in_bin = (confidence > low) & (confidence <= high)
        if in_bin.any():
            rows.append(
                {
                    "low": round(float(low), 2),
                    "high": round(float(high), 2),
                    "count": int(in_bin.sum()),
                    "confidence": round(float(confidence[in_bin].mean()), 4),
                    "accuracy": round(float(correct[in_bin].mean()), 4),
                }
            )
    return rows


def brier_score(probabilities: np.ndarray, truth: np.ndarray) -> float:
    one_hot = np.eye(len(LABELS))[truth]
    return float(((probabilities - one_hot) ** 2).sum(axis=1).mean())


def evaluate(probabilities: np.ndarray, labels: Sequence[str]) -> dict:
    truth = np.array([LABEL_INDEX[label] for label in labels])
    predicted = probabilities.argmax(axis=1)
    indices = list(range(len(LABELS)))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=indices, zero_division=0)
    return {
        "n": int(len(truth)),
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, labels=indices, average="macro", zero_division=0)), 4),
        "per_class": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(LABELS)
        },
        "ece": round(expected_calibration_error(probabilities, truth), 4),
        "brier": round(brier_score(probabilities, truth), 4),
        "calibration": reliability_bins(probabilities, truth),
        "confusion_matrix": confusion_matrix(truth, predicted, labels=indices).tolist(),
    }
