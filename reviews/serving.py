"""The one door from reviews to the models: what ingest, the labelling queue and the pages ask of them.

reviews stores predictions and labels; training owns the models (what is deployed, loading, scoring,
what the next training run needs). reviews imports nothing of training: training installs its
implementation of `ModelServing` when Django starts (training.apps.TrainingConfig.ready), so the
dependency runs one way (training -> reviews) while ingest still predicts on arrival.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured

from training.ml.predictor import LabelScores


@dataclass(frozen=True, slots=True)
class BatchPrediction:
    model_version_id: int
    model_version: str
    results: list[LabelScores]


class ModelServing(Protocol):
    def predict(self, texts: Sequence[str]) -> BatchPrediction:
        """Score the texts with the deployed sentiment model, in input order."""

    def predict_on_arrival(self, texts: Sequence[str]) -> BatchPrediction:
        """The ingest prediction of new reviews: the deployed model's fast part where it has one (the accurate
        kind re-scores them in Celery once stored), else the same as predict."""

    def explain(self, texts: Sequence[str], top_k: int) -> list[list[tuple[str, float]]]:
        """The terms that pushed each text's predicted label most."""

    def labels_needed(self) -> int:
        """How many more staff labels the next automatic retraining waits for."""


_serving: ModelServing | None = None


def install(serving: ModelServing) -> None:
    global _serving
    _serving = serving


def serving() -> ModelServing:
    if _serving is None:
        raise ImproperlyConfigured("No model serving installed: is 'training' in INSTALLED_APPS?")
    return _serving


def predict_texts(texts: Sequence[str]) -> BatchPrediction:
    return serving().predict(list(texts))


def predict_on_arrival(texts: Sequence[str]) -> BatchPrediction:
    return serving().predict_on_arrival(list(texts))


def explain_texts(texts: Sequence[str], top_k: int = 8) -> list[list[tuple[str, float]]]:
    return serving().explain(list(texts), top_k)


def labels_needed() -> int:
    return serving().labels_needed()
