"""What every sentiment model offers the rest of the system (no Django here)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from training.ml.labels import LABELS


class SentimentModel(Protocol):
    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Rows of probabilities over LABELS (positive, neutral, negative)."""


@dataclass(frozen=True, slots=True)
class LabelScores:
    label: str
    confidence: float
    scores: dict[str, float]


def scores_from_probabilities(probabilities: np.ndarray) -> list[LabelScores]:
    results = []
    for row in np.asarray(probabilities, dtype=float):
        best = int(row.argmax())
        scores = {label: round(float(value), 6) for label, value in zip(LABELS, row)}
        results.append(LabelScores(label=LABELS[best], confidence=round(float(row[best]), 6), scores=scores))
    return results
