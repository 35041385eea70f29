"""The baseline model: the VADER lexicon mapped onto three classes.

VADER gives a compound polarity c in [-1, 1]. We turn it into class scores with a
softmax over logits (positive: k*c, negative: -k*c, neutral: b - k*|c|); with the
defaults k=4, b=1 the decision boundaries sit at |c| = 0.125, close to VADER's own
+-0.05 convention but with a real neutral band. It needs no training data, which is
why it serves until the first trained model is promoted.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

ALGORITHM = "vader-lexicon"


class LexiconSentimentModel:
    def __init__(self, steepness: float = 4.0, neutral_bias: float = 1.0) -> None:
        self._analyzer = SentimentIntensityAnalyzer()
        self.steepness = steepness
        self.neutral_bias = neutral_bias

    def compound(self, text: str) -> float:
        return float(self._analyzer.polarity_scores(text)["compound"])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        compounds = np.array([self.compound(text) for text in texts], dtype=float)
        logits = np.column_stack(
            [
                self.steepness * compounds,
                self.neutral_bias - self.steepness * np.abs(compounds),
                -self.steepness * compounds,
            ]
        )
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)
