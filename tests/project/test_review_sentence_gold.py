"""The hand-annotated review-sentence gold (bench/data/review_sentences_gold.csv) stays resolvable and sound."""

from __future__ import annotations

import csv
from collections import Counter

import pytest
from django.conf import settings

from bench.gold import (
    GOLD_CSV,
    POLARITIES,
    PRODUCT_THEMES,
    SAMPLES,
    SUGGESTION_TARGETS,
    GoldDriftError,
    load_review_sentence_gold,
    read_gold_rows,
)

pytestmark = pytest.mark.skipif(not settings.SHARED_DATA_DIR.exists(), reason="shared data not present")


@pytest.fixture(scope="module")
def gold():
    sentences = load_review_sentence_gold(settings.SHARED_DATA_DIR)
    assert sentences is not None
    return sentences


def test_every_row_resolves_to_the_annotated_sentence(gold):
    """load_review_sentence_gold raises GoldDriftError on any sha1 mismatch, so resolving them all is the check."""
    assert len(gold) == len(read_gold_rows())
    assert all(sentence.text for sentence in gold)


def test_a_changed_sentence_is_reported_as_drift(tmp_path):
    first_row = read_gold_rows()[0]
    tampered = tmp_path / "gold.csv"
    with tampered.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(first_row))
        writer.writeheader()
        writer.writerow(dict(first_row, sentence_sha1="000000000000"))

    with pytest.raises(GoldDriftError, match="sha1"):
        load_review_sentence_gold(settings.SHARED_DATA_DIR, gold_csv=tampered)


def test_it_is_none_without_the_shared_data(tmp_path):
    assert load_review_sentence_gold(tmp_path) is None


def test_themes_and_polarities_use_the_product_vocabulary_and_agree(gold):
    for sentence in gold:
        assert set(sentence.themes) <= set(PRODUCT_THEMES), sentence
        assert len(set(sentence.themes)) == len(sentence.themes), sentence
        assert list(sentence.polarities) == list(sentence.themes), sentence
        assert set(sentence.polarities.values()) <= set(POLARITIES), sentence


def test_suggestion_labels_are_consistent(gold):
    for sentence in gold:
        assert sentence.is_suggestion in (0, 1)
        if sentence.is_suggestion:
            assert sentence.suggestion_target in SUGGESTION_TARGETS, sentence
        else:
            assert sentence.suggestion_target == "", sentence
        assert sentence.sample in SAMPLES


def test_the_random_sample_is_big_enough_and_mixes_yelp_and_zomato(gold):
    random_part = [sentence for sentence in gold if sentence.sample == "random"]
    reviews = {(sentence.dataset, sentence.review_key) for sentence in random_part}
    yelp_share = sum(sentence.dataset == "yelp" for sentence in random_part) / len(random_part)

    assert len(random_part) >= 320
    assert len(reviews) >= 120
    assert 0.5 <= yelp_share <= 0.7


def test_the_enriched_samples_reach_their_minimums(gold):
    samples = Counter(sentence.sample for sentence in gold)
    themes = Counter(theme for sentence in gold for theme in sentence.themes)

    assert samples["suggestion_enriched"] >= 200
    assert sum(sentence.is_suggestion for sentence in gold) >= 80
    assert themes["speed and waiting"] >= 40
    assert themes["cleanliness"] >= 40


def test_no_sentence_is_annotated_twice(gold):
    locations = Counter((sentence.dataset, sentence.review_key, sentence.sentence_index) for sentence in gold)
    assert [location for location, count in locations.items() if count > 1] == []


def test_the_gold_file_holds_no_review_text(gold):
    """Only locations and labels are ours to keep: no annotated sentence may appear in the CSV itself."""
    gold_file = GOLD_CSV.read_text(encoding="utf-8").lower()
    copied = [sentence.text for sentence in gold if len(sentence.text) >= 12 and sentence.text.lower() in gold_file]
    assert copied == []
