from __future__ import annotations

import pytest
from django.conf import settings

from reviews.services import predict_texts
from training.registry import get_deployed_model

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not settings.REDIS_URL, reason="the prediction cache lives in Redis"),
]


def test_repeated_texts_are_served_from_the_cache_per_model_version(monkeypatch):
    model = get_deployed_model().model
    seen: list[list[str]] = []
    original = model.predict_proba

    def counting(texts):
        seen.append(list(texts))
        return original(texts)

    monkeypatch.setattr(model, "predict_proba", counting)
    text = f"A unique review about the soup {id(seen)}"

    first = predict_texts([text, "Another fresh text " + text])
    second = predict_texts([text])

    assert seen == [[text, "Another fresh text " + text]]
    assert second.results[0] == first.results[0]
