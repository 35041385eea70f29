"""The sentiment models and metrics on their own: no database, no Django."""

from __future__ import annotations

import numpy as np
import pytest

from training.ml import text_classifier
from training.ml.labels import LABELS, rating_to_label
from training.ml.lexicon import LexiconSentimentModel
from training.ml.metrics import evaluate
from training.ml.predictor import scores_from_probabilities


@pytest.fixture(scope="module")
def lexicon() -> LexiconSentimentModel:
    return LexiconSentimentModel()


def label_of(model, text: str) -> str:
    return scores_from_probabilities(model.predict_proba([text]))[0].label


class TestLexiconModel:
    def test_each_row_is_a_probability_distribution_over_the_three_labels(self, lexicon):
        texts = ["Great food!", "Awful service.", "We went on Tuesday.", "", "🙂"]

        probabilities = lexicon.predict_proba(texts)

        assert probabilities.shape == (len(texts), 3)
        assert np.allclose(probabilities.sum(axis=1), 1.0)
        assert (probabilities >= 0).all()

    def test_columns_follow_labels_positive_neutral_negative(self, lexicon):
        assert LABELS == ("positive", "neutral", "negative")
        probabilities = lexicon.predict_proba(
            ["Wonderful, delicious food!", "We went on Tuesday.", "Horrible, rude staff."]
        )

        assert list(probabilities.argmax(axis=1)) == [0, 1, 2]

    def test_negation_lowers_the_positive_score(self, lexicon):
        good, not_good = lexicon.predict_proba(["The food was good", "The food was not good"])

        assert not_good[0] < good[0]
        assert label_of(lexicon, "The food was not good") == "negative"

    @pytest.mark.parametrize(
        ("one", "other"),
        [
            ("great pizza", "great pasta"),
            ("The curry was awful.", "The risotto was awful."),
            ("We ordered the burger.", "We ordered the salad."),
        ],
    )
    def test_swapping_the_dish_keeps_the_label(self, lexicon, one, other):
        assert label_of(lexicon, one) == label_of(lexicon, other)

    def test_an_empty_batch_gives_an_empty_matrix(self, lexicon):
        assert lexicon.predict_proba([]).shape == (0, 3)


POSITIVE = ["delicious food", "lovely staff", "great service", "wonderful dessert", "excellent wine"]
NEGATIVE = ["cold food", "rude staff", "slow service", "stale dessert", "sour wine"]
NEUTRAL = ["we had lunch", "we sat inside", "we paid by card", "open on monday", "near the station"]


def synthetic_corpus() -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for phrases, label in ((POSITIVE, "positive"), (NEGATIVE, "negative"), (NEUTRAL, "neutral")):
        for first in phrases:
            for second in phrases:
                if first != second:
                    texts.append(f"{first} and {second}")
                    labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def model():
    return text_classifier.fit(*synthetic_corpus())


class TestTextClassifier:
    @pytest.mark.parametrize(
        ("text", "label"),
        [
            ("great service and delicious food", "positive"),
            ("rude staff and cold food", "negative"),
            ("we had lunch near the station", "neutral"),
        ],
    )
    def test_it_predicts_obvious_cases(self, model, text, label):
        assert label_of(model, text) == label

    def test_its_rows_are_distributions_in_label_order(self, model):
        probabilities = model.predict_proba(["lovely staff", "sour wine", "we sat inside"])

        assert np.allclose(probabilities.sum(axis=1), 1.0)
        assert list(probabilities.argmax(axis=1)) == [0, 2, 1]

    def test_a_class_missing_from_training_gets_zero_probability_in_its_column(self):
        texts, labels = synthetic_corpus()
        two_classes = [(t, lab) for t, lab in zip(texts, labels) if lab != "neutral"]

        model = text_classifier.fit([t for t, _ in two_classes], [lab for _, lab in two_classes])
        probabilities = model.predict_proba(["lovely staff", "rude staff"])

        assert probabilities.shape == (2, 3)
        assert (probabilities[:, 1] == 0).all()
        assert np.allclose(probabilities.sum(axis=1), 1.0)
        assert list(probabilities.argmax(axis=1)) == [0, 2]

    def test_sample_weights_are_accepted(self):
        texts, labels = synthetic_corpus()

        model = text_classifier.fit(texts, labels, [3.0 if i % 2 else 1.0 for i in range(len(texts))])

        assert label_of(model, "great service") == "positive"


@pytest.fixture(scope="module")
def result() -> dict:
    """A hand-checked case. Predicted: positive, positive, neutral, negative;
    true: positive, neutral, neutral, negative."""
    probabilities = np.array(
        [
            [0.85, 0.10, 0.05],
            [0.65, 0.25, 0.10],
            [0.15, 0.75, 0.10],
            [0.10, 0.15, 0.75],
        ]
    )
    return evaluate(probabilities, ["positive", "neutral", "neutral", "negative"])


class TestEvaluate:
    def test_accuracy_and_macro_f1(self, result):
        assert result["n"] == 4
        assert result["accuracy"] == 0.75
        # F1: positive 2/3 (P 1/2, R 1), neutral 2/3 (P 1, R 1/2), negative 1.
        assert result["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3, abs=1e-4)

    def test_per_class_scores(self, result):
        assert result["per_class"] == {
            "positive": {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1},
            "neutral": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2},
            "negative": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        }

    def test_confusion_matrix_has_true_labels_as_rows_in_label_order(self, result):
        assert result["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]

    def test_brier_score(self, result):
        # Squared distance to the one-hot truth: 0.035, 0.995, 0.095, 0.095.
        assert result["brier"] == pytest.approx(0.305, abs=1e-4)

    def test_expected_calibration_error(self, result):
        # Bins (0.6, 0.7]: 0.65 wrong; (0.7, 0.8]: two 0.75 right; (0.8, 0.9]: 0.85 right.
        assert result["ece"] == pytest.approx(0.25 * 0.65 + 0.5 * 0.25 + 0.25 * 0.15, abs=1e-4)

    def test_a_perfect_confident_model_scores_perfectly(self):
        result = evaluate(np.eye(3), list(LABELS))

        assert (result["accuracy"], result["macro_f1"], result["ece"], result["brier"]) == (1.0, 1.0, 0.0, 0.0)

    def test_a_class_absent_from_the_truth_counts_as_zero_not_an_error(self):
        result = evaluate(np.array([[0.9, 0.05, 0.05], [0.1, 0.1, 0.8]]), ["positive", "negative"])

        assert result["per_class"]["neutral"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


@pytest.mark.parametrize(
    ("rating", "label"),
    [
        (1, "negative"),
        (2, "negative"),
        (2.5, "neutral"),
        (3, "neutral"),
        (3.5, "neutral"),
        (4, "positive"),
        (5, "positive"),
    ],
)
def test_star_ratings_map_to_weak_labels(rating, label):
    assert rating_to_label(rating) == label


def test_the_rating_thresholds_can_be_moved():
    assert rating_to_label(3, negative_max=3, positive_min=5) == "negative"
    assert rating_to_label(4.5, negative_max=3, positive_min=5) == "neutral"


def test_evaluation_includes_a_reliability_table_whose_counts_add_up():
    import numpy as np

    from training.ml.metrics import evaluate

    probabilities = np.array([[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    report = evaluate(probabilities, ["positive", "neutral", "neutral", "negative"])

    assert sum(row["count"] for row in report["calibration"]) == 4
    top = report["calibration"][-1]
    assert (top["low"], top["count"], top["accuracy"]) == (0.8, 1, 1.0)  # the 0.9-confident review, right
