"""Suggestion detection (training/ml/suggestion_*.py, suggestions.py): the SemEval-2019 reader, the rule, the model.

Pure: no database, no Django. One slower test trains on the shared forum file and skips without it.
"""

from __future__ import annotations

import io

import joblib
import numpy as np
import pytest

from training.ml.datasets import default_data_dir
from training.ml.suggestion_data import (
    REVIEW_SUGGESTIONS_CSV,
    LabelledSentence,
    read_semeval2019_csv,
    review_domain_sentences,
)
from training.ml.suggestion_patterns import imperative_start, shape_text
from training.ml.suggestions import SuggestionModel, SuggestionRule

SEMEVAL_DIR = default_data_dir() / "semeval2019_task9_suggestions_train"

SUGGESTIONS = [
    "Please add more staff on Fridays.",
    "They should open earlier on weekends",
    "It would be nice to have more vegetarian options",
    "Make sure to book ahead",
    "Ask for a room on a high floor.",
    "Don't buy the extended warranty.",
    "The hotel really needs to fix the wifi.",
]
HARD_NEGATIVES = [
    "A must try!",
    "Well, that must be it!",
    "Love this place",
    "Loved the food",
    "I would definitely come back.",
    "You could taste the freshness.",
    "We had to wait 40 minutes.",
    "My wife took me here for our anniversary.",
]


