"""The accurate kind's training checks its refit and blend on labels weighted to stand for all the reviews."""

from __future__ import annotations

import pytest

from reviews.models import Review
from reviews.schemas import ReviewIn
from reviews.services import review_bulk_create
from training import datasets, sentiment_training
from training.ml import finetuned

pytestmark = pytest.mark.django_db


def store(count: int, confidence: float | None, *, label: str | None = None, tag: str) -> list[int]:
    reviews = review_bulk_create(
        items=[ReviewIn(text=f"Review {tag} {i}", source="test", external_id=f"{tag}{i}") for i in range(count)]
    )
    ids = [result.review.pk for result in reviews]
    Review.objects.filter(pk__in=ids).update(predicted_confidence=confidence, human_label=label)
    return ids


def test_labels_from_the_doubtful_reviews_count_less_than_labels_from_the_sure_ones():
    store(300, 0.95, tag="sure")  # what the shop's reviews mostly look like to the model
    doubtful = store(40, 0.4, label="neutral", tag="doubt")  # what the uncertain queue showed
    sure = store(10, 0.95, label="positive", tag="picked")

    examples = datasets.collect_examples()
    weights = dict(zip(examples.ids, datasets.confidence_weights(examples)))

    assert max(weights[i] for i in doubtful) < 1.0 < min(weights[i] for i in sure)


def test_a_review_never_predicted_counts_one():
    ids = store(5, None, label="negative", tag="new")
    store(20, 0.9, label="positive", tag="old")

    examples = datasets.collect_examples()
    weights = dict(zip(examples.ids, datasets.confidence_weights(examples)))

    assert [weights[i] for i in ids] == [1.0] * 5


def test_the_accurate_kind_is_fitted_with_those_weights_and_the_fast_kind_without(monkeypatch):
    store(30, 0.6, label="positive", tag="a")
    store(30, 0.9, label="negative", tag="b")
    examples = datasets.collect_examples()
    received = {}

    class Trainer:
        ALGORITHM = "spy"

        @staticmethod
        def fit(texts, labels, weights, progress, **options):
            received.update(options)

    monkeypatch.setattr(sentiment_training, "finetuned", Trainer)
    sentiment_training._fit(Trainer, examples, lambda fraction, message: None)
    assert len(received["check_weights"]) == len(examples)

    received.clear()
    sentiment_training._fit(type("Fast", (Trainer,), {}), examples, lambda fraction, message: None)
    assert received == {}
    assert finetuned.fit.__kwdefaults__["check_weights"] is None
