"""The MLflow pyfunc of a sentiment model version, logged as code (MLflow's "models from code").

training/tracking.py hands MLflow this file's path, not an object: MLflow copies the file into the
logged model and runs it on load, so nothing is serialised with CloudPickle. The typed `predict` gives
the logged model its signature (a list of texts in, one {label: probability} per text out) and lets
MLflow check the input. Only MLflow imports this module (it imports mlflow and registers the model).
"""

# No `from __future__ import annotations`: MLflow reads the type hints of `predict` at run time.
from typing import Any

import mlflow
from mlflow.models import set_model


class SentimentModel(mlflow.pyfunc.PythonModel):
    """Loads our model file (the `model` artifact; none: the lexicon baseline) and returns per-class
    probabilities."""

    def load_context(self, context) -> None:
        import joblib

        from training.ml.lexicon import LexiconSentimentModel

        path = context.artifacts.get("model") if context.artifacts else None
        self.model = joblib.load(path) if path else LexiconSentimentModel()

    def predict(self, context, model_input: list[str], params: dict[str, Any] | None = None) -> list[dict[str, float]]:
        from training.ml.labels import LABELS

        return [
            {label: float(value) for label, value in zip(LABELS, row)}
            for row in self.model.predict_proba(list(model_input))
        ]


set_model(SentimentModel())
