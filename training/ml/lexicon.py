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
from vaderSentiment.vaderSentiment import N_SCALAR, SentimentIntensityAnalyzer, negated

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

    def explain(self, text: str, top_k: int = 8) -> list[tuple[str, float]]:
        """Per-word VADER valence, negation-aware, signed towards the predicted class.

        A word's valence comes from the analyzer's lexicon; it is flipped (x -0.74, VADER's
        own negation scalar) when one of the three words before it is a negation. For a
        positive prediction the weight is the valence, for a negative one minus the valence,
        for neutral minus its absolute value (polar words push away from neutral).
        """
        predicted = int(self.predict_proba([text])[0].argmax())
        words = [w.strip(".,!?;:()\"'").lower() for w in str(text).split()]
        weights: dict[str, float] = {}
        for i, word in enumerate(words):
            valence = self._analyzer.lexicon.get(word)
            if valence is None:
                continue
            shown = word
            if i > 0 and negated(words[max(0, i - 3) : i]):
                valence *= N_SCALAR
                shown = f"not {word}"
            signed = valence if predicted == 0 else (-valence if predicted == 2 else -abs(valence))
            weights[shown] = weights.get(shown, 0.0) + float(signed)
        ranked = sorted(weights.items(), key=lambda item: abs(item[1]), reverse=True)
        return [(term, round(weight, 4)) for term, weight in ranked[:top_k]]
