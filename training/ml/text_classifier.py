"""A trained text classifier: word 1-2-gram TF-IDF + class-balanced logistic regression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from training.ml.labels import LABELS

ALGORITHM = "tfidf-logreg"


def build_pipeline(*, c: float = 4.0, min_df: int = 2) -> Pipeline:
    return Pipeline(
        [
            (
                "tfidf",
                TfidfVectorizer(ngram_range=(1, 2), min_df=min_df, sublinear_tf=True, strip_accents="unicode"),
            ),
            ("clf", LogisticRegression(C=c, max_iter=2000, class_weight="balanced")),
        ]
    )


class PipelineSentimentModel:
    """Wraps a fitted sklearn pipeline so its columns follow LABELS."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        classes = list(pipeline.classes_)
        self._order = [classes.index(label) if label in classes else None for label in LABELS]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        raw = self.pipeline.predict_proba(list(texts))
        out = np.zeros((raw.shape[0], len(LABELS)))
        for column, source in enumerate(self._order):
            if source is not None:
                out[:, column] = raw[:, source]
        return out


def fit(
    texts: Sequence[str], labels: Sequence[str], weights: Sequence[float] | None = None, progress=None
) -> PipelineSentimentModel:
    pipeline = build_pipeline(min_df=2 if len(texts) >= 200 else 1)
    fit_params = {"clf__sample_weight": np.asarray(weights)} if weights is not None else {}
    pipeline.fit(list(texts), list(labels), **fit_params)
    return PipelineSentimentModel(pipeline)
