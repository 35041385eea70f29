"""Scoring texts with the deployed sentiment model: what the predict endpoint, ingest and re-scoring use.

`TrainingServing` is what training installs behind reviews' one door to the models (reviews/serving.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
from django.conf import settings

from project.cache import cache_get_many, cache_set_many
from project.observability import counts_predictions
from reviews.serving import BatchPrediction
from training.ml.labels import LABELS
from training.ml.predictor import scores_from_probabilities
from training.registry import DeployedModel, get_deployed_model
from training.retraining import retraining_need


def uses_prediction_cache(model) -> bool:
    """Only models that cost more per text than a Redis round trip (~0.2 ms) are worth caching.

    The default TF-IDF model scores a text in ~0.2 ms: a cache lookup and store would double
    that. Slower kinds (the MiniLM "accurate" kind) declare `cache_predictions = True`.
    """
    return (
        bool(settings.REDIS_URL)
        and settings.PREDICTION_CACHE_SECONDS > 0
        and getattr(model, "cache_predictions", False)
    )


def _cache_key(version_name: str, text: str) -> str:
    # By the version's name (a timestamp and a random suffix), not its id: ids start again in a new database
    # while Redis keeps an older one's entries (a reinstall, a restored backup, test runs).
    return f"pred:{version_name}:{hashlib.blake2b(text.encode(), digest_size=16).hexdigest()}"


def predict_texts(texts: Sequence[str]) -> BatchPrediction:
    """Predict with the deployed model (see predict_with)."""
    return predict_with(get_deployed_model(), texts)


@counts_predictions
def predict_on_arrival(texts: Sequence[str]) -> BatchPrediction:
    """The ingest prediction: a two-stage model (the accurate kind, training.ml.finetuned) answers with its fast
    part at once, in the deployed version's name, and re-scores the stored reviews in Celery
    (training.rescoring.review_rescore_ingested); any other model predicts as predict_texts does."""
    deployed = get_deployed_model()
    fast = getattr(deployed.model, "ingest_model", None)
    if fast is None:
        return _predict(deployed, texts)
    texts = list(texts)
    results = scores_from_probabilities(fast.predict_proba(texts)) if texts else []
    return BatchPrediction(deployed.version_id, deployed.name, results)


@counts_predictions  # Prometheus: every text scored here (predict endpoint, ingestion, feedback clauses)
def predict_with(deployed: DeployedModel, texts: Sequence[str]) -> BatchPrediction:
    """Predict with `deployed`; for slow models and with Redis, results are cached by (model version, text).

    Without the cache this is pure computation (no database, no network): the API calls it on
    the event loop for a single text.
    """
    return _predict(deployed, texts)


def _predict(deployed: DeployedModel, texts: Sequence[str]) -> BatchPrediction:
    """predict_with's work, uncounted: predict_on_arrival counts its texts itself."""
    texts = list(texts)
    if not texts:
        return BatchPrediction(deployed.version_id, deployed.name, [])
    if not uses_prediction_cache(deployed.model):
        results = scores_from_probabilities(deployed.model.predict_proba(texts))
        return BatchPrediction(deployed.version_id, deployed.name, results)
    keys = [_cache_key(deployed.name, text) for text in texts]
    cached = cache_get_many(keys)  # {} while the cache is down (project/cache.py)
    missing = [i for i, key in enumerate(keys) if key not in cached]
    rows = np.zeros((len(texts), len(LABELS)))
    for i, key in enumerate(keys):
        if key in cached:
            rows[i] = cached[key]
    if missing:
        fresh = np.asarray(deployed.model.predict_proba([texts[i] for i in missing]))
        rows[missing] = fresh
        cache_set_many(
            {keys[i]: [float(v) for v in fresh[j]] for j, i in enumerate(missing)}, settings.PREDICTION_CACHE_SECONDS
        )
    return BatchPrediction(deployed.version_id, deployed.name, scores_from_probabilities(rows))


NEGATIONS = frozenset({"not", "no", "never", "nothing", "nobody", "nowhere", "neither", "nor", "cannot"})


def is_sentiment_term(term: str) -> bool:
    """A highlight worth showing: at least one word that is no function word ("and", "you", "was" are
    not sentiment; "not good" is, by "good"). sklearn's ENGLISH_STOP_WORDS is the function-word list."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    words = [word.strip(".,!?;:()\"'") for word in term.lower().split()]
    return any(word and word not in ENGLISH_STOP_WORDS and word not in NEGATIONS for word in words)


def explain_texts(texts: Sequence[str], top_k: int = 8) -> list[list[tuple[str, float]]]:
    """The terms that pushed each text's predicted label most (every model kind explains itself), function
    words left out: the model is asked for more terms than shown, so the top_k left are content words."""
    model = get_deployed_model().model
    explain = getattr(model, "explain", None)
    if explain is None:
        return [[] for _ in texts]
    return [
        [(term, round(float(weight), 4)) for term, weight in explain(text, top_k=top_k * 3) if is_sentiment_term(term)][
            :top_k
        ]
        for text in texts
    ]


class TrainingServing:
    """reviews.serving.ModelServing, answered by the deployed models."""

    def predict(self, texts: Sequence[str]) -> BatchPrediction:
        return predict_texts(texts)

    def predict_on_arrival(self, texts: Sequence[str]) -> BatchPrediction:
        return predict_on_arrival(texts)

    def explain(self, texts: Sequence[str], top_k: int) -> list[list[tuple[str, float]]]:
        return explain_texts(texts, top_k)

    def labels_needed(self) -> int:
        return retraining_need()["labels_needed"]