def write(tmp_path, name: str, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


# --- the reader -------------------------------------------------------------------------------------


def test_it_reads_the_training_file_shape_without_header_and_strips_the_extra_quotes(tmp_path):
    path = write(
        tmp_path,
        "train.csv",
        b'663_3,"""Please enable the ""language history"" option.""",1\r\n'
        b'663_4,"""Note: it was fine.""",0\r\n'
        b"664_1,Plain sentence without extra quotes.,0\r\n",
    )

    sentences = read_semeval2019_csv(path)

    assert sentences == [
        LabelledSentence("663_3", 'Please enable the "language history" option.', 1),
        LabelledSentence("663_4", "Note: it was fine.", 0),
        LabelledSentence("664_1", "Plain sentence without extra quotes.", 0),
    ]
    assert sentences.skipped == 0


def test_it_strips_only_one_pair_of_outer_quotes(tmp_path):
    path = write(tmp_path, "train.csv", b'1_1,"""""quoted"" says the docs""",0\r\n')

    assert read_semeval2019_csv(path)[0].text == '"quoted" says the docs'


def test_it_reads_the_trial_file_shape_with_header_and_latin1_bytes(tmp_path):
    path = write(
        tmp_path,
        "trial.csv",
        b"id,sentence,label\r\n"
        b'1310_1,"Don\'t keep it restricted, please \xe6\x90.",1\r\n'
        b"1312_1,somewhere between.,0\r\n",
    )

    sentences = read_semeval2019_csv(path)

    assert [s.sentence_id for s in sentences] == ["1310_1", "1312_1"]
    assert sentences[0].text.startswith("Don't keep it restricted, please")
    assert [s.label for s in sentences] == [1, 0]


def test_it_keeps_multi_line_sentences_in_one_row(tmp_path):
    path = write(tmp_path, "train.csv", b'5_1,"""First line\r\nsecond line""",1\r\n')

    assert read_semeval2019_csv(path)[0].text == "First line\r\nsecond line"


def test_it_skips_blank_and_garbage_rows_and_counts_them(tmp_path):
    path = write(
        tmp_path,
        "train.csv",
        b'1_1,Add dark mode.,1\r\n\r\n,,\r\n2_1,No label here\r\n3_1,Bad label,yes\r\n4_1,"""""",0\r\n5_1,Fine.,0\r\n',
    )

    sentences = read_semeval2019_csv(path)

    assert [s.sentence_id for s in sentences] == ["1_1", "5_1"]
    assert sentences.skipped == 3


def test_it_rejects_a_file_that_is_not_semeval_2019(tmp_path):
    path = write(tmp_path, "reviews.csv", b"text,stars\r\nGreat food,5\r\nAwful,1\r\n")

    with pytest.raises(ValueError, match="not a SemEval-2019 Task 9 file"):
        read_semeval2019_csv(path)


def test_the_review_domain_sentences_ship_with_the_package_and_are_balanced_as_intended():
    sentences = review_domain_sentences()

    assert REVIEW_SUGGESTIONS_CSV.exists()
    assert len(sentences) >= 800 and sentences.skipped == 0
    assert 0.35 <= sum(s.label for s in sentences) / len(sentences) <= 0.40
    assert len({s.text.lower() for s in sentences}) == len(sentences)


# --- the patterns and the rule -----------------------------------------------------------------------


def test_imperatives_are_recognised_but_feelings_and_past_forms_are_not():
    assert imperative_start("Try the fish tacos")
    assert imperative_start("Definitely book a table in advance.")
    assert not imperative_start("Love this place")
    assert not imperative_start("Loved the food")
    assert not imperative_start("Check out was at 11.")


def test_the_shape_view_keeps_structure_and_drops_topic_words():
    assert shape_text("Please add a dark theme for apps.") == shape_text("Please add a vegan menu for kids.")
    assert shape_text("Please add more staff on Fridays.").split()[:3] == ["BOS", "please", "VB"]


@pytest.mark.parametrize("sentence", SUGGESTIONS)
def test_the_rule_flags_suggestions(sentence):
    assert SuggestionRule().predict([sentence])[0] == 1


@pytest.mark.parametrize("sentence", HARD_NEGATIVES)
def test_the_rule_leaves_look_alikes_alone(sentence):
    assert SuggestionRule().predict([sentence])[0] == 0


def test_the_rule_needs_no_training_and_gives_probabilities():
    rule = SuggestionRule()

    assert rule.fit() is rule
    probabilities = rule.predict_proba(SUGGESTIONS + HARD_NEGATIVES)
    assert probabilities.shape == (len(SUGGESTIONS) + len(HARD_NEGATIVES),)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert rule.algorithm


# --- the model ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def review_model() -> SuggestionModel:
    sentences = review_domain_sentences()
    return SuggestionModel().fit([s.text for s in sentences], [s.label for s in sentences])


@pytest.mark.parametrize("sentence", SUGGESTIONS)
def test_the_model_flags_suggestions(review_model, sentence):
    assert review_model.predict([sentence])[0] == 1


@pytest.mark.parametrize("sentence", HARD_NEGATIVES)
def test_the_model_leaves_look_alikes_alone(review_model, sentence):
    assert review_model.predict([sentence])[0] == 0


def test_the_model_gives_one_probability_per_sentence(review_model):
    probabilities = review_model.predict_proba(SUGGESTIONS + HARD_NEGATIVES + ["", "?"])

    assert probabilities.shape == (len(SUGGESTIONS) + len(HARD_NEGATIVES) + 2,)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    assert review_model.predict_proba([]).shape == (0,)


def test_fit_chooses_a_threshold_and_predict_uses_it(review_model):
    sentences = SUGGESTIONS + HARD_NEGATIVES
    probabilities = review_model.predict_proba(sentences)

    assert 0.15 <= review_model.threshold <= 0.85
    assert list(review_model.predict(sentences)) == [int(p >= review_model.threshold) for p in probabilities]

    moved = joblib.load(_pickled(review_model))
    moved.threshold = 1.01
    assert moved.predict(sentences).sum() == 0
    moved.threshold = 0.0
    assert moved.predict(sentences).sum() == len(sentences)


def test_the_model_survives_a_pickle_round_trip(review_model):
    sentences = SUGGESTIONS + HARD_NEGATIVES
    restored = joblib.load(_pickled(review_model))

    assert restored.algorithm == review_model.algorithm
    assert restored.threshold == review_model.threshold
    np.testing.assert_allclose(restored.predict_proba(sentences), review_model.predict_proba(sentences))


def test_fit_reports_progress_and_rejects_one_class_labels():
    stages = []
    sentences = SUGGESTIONS + HARD_NEGATIVES
    labels = [1] * len(SUGGESTIONS) + [0] * len(HARD_NEGATIVES)

    SuggestionModel(folds=2).fit(sentences * 2, labels * 2, progress=lambda stage, fraction: stages.append(fraction))

    assert stages[-1] == 1.0 and stages == sorted(stages)
    with pytest.raises(ValueError, match="both 0"):
        SuggestionModel().fit(SUGGESTIONS, [1] * len(SUGGESTIONS))


def test_predict_before_fit_says_so():
    with pytest.raises(RuntimeError, match="before fit"):
        SuggestionModel().predict(["Add more staff."])


def _pickled(model) -> io.BytesIO:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return buffer


@pytest.mark.skipif(not SEMEVAL_DIR.exists(), reason="shared SemEval-2019 Task 9 data absent")
def test_trained_on_the_forum_and_review_sentences_it_reaches_079_f1_on_the_trial_set():
    forum = read_semeval2019_csv(SEMEVAL_DIR / "V1.4_Training.csv")
    trial = read_semeval2019_csv(SEMEVAL_DIR / "SubtaskA_Trial_Test_Labeled.csv")
    reviews = review_domain_sentences()
    training = list(forum) + list(reviews)

    model = SuggestionModel().fit([s.text for s in training], [s.label for s in training])

    predicted = model.predict([s.text for s in trial])
    labels = np.array([s.label for s in trial])
    true_positives = np.sum((predicted == 1) & (labels == 1))
    f1 = 2 * true_positives / (predicted.sum() + labels.sum())
    assert f1 >= 0.79
    assert model.predict(SUGGESTIONS).sum() == len(SUGGESTIONS)
    assert model.predict(HARD_NEGATIVES).sum() == 0


def test_fit_refuses_review_domain_flags_that_do_not_match_the_sentences():
    sentences = SUGGESTIONS + HARD_NEGATIVES
    labels = [1] * len(SUGGESTIONS) + [0] * len(HARD_NEGATIVES)

    with pytest.raises(ValueError, match="review_domain flags"):
        SuggestionModel().fit(sentences, labels, review_domain=[True])
