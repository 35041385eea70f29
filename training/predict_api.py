"""POST /api/reviews/predict: the deployed model scores texts and nothing is stored (model serving, so it
lives in training; its path and permission stay those of the reviews API)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from starlette.concurrency import run_in_threadpool

from project.auth import Principal, require
from project.db import releases_db_connection
from project.errors import error_responses
from project.routing import DjangoAPIRouter
from reviews.schemas import PredictIn, PredictionOut, PredictOut, TermWeight
from training import serving
from training.ml.predictor import LabelScores
from training.registry import deployed_model_if_fresh

router = DjangoAPIRouter(prefix="/reviews", tags=["reviews"])
AUTH_ERRORS = (401, 403)


def prediction_out(result: LabelScores, model_version: str) -> PredictionOut:
    return PredictionOut(
        label=result.label, confidence=result.confidence, scores=result.scores, model_version=model_version
    )


@router.post(
    "/predict",
    response_model=PredictionOut | PredictOut,
    summary="Predict sentiment without storing anything",
    description='`{"text": ...}` returns one prediction; `{"texts": [...]}` (up to 1,000) returns '
    "`{model_version, predictions}` in input order.",
    responses=error_responses(*AUTH_ERRORS, 422),
)
async def predict(
    body: PredictIn,
    explain: Annotated[bool, Query(description="Add the words that pushed each score most")] = False,
    principal: Principal = require("reviews.predict_review"),
) -> PredictionOut | PredictOut:
    texts = [body.text] if body.text is not None else body.texts
    deployed = deployed_model_if_fresh()
    if deployed is not None and len(texts) == 1 and not explain and not serving.uses_prediction_cache(deployed.model):
        # The hot path: one text, the model in memory, no cache to ask. Scoring (~0.2 ms of
        # numpy) costs less than the hop to a worker thread, so it runs right here.
        return prediction_out(serving.predict_with(deployed, texts).results[0], deployed.name)
    return await run_in_threadpool(_predict_in_thread, body, texts, explain)


@releases_db_connection
def _predict_in_thread(body: PredictIn, texts: list[str], explain: bool) -> PredictionOut | PredictOut:
    batch = serving.predict_texts(texts)
    predictions = [prediction_out(result, batch.model_version) for result in batch.results]
    if explain:
        for prediction, terms in zip(predictions, serving.explain_texts(texts)):
            prediction.explanation = [TermWeight(term=term, weight=weight) for term, weight in terms]
    if body.text is not None:
        return predictions[0]
    return PredictOut(model_version=batch.model_version, predictions=predictions)
