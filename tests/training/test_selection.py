"""The labelling queue's selection (training.ml.selection) on its own: no database, no Django."""

from __future__ import annotations

import numpy as np

from training.ml.selection import QueuePolicy, margins, next_for_labelling, select_for_labelling, text_features


def probabilities(*rows) -> np.ndarray:
    return np.array(rows, dtype=float)


def test_the_margin_is_the_gap_between_the_two_most_probable_classes():
    assert np.allclose(margins(probabilities([0.5, 0.3, 0.2], [0.4, 0.4, 0.2])), [0.2, 0.0])


def test_without_features_the_smallest_margin_comes_first():
    rows = probabilities([0.9, 0.05, 0.05], [0.41, 0.40, 0.19], [0.6, 0.3, 0.1])

    assert select_for_labelling(rows, 3, class_balance=False) == [1, 2, 0]


def test_it_does_not_return_near_duplicates_when_other_uncertain_reviews_exist():
    texts = ["The soup was cold but the bread was fine."] * 6 + [
        "Service slow, dessert lovely.",
        "Parking was hard, the view okay.",
        "Loud music, decent wine list.",
    ]
    # The six copies are the most uncertain of all, the others only a little less.
    rows = probabilities(*([[0.40, 0.39, 0.21]] * 6), [0.45, 0.35, 0.2], [0.46, 0.34, 0.2], [0.47, 0.33, 0.2])

    picked = select_for_labelling(rows, 4, features=text_features(texts), shortlist_factor=4, class_balance=False)

    copies = [i for i in picked if i < 6]
    assert len(copies) == 1
    assert sorted(i for i in picked if i >= 6) == [6, 7, 8]


def test_it_shares_the_picks_among_the_predicted_classes():
    positive = [[0.40 + i * 0.001, 0.39, 0.21 - i * 0.001] for i in range(10)]
    neutral = [[0.2, 0.45, 0.35]] * 3
    negative = [[0.1, 0.3, 0.6]] * 3
    rows = probabilities(*positive, *neutral, *negative)

    picked = select_for_labelling(rows, 6, shortlist_factor=4)

    predicted = rows[picked].argmax(axis=1)
    assert sorted(np.bincount(predicted, minlength=3).tolist()) == [2, 2, 2]


def test_a_random_share_mixes_in_reviews_from_outside_the_uncertain_ones():
    rows = probabilities(*([[0.34, 0.33, 0.33]] * 10), *([[0.98, 0.01, 0.01]] * 90))

    picked = select_for_labelling(rows, 10, random_share=0.5, rng=np.random.default_rng(0), class_balance=False)

    assert len(picked) == len(set(picked)) == 10
    assert sum(1 for i in picked if i >= 10) >= 3


def test_the_cold_start_is_a_random_sample_and_uncertainty_follows():
    rows = probabilities(*([[0.34, 0.33, 0.33]] * 20), *([[0.98, 0.01, 0.01]] * 180))
    policy = QueuePolicy(random_share=0.0, cold_start_labels=20, class_balance=False)

    cold = next_for_labelling(rows, 20, labelled=0, rng=np.random.default_rng(1), policy=policy)
    warm = next_for_labelling(rows, 20, labelled=20, rng=np.random.default_rng(1), policy=policy)

    assert sum(1 for i in cold if i >= 20) > 10
    assert sorted(warm) == list(range(20))


def test_it_never_returns_more_than_there_are():
    rows = probabilities([0.5, 0.3, 0.2], [0.4, 0.4, 0.2])

    assert sorted(select_for_labelling(rows, 5)) == [0, 1]
    assert select_for_labelling(rows[:0], 5) == []
