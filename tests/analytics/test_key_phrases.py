"""The dashboard's themes are key phrases, and explanation highlights are sentiment words, never function words."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from analytics.keyphrases import FUNCTION_WORDS, key_phrases
from reviews.filters import ReviewFilters
from training import serving

FEEDBACK = [
    "The service was slow and the fries were cold.",
    "Slow service, again.",
    "Really slow service!",
    "Cold fries and a rude waiter.",
    "The fries were cold.",
    "Friendly staff though.",
    "Friendly staff but one of them was rude.",
    "I don't like it because we came back out one more time.",
    "The waiter was very rude.",
]


def test_it_finds_the_phrases_people_repeat():
    phrases = dict(key_phrases(FEEDBACK))

    assert phrases == {"cold fries": 3, "slow service": 3, "friendly staff": 2, "rude waiter": 2}


def test_no_phrase_starts_or_ends_with_a_function_word():
    phrases = [phrase for phrase, _ in key_phrases(FEEDBACK * 3, top=50, min_count=1)]

    assert phrases
    for phrase in phrases:
        words = phrase.split()
        assert words[0] not in FUNCTION_WORDS and words[-1] not in FUNCTION_WORDS, phrase
    for filler in ("one", "like", "don't", "out", "because", "back"):
        assert filler not in phrases


def test_the_themes_chart_shows_phrases(monkeypatch):
    from analytics import charts

    report = {
        "analysed_reviews": 3,
        "businesses": [
            {
                "business": "Roma",
                "mixed_reviews": 2,
                "reviews_with_suggestions": 1,
                "items": [
                    {"criticism": ["The service was slow.", "Slow service again."], "suggestions": []},
                    {"criticism": ["The fries were cold."], "suggestions": ["Serve the fries hot, not cold fries."]},
                ],
            }
        ],
    }
    monkeypatch.setattr(charts, "feedback_by_business", lambda **kwargs: report)
    monkeypatch.setattr(charts, "business_names", lambda keys: {key: key for key in keys})

    themes = charts.themes(ReviewFilters())

    assert themes["terms"][:2] == ["cold fries", "slow service"]
    assert themes["criticism"][:2] == [1, 2] and themes["suggestions"][:2] == [1, 0]


@pytest.mark.parametrize("term", ["and", "you", "was", "the", "not"])
def test_a_function_word_is_no_sentiment_highlight(term):
    assert term in ENGLISH_STOP_WORDS
    assert not serving.is_sentiment_term(term)


def test_explanation_highlights_leave_out_function_words(monkeypatch):
    terms = [("and", 0.9), ("you", 0.8), ("was", 0.7), ("rude", -0.6), ("not good", -0.5), ("cold", -0.4)]

    class Model:
        def explain(self, text, top_k):
            return terms[:top_k]

    monkeypatch.setattr(serving, "get_deployed_model", lambda: SimpleNamespace(model=Model()))

    [highlights] = serving.explain_texts(["You was rude and not good"], top_k=2)

    assert [term for term, _ in highlights] == ["rude", "not good"]
