"""Behavioural tests of the default trained sentiment model (pure: no database, no Django)."""

from __future__ import annotations

import random

import joblib
import numpy as np
import pytest

from training.ml import text_classifier
from training.ml.datasets import default_data_dir, load_yelp
from training.ml.labels import LABELS
from training.ml.lexicon import LexiconSentimentModel

DISHES = ["pizza", "pasta", "burger", "curry", "risotto", "salad", "steak", "sushi", "soup", "tacos"]
POSITIVE = ["good", "great", "delicious", "excellent", "amazing", "lovely", "tasty", "fantastic"]
NEGATIVE = ["bad", "awful", "terrible", "bland", "disgusting", "horrible", "cold", "stale"]
NEUTRAL = ["okay", "average", "fine", "decent", "alright", "ordinary"]


def synthetic_corpus(n: int = 900, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        dish = rng.choice(DISHES)
        kind = i % 3
        if kind == 0:
            word = rng.choice(POSITIVE)
            text = rng.choice([f"The {dish} was {word}.", f"{word.title()} {dish}, we will come back!"])
            label = "positive"
        elif kind == 1:
            word = rng.choice(NEUTRAL)
            text = rng.choice([f"The {dish} was {word}, nothing special.", f"An {word} {dish}, some good some bad."])
            label = "neutral"
        else:
            word = rng.choice(NEGATIVE + [f"not {p}" for p in POSITIVE[:3]])
            text = rng.choice([f"The {dish} was {word}.", f"Really {word} {dish}, never again."])
            label = "negative"
        texts.append(text)
        labels.append(label)
    return texts, labels


@pytest.fixture(scope="module")
def model():
    texts, labels = synthetic_corpus()
    return text_classifier.fit(texts, labels)


def label_of(model, text: str) -> str:
    return LABELS[int(model.predict_proba([text])[0].argmax())]


class TestSyntheticCorpus:
    def test_probabilities_are_distributions_in_labels_order(self, model):
        probabilities = model.predict_proba(["The pizza was great.", "The soup was okay, nothing special.", ""])
        assert probabilities.shape == (3, 3)
        assert np.allclose(probabilities.sum(axis=1), 1.0)
        assert (probabilities >= 0).all()
        assert model.predict_proba([]).shape == (0, 3)

    @pytest.mark.parametrize(
        ("text", "label"),
        [
            ("The steak was delicious.", "positive"),
            ("The sushi was terrible.", "negative"),
            ("The curry was average, nothing special.", "neutral"),
        ],
    )
    def test_minimum_functionality(self, model, text, label):
        assert label_of(model, text) == label

    def test_negation_lowers_the_positive_score(self, model):
        good, not_good = model.predict_proba(["The food was good", "The food was not good"])
        assert not_good[0] < good[0]

    @pytest.mark.parametrize("template", ["The {} was great.", "The {} was awful.", "Really bland {}, never again."])
    def test_swapping_the_dish_keeps_the_label(self, model, template):
        assert len({label_of(model, template.format(dish)) for dish in ("pizza", "risotto", "lasagne")}) == 1

    def test_explain_returns_words_of_the_text_with_signs_towards_the_prediction(self, model):
        text = "The tacos were excellent and tasty"
        explanation = model.explain(text, top_k=5)
        assert 0 < len(explanation) <= 5
        for term, _weight in explanation:
            assert term.replace("not ", "") in text.lower()
        assert explanation[0][1] > 0
        assert any(term in ("excellent", "tasty") and weight > 0 for term, weight in explanation)

    def test_weights_and_progress(self):
        texts, labels = synthetic_corpus(300, seed=1)
        calls = []
        fitted = text_classifier.fit(texts, labels, [3.0] * len(texts), progress=lambda f, m: calls.append((f, m)))
        assert calls and all(0.0 <= f <= 1.0 for f, _ in calls)
        assert label_of(fitted, "The pizza was excellent.") == "positive"

    def test_survives_a_joblib_round_trip(self, model, tmp_path):
        path = tmp_path / "model.joblib"
        joblib.dump(model, path)
        loaded = joblib.load(path)
        text = ["The burger was horrible."]
        assert np.allclose(loaded.predict_proba(text), model.predict_proba(text))

    def test_few_texts_are_scored_like_a_batch(self, model):
        """Up to LEAN_BATCH_MAX texts take the plain-numpy path; it must agree with scikit-learn's."""
        texts = ["The pizza was great.", "The soup was okay, nothing special.", "", "!!!", "not good not good"]
        texts += [f"Really {word} {dish}, never again." for word in NEGATIVE for dish in DISHES[:3]]
        batch = model._to_labels_order(model.classifier.predict_proba(model.transform(texts)))
        one_by_one = np.vstack([model.predict_proba([text]) for text in texts])
        assert np.allclose(one_by_one, batch, atol=1e-6)
        assert np.allclose(model.predict_proba(texts[:3]), batch[:3], atol=1e-6)

    def test_a_two_class_model_scores_single_texts_like_a_batch(self):
        texts, labels = synthetic_corpus()
        kept = [(t, label) for t, label in zip(texts, labels) if label != "neutral"]
        binary = text_classifier.fit([t for t, _ in kept], [label for _, label in kept])
        sample = ["The pizza was great.", "Really awful soup, never again.", "The salad"]
        batch = binary._to_labels_order(binary.classifier.predict_proba(binary.transform(sample)))
        assert np.allclose(np.vstack([binary.predict_proba([text]) for text in sample]), batch, atol=1e-6)
        assert (batch[:, LABELS.index("neutral")] == 0).all()


class TestScoringTogether:
    def test_models_scored_together_match_each_model_alone(self, model):
        texts, labels = synthetic_corpus(seed=3)
        other = text_classifier.fit(texts, labels, c=0.5)
        lexicon = LexiconSentimentModel()
        sample = [f"The {dish} was {word}." for dish in DISHES for word in POSITIVE[:3] + NEGATIVE[:3]]

        together = text_classifier.predict_proba_together([model, other, lexicon], sample)

        for scored, alone in zip(together, (model, other, lexicon), strict=True):
            assert np.allclose(scored, alone.predict_proba(sample), atol=1e-6)
        assert not np.allclose(together[0], together[1])  # each model keeps its own weights


class TestLexiconExplain:
    def test_signs_follow_the_prediction(self):
        lexicon = LexiconSentimentModel()
        explanation = lexicon.explain("The food was wonderful and the staff lovely")
        assert explanation and all(weight > 0 for _, weight in explanation)
        negative = dict(lexicon.explain("The food was not good, the waiter was rude"))
        assert negative["rude"] > 0  # rude pushes towards the predicted negative class
        assert "not good" in negative


@pytest.fixture(scope="module")
def yelp_model():
    examples = load_yelp(default_data_dir())[:2000]
    return text_classifier.fit([e.text for e in examples], [e.label for e in examples])


@pytest.mark.skipif(not (default_data_dir() / "yelp_reviews_10k_train").exists(), reason="shared data not present")
class TestYelpSanity:
    def test_direction_and_minimum_functionality(self, yelp_model):
        good, not_good = yelp_model.predict_proba(["The food was good", "The food was not good"])
        assert not_good[0] < good[0]
        assert label_of(yelp_model, "Absolutely amazing food and wonderful, friendly service!") == "positive"
        assert label_of(yelp_model, "Horrible. Rude staff, cold food, worst meal ever.") == "negative"

    def test_explain_on_a_real_model(self, yelp_model):
        text = "Worst service ever, the waiter was rude."
        explanation = yelp_model.explain(text)
        assert label_of(yelp_model, text) == "negative"
        assert explanation[0][1] > 0
        assert all(term.replace("not ", "").split()[0] in text.lower() for term, _ in explanation)
