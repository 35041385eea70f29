"""Reference for bench/api.py: a bare FastAPI app serving the deployed model file, nothing else.

    BARE_MODEL_PATH=/path/to/model.joblib .venv/bin/uvicorn bench.bare_app:app --workers 2

No Django, no authentication, no database, no cache: the model is loaded once per process with
joblib (as training/registry.py loads it) and POST /predict answers `{"text": ...}` or
`{"texts": [...]}` with the same response shapes as POST /api/reviews/predict. Endpoints are plain
`def` functions like the real API's, so both pay the same thread-pool hop.
"""

from __future__ import annotations

import os

import joblib
import numpy as np
from fastapi import FastAPI
from pydantic import BaseModel

LABELS = ("positive", "neutral", "negative")
MODEL_VERSION = os.environ.get("BARE_MODEL_VERSION", "bare")
model = joblib.load(os.environ["BARE_MODEL_PATH"])
model.predict_proba(["warm up"])

app = FastAPI()


class PredictIn(BaseModel):
    text: str | None = None
    texts: list[str] | None = None


class PredictionOut(BaseModel):
    label: str
    confidence: float
    scores: dict[str, float]
    model_version: str


class PredictOut(BaseModel):
    model_version: str
    predictions: list[PredictionOut]


def _predictions(texts: list[str]) -> list[PredictionOut]:
    out = []
    for row in np.asarray(model.predict_proba(texts), dtype=float):
        best = int(row.argmax())
        out.append(
            PredictionOut(
                label=LABELS[best],
                confidence=round(float(row[best]), 6),
                scores={label: round(float(value), 6) for label, value in zip(LABELS, row)},
                model_version=MODEL_VERSION,
            )
        )
    return out


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.post("/predict", response_model=PredictionOut | PredictOut)
def predict(body: PredictIn) -> PredictionOut | PredictOut:
    if body.text is not None:
        return _predictions([body.text])[0]
    return PredictOut(model_version=MODEL_VERSION, predictions=_predictions(body.texts or []))
