"""The fast trainer's few-examples model: the lexicon's opinion as three more features (no database)."""

from __future__ import annotations

import joblib
import numpy as np

from training.ml import lexicon_prior, text_classifier
from training.ml.lexicon import LexiconSentimentModel


def small_set(count: int) -> tuple[list[str], list[str]]:
    phrases = {
        "positive": "The waiter was lovely and the pasta was great",
        "neutral": "We had pasta on a Tuesday, it was a pasta",
        "negative": "The waiter was rude and the pasta was awful",
    }
    labels = [("positive", "neutral", "negative")[i % 3] for i in range(count)]
    return [f"{phrases[label]} {i}" for i, label in enumerate(labels)], labels


def test_few_examples_train_the_model_with_the_lexicon_prior():
    texts, labels = small_set(60)

    model = lexicon_prior.fit(texts, labels, [3.0] * len(texts))

    assert isinstance(model, lexicon_prior.LexiconPriorSentimentModel)
    assert model.ALGORITHM == lexicon_prior.PRIOR_ALGORITHM
    assert list(model.predict_proba(["Lovely staff, great food", "Rude staff, awful food"]).argmax(axis=1)) == [0, 2]


def test_many_examples_train_the_plain_tfidf_model(monkeypatch):
    monkeypatch.setattr(lexicon_prior, "PRIOR_MAX_EXAMPLES", 30)
    texts, labels = small_set(60)

    model = lexicon_prior.fit(texts, labels)

    assert type(model) is text_classifier.HashedTfidfSentimentModel


def test_the_lexicon_columns_know_words_no_label_taught():
    texts, labels = small_set(30)
    model = lexicon_prior.fit(texts, labels)

    probabilities = model.predict_proba(["Horrible, disgusting, never again", "Wonderful, delightful evening"])

    assert list(probabilities.argmax(axis=1)) == [2, 0]


def test_precomputed_compounds_give_the_same_probabilities():
    texts, labels = small_set(30)
    model = lexicon_prior.fit(texts, labels)

    assert np.allclose(model.predict_proba(texts), model.predict_proba(texts, lexicon_prior.lexicon_compounds(texts)))


def test_lexicon_probabilities_match_the_lexicon_model():
    texts = ["Great food!", "Awful service.", "We went on Tuesday."]

    assert np.allclose(
        lexicon_prior.lexicon_probabilities(lexicon_prior.lexicon_compounds(texts)),
        LexiconSentimentModel().predict_proba(texts),
    )


def test_it_is_scored_with_the_champion_and_survives_a_round_trip_through_joblib(tmp_path):
    texts, labels = small_set(30)
    model = lexicon_prior.fit(texts, labels)
    joblib.dump(model, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")

    together, alone = text_classifier.predict_proba_together([loaded, model], texts)

    assert np.allclose(together, alone)
    assert np.allclose(together, model.predict_proba(texts))
    assert loaded.explain("The waiter was lovely")
