"""The Models page's learning curve: accuracy on held-out human labels against the human labels each sentiment
model learned from, and the labels the next accuracy point needs."""

from __future__ import annotations

import math

import pytest
from django.test import Client

from reviews.models import Review
from reviews.roles import LABELLER
from tests.factories import ModelVersionFactory, TrainingJobFactory, UserFactory
from tests.training.test_lifecycle import rated_corpus, train_now
from training.learning_curve import sentiment_learning_curve
from training.ml.holdout import in_evaluation_bucket
from training.ml.learning_curve import CurvePoint, fit_log_curve, labels_for_next_point
from training.models import TrainingJob


class TestTheFit:
    def test_it_recovers_a_curve_that_gains_the_same_with_each_doubling(self):
        points = [CurvePoint(n, 0.60 + 0.03 * math.log(n)) for n in (100, 200, 400, 800)]

        fit = fit_log_curve(points)

        assert fit.slope == pytest.approx(0.03) and fit.intercept == pytest.approx(0.60)
        assert fit.points == 4

    def test_the_next_point_costs_more_labels_the_flatter_the_curve(self):
        steep = fit_log_curve([CurvePoint(100, 0.70), CurvePoint(400, 0.70 + 0.05 * math.log(4))])
        flat = fit_log_curve([CurvePoint(100, 0.70), CurvePoint(400, 0.70 + 0.01 * math.log(4))])

        # 400 * (e^(0.01/0.05) - 1) = 88.6; 400 * (e^1 - 1) = 687.3
        assert labels_for_next_point(steep, 400) == 89
        assert labels_for_next_point(flat, 400) == 688

    def test_no_estimate_from_one_label_count_or_from_a_curve_that_does_not_rise(self):
        assert fit_log_curve([CurvePoint(300, 0.7), CurvePoint(300, 0.72), CurvePoint(0, 0.6)]) is None
        assert labels_for_next_point(None, 300) is None
        falling = fit_log_curve([CurvePoint(100, 0.75), CurvePoint(200, 0.74)])
        assert falling.slope < 0 and labels_for_next_point(falling, 200) is None


def _version(name: str, *, human: int, accuracy: float, set_kind: str = "human", n: int = 250):
    job = TrainingJobFactory(
        status=TrainingJob.Status.SUCCEEDED,
        metrics={"data_snapshot": {"by_label_source": {"human:positive": human - human // 2,
                                                        "human:negative": human // 2, "rating:positive": 900}}}
    )  # fmt: skip
    return ModelVersionFactory(
        name=name,
        training_job=job,
        metrics={"evaluation": {"accuracy": accuracy, "macro_f1": accuracy - 0.05, "n": n},
                 "evaluation_set": {"kind": set_kind, "size": n}},
    )  # fmt: skip


@pytest.mark.django_db
class TestTheCurveOfThisInstall:
    def test_models_scored_on_human_labels_make_the_curve_and_star_scored_ones_stand_apart(self):
        _version("sentiment-a", human=40, accuracy=0.70, set_kind="rated")
        _version("sentiment-b", human=300, accuracy=0.74)
        _version("sentiment-c", human=600, accuracy=0.76)
        ModelVersionFactory(
            name="aspects-x", kind="aspects", training_job=TrainingJobFactory(status=TrainingJob.Status.SUCCEEDED)
        )

        curve = sentiment_learning_curve()

        assert [(p["name"], p["labels"]) for p in curve["human"]] == [("sentiment-b", 300), ("sentiment-c", 600)]
        assert [(p["name"], p["labels"]) for p in curve["rated"]] == [("sentiment-a", 40)]
        slope = 0.02 / math.log(2)
        assert curve["fit"]["slope"] == pytest.approx(slope)
        assert curve["labels_for_next_point"] == math.ceil(600 * math.expm1(0.01 / slope))  # 249
        assert curve["summary"] == "About 249 more human labels for the next accuracy point (+1 %), from 600 now."

    def test_before_any_human_evaluation_it_says_what_the_bucket_needs(self, settings):
        settings.EVALUATION_MIN_HUMAN_LABELS = 200
        _version("sentiment-a", human=40, accuracy=0.70, set_kind="rated")

        curve = sentiment_learning_curve()

        assert curve["fit"] is None and curve["labels_for_next_point"] is None
        assert "needs 200 of them" in curve["summary"]

    def test_a_curve_that_does_not_rise_gives_no_estimate_and_says_why(self):
        _version("sentiment-b", human=300, accuracy=0.76)
        _version("sentiment-c", human=600, accuracy=0.75)

        assert "has not risen" in sentiment_learning_curve()["summary"]


@pytest.mark.django_db(transaction=True)
def test_real_training_jobs_put_their_human_labels_and_held_out_accuracy_on_the_curve(settings):
    from reviews.services import review_bulk_create

    settings.EVALUATION_MIN_HUMAN_LABELS = 10
    corpus = [result.review for result in review_bulk_create(items=rated_corpus(240))]
    label_of = {5: "positive", 1: "negative", 3: "neutral"}
    for review in corpus:  # every held-out review gets its human label: the gate scores on them
        if in_evaluation_bucket(review.pk):
            Review.objects.filter(pk=review.pk).update(human_label=label_of[int(review.rating)])
    trainable = [r for r in corpus if not in_evaluation_bucket(r.pk)]
    for review in trainable[:30]:
        Review.objects.filter(pk=review.pk).update(human_label=label_of[int(review.rating)])
    first = train_now()
    for review in trainable[30:90]:
        Review.objects.filter(pk=review.pk).update(human_label=label_of[int(review.rating)])
    second = train_now()

    curve = sentiment_learning_curve()

    assert [p["name"] for p in curve["human"]] == [first.metrics["model_version"], second.metrics["model_version"]]
    assert [p["labels"] for p in curve["human"]] == [30, 90]
    held_out = sum(in_evaluation_bucket(r.pk) for r in corpus)
    assert all(p["evaluated_on"] == held_out and 0 <= p["accuracy"] <= 1 for p in curve["human"])


@pytest.mark.django_db
def test_the_models_page_shows_the_curve_and_the_estimate():
    _version("sentiment-b", human=300, accuracy=0.74)
    _version("sentiment-c", human=600, accuracy=0.76)
    client = Client()
    client.force_login(UserFactory(role=LABELLER))

    content = client.get("/models/").content.decode()

    assert 'id="chart-learning"' in content and 'id="learning-data"' in content
    assert "About 249 more human labels for the next accuracy point (+1 %), from 600 now." in content
