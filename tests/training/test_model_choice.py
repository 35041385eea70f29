"""Keeping a default unless held-out evidence clearly favours a candidate (training/ml/model_choice.py)."""

import numpy as np
import pytest
from sklearn.metrics import f1_score

from training.ml import model_choice
from training.ml.labels import LABEL_INDEX, LABELS

LABELS_30 = ["positive", "neutral", "negative"] * 10
RIGHT = np.eye(3)[[LABEL_INDEX[label] for label in LABELS_30]]


def wrong_on(rows: list[int]) -> np.ndarray:
    probabilities = RIGHT.copy()
    probabilities[rows] = np.roll(probabilities[rows], 1, axis=1)
    return probabilities


def test_a_candidate_right_where_the_default_is_wrong_on_many_reviews_is_clearly_better():
    assert model_choice.win_share(RIGHT, wrong_on(list(range(0, 30, 3))), LABELS_30) > 0.99
    assert model_choice.clearly_better(RIGHT, wrong_on(list(range(0, 30, 3))), LABELS_30)


def test_identical_predictions_tie_and_a_one_review_edge_is_not_enough():
    assert model_choice.win_share(RIGHT, RIGHT, LABELS_30) == 0.5
    assert not model_choice.clearly_better(RIGHT, wrong_on([4]), LABELS_30)


def test_weights_decide_which_reviews_the_evidence_comes_from():
    default = wrong_on([0, 1, 2, 3, 4, 5])
    weights = [0.01] * 6 + [1.0] * 24  # the reviews it misreads stand for almost nobody

    assert model_choice.clearly_better(RIGHT, default, LABELS_30)
    assert not model_choice.clearly_better(RIGHT, default, LABELS_30, weights=weights)


def test_the_weighted_macro_f1_with_equal_weights_is_sklearns():
    predicted = wrong_on([0, 4, 8, 11])
    truth = [LABEL_INDEX[label] for label in LABELS_30]

    expected = f1_score(truth, predicted.argmax(axis=1), labels=range(len(LABELS)), average="macro")
    assert model_choice.weighted_macro_f1(predicted, LABELS_30) == pytest.approx(expected)


def test_labelled_reviews_from_the_doubtful_end_count_less_and_the_rest_more():
    population = np.linspace(0.34, 1.0, 1000)
    labelled = np.concatenate([np.full(80, 0.4), np.full(20, 0.95)])  # what an uncertain queue shows

    weights = model_choice.importance_weights(labelled, population)

    assert weights.mean() == pytest.approx(1.0)
    assert weights[:80].max() < 1.0 < weights[80:].min()


def test_a_random_sample_gets_weights_near_one():
    rng = np.random.default_rng(0)
    population = rng.uniform(0.34, 1.0, 5000)

    weights = model_choice.importance_weights(rng.choice(population, 1000), population)

    assert np.abs(weights - 1.0).max() < 0.25
