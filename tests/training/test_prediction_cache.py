from __future__ import annotations

import pytest
from django.conf import settings

from training.registry import get_deployed_model
from training.serving import predict_texts, uses_prediction_cache

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.REDIS_URL, reason="the prediction cache lives in Redis"),
]


def counting_predictions(monkeypatch, model) -> list[list[str]]:
    seen: list[list[str]] = []
    original = model.predict_proba

    def counting(texts):
        seen.append(list(texts))
        return original(texts)

    monkeypatch.setattr(model, "predict_proba", counting)
    return seen


def test_repeated_texts_of_a_slow_model_are_served_from_the_cache_per_model_version(monkeypatch):
    model = get_deployed_model().model
    monkeypatch.setattr(model, "cache_predictions", True, raising=False)  # what the MiniLM kind declares
    seen = counting_predictions(monkeypatch, model)
    text = f"A unique review about the soup {id(seen)}"

    first = predict_texts([text, "Another fresh text " + text])
    second = predict_texts([text])

    assert seen == [[text, "Another fresh text " + text]]
    assert second.results[0] == first.results[0]


def test_a_model_cheaper_than_a_cache_round_trip_is_asked_every_time(monkeypatch):
    model = get_deployed_model().model
    assert not uses_prediction_cache(model)
    seen = counting_predictions(monkeypatch, model)
    text = f"The soup was cold {id(seen)}"

    predict_texts([text])
    predict_texts([text])

    assert seen == [[text], [text]]


def test_the_accurate_kind_declares_itself_worth_caching():
    from training.ml.accurate import EmbeddingBlendSentimentModel
    from training.ml.text_classifier import HashedTfidfSentimentModel

    assert EmbeddingBlendSentimentModel.cache_predictions is True
    assert getattr(HashedTfidfSentimentModel, "cache_predictions", False) is False


def test_no_cache_when_its_lifetime_is_zero(monkeypatch, settings):
    settings.PREDICTION_CACHE_SECONDS = 0
    model = get_deployed_model().model
    monkeypatch.setattr(model, "cache_predictions", True, raising=False)
    assert not uses_prediction_cache(model)
