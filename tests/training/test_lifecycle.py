"""The model lifecycle: train, gate, promote, roll back, hot swap, cancel, re-score, S3."""

from __future__ import annotations

import random
import threading
import uuid

import boto3
import numpy as np
import pytest
from django.test import override_settings
from moto.server import ThreadedMotoServer

from reviews.models import Prediction, Review
from reviews.schemas import ReviewIn
from reviews.services import review_bulk_create, review_create
from tests.factories import ModelVersionFactory
from training import datasets, jobs, registry, runner, storage, versions
from training.ml import holdout
from training.ml.gate import GateConfig, decide
from training.models import Deployment, GateDecision, ModelVersion, TrainingJob
from training.registry import forget_deployed_model, get_deployed_model

pytestmark = pytest.mark.django_db(transaction=True)

PRAISE = ["delicious food", "friendly staff", "lovely atmosphere", "great value", "perfect pasta", "amazing desserts",
          "wonderful service", "fresh ingredients", "cosy room", "excellent wine"]  # fmt: skip
COMPLAINTS = ["cold food", "rude waiter", "dirty tables", "terrible service", "bland and overpriced", "awful smell",
              "slow kitchen", "stale bread", "noisy room", "burnt pizza"]  # fmt: skip
SHRUGS = ["it was fine", "nothing special", "average meal", "okay portions", "decent enough", "standard menu",
          "ordinary place", "middling coffee", "so-so dessert", "acceptable wait"]  # fmt: skip


def rated_corpus(n: int, seed: int = 1) -> list[ReviewIn]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        rating, phrases = [(5, PRAISE), (1, COMPLAINTS), (3, SHRUGS)][i % 3]
        text = f"{rng.choice(['We', 'I', 'My family'])} found {', '.join(rng.sample(phrases, 3))}."
        items.append(ReviewIn(text=text, rating=rating, source="test", external_id=f"r{i}"))
    return items


def train_now(min_samples: int = 30) -> TrainingJob:
    job = jobs.training_job_create(parameters={"min_samples": min_samples})
    return runner.training_job_run(job_id=job.pk)


@pytest.fixture
def corpus():
    return review_bulk_create(items=rated_corpus(240))


class TestTrainingAndTheGate:
    def test_a_first_trained_model_beats_the_baseline_and_is_deployed(self, corpus):
        job = train_now()

        assert job.status == TrainingJob.Status.SUCCEEDED, job.error
        assert job.metrics["promoted"] is True
        champion = registry.current_champion()
        assert champion.name == job.metrics["model_version"]
        assert champion.reference_stats["vocabulary_size"] > 0
        assert set(champion.reference_stats["class_distribution"]) == {"positive", "neutral", "negative"}
        decision = GateDecision.objects.get(candidate=champion)
        assert decision.decision == "promoted"
        assert decision.champion.name == "baseline-lexicon"
        assert decision.evaluation_set["kind"] == "rated"
        assert decision.evaluation_set["size"] == job.metrics["evaluation_set"]["size"] > 0
        deployment = Deployment.objects.get(model_version=champion)
        assert deployment.action == Deployment.Action.GATE
        assert deployment.previous.name == "baseline-lexicon"

    def test_every_job_is_an_mlflow_run_and_the_champion_alias_follows_the_database(self, corpus, settings):
        import mlflow

        job = train_now()

        champion = registry.current_champion()
        client = mlflow.MlflowClient(settings.MLFLOW_TRACKING_URI)
        run = client.get_run(job.metrics["mlflow_run_id"])
        assert run.data.params["job_id"] == str(job.pk)
        assert run.data.metrics["macro_f1"] == job.metrics["candidate"]["macro_f1"]
        alias = client.get_model_version_by_alias(settings.MLFLOW_MODEL_NAME, "champion")
        assert str(alias.version) == champion.mlflow_version
        assert alias.tags["model_version"] == champion.name
        challenger = client.get_model_version_by_alias(settings.MLFLOW_MODEL_NAME, "challenger")
        assert challenger.tags["model_version"] == "baseline-lexicon"

    def test_a_running_job_stops_when_cancelled(self, corpus):
        job = jobs.training_job_create(parameters={"min_samples": 30})
        # The flag is set while the job runs (here: before its first step checks it).
        TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)

        finished = runner.training_job_run(job_id=job.pk)

        assert finished.status == TrainingJob.Status.CANCELLED
        assert finished.started_at is not None and finished.finished_at is not None
        assert not ModelVersion.objects.exclude(name="baseline-lexicon").exists()

    def test_metrics_include_calibration_and_per_class_scores(self, corpus):
        candidate = train_now().metrics["candidate"]

        assert {"macro_f1", "accuracy", "ece", "brier", "per_class", "confusion_matrix"} <= set(candidate)
        assert set(candidate["per_class"]) == {"positive", "neutral", "negative"}

    def test_a_candidate_that_is_not_clearly_better_is_rejected_and_the_decision_stored(self, corpus):
        with override_settings(GATE_MIN_DELTA=2.0):
            job = train_now()

        assert job.status == TrainingJob.Status.SUCCEEDED
        assert job.metrics["promoted"] is False
        assert registry.current_champion().name == "baseline-lexicon"
        rejected = ModelVersion.objects.get(name=job.metrics["model_version"])
        assert rejected.stage == ModelVersion.Stage.REJECTED
        assert "below the required" in GateDecision.objects.get(candidate=rejected).reason

    def test_the_evaluation_set_never_trains(self, corpus):
        examples = datasets.collect_examples()
        train, evaluation = datasets.split_examples(examples)

        assert not set(train.ids) & set(evaluation.examples.ids)
        assert all(holdout.in_evaluation_bucket(review_id) for review_id in evaluation.examples.ids)
        assert 0.1 < len(evaluation.examples) / len(examples) < 0.3

    def test_a_large_rated_evaluation_set_is_a_stable_sample_that_says_so(self, corpus):
        examples = datasets.collect_examples()
        _, full = datasets.split_examples(examples)
        size = len(full.examples) // 2

        with override_settings(EVALUATION_MAX_RATED=size):
            _, first = datasets.split_examples(examples)
            _, again = datasets.split_examples(datasets.collect_examples())

        assert len(first.examples) == size
        assert set(first.examples.ids) <= set(full.examples.ids)
        assert first.examples.ids == again.examples.ids
        assert f"a fixed sample of {size} of {len(full.examples)}" in first.note
        assert first.describe()["fingerprint"] != full.describe()["fingerprint"]

    def test_human_labels_take_over_the_evaluation_set_once_there_are_enough(self, corpus):
        held_out = [r.review.pk for r in corpus if holdout.in_evaluation_bucket(r.review.pk)]
        Review.objects.filter(pk__in=held_out[:5]).update(human_label="neutral")

        with override_settings(EVALUATION_MIN_HUMAN_LABELS=5):
            _, evaluation = datasets.split_examples(datasets.collect_examples())

        assert evaluation.kind == "human"
        assert evaluation.examples.ids == sorted(held_out[:5])
        assert set(evaluation.examples.labels) == {"neutral"}

    def test_human_labels_win_over_ratings_and_weigh_more(self, corpus):
        review = corpus[0].review
        Review.objects.filter(pk=review.pk).update(human_label="negative")

        examples = datasets.collect_examples()
        index = examples.ids.index(review.pk)

        assert examples.labels[index] == "negative"
        assert examples.weights[index] == 3.0
        assert examples.sources[index] == "human"

    def test_non_english_reviews_stay_out_of_training(self):
        review = review_create(
            data=ReviewIn(text="Khana bahut accha tha, service thodi slow thi yaar", rating=4)
        ).review

        assert review.is_english is False
        assert review.pk not in datasets.collect_examples().ids
        with override_settings(TRAIN_INCLUDE_NON_ENGLISH=True):
            assert review.pk in datasets.collect_examples().ids

    def test_too_few_examples_fail_at_once_saying_how_many(self, corpus):
        job = train_now(min_samples=10_000)

        assert job.status == TrainingJob.Status.FAILED
        assert "found 240" in job.error


class TestGateDecision:
    def test_it_needs_both_a_margin_and_bootstrap_confidence(self):
        rng = np.random.default_rng(0)
        truth = rng.integers(0, 3, 600)
        champion = np.where(rng.random(600) < 0.6, truth, rng.integers(0, 3, 600))
        much_better = np.where(rng.random(600) < 0.9, truth, rng.integers(0, 3, 600))

        assert decide(truth, champion, much_better).promote
        assert not decide(truth, champion, champion).promote
        assert not decide(truth, much_better, champion).promote

    def test_no_class_may_lose_too_much(self):
        truth = np.array([0] * 100 + [1] * 100 + [2] * 100)
        champion = truth.copy()
        champion[:30] = 1  # champion is weak on positive
        candidate = truth.copy()
        candidate[100:160] = 0  # candidate fixes positive but breaks neutral badly

        result = decide(truth, champion, candidate, GateConfig(min_delta=-1, min_probability=0))

        assert not result.promote
        assert "class neutral" in result.reason


class TestPromotionAndRollback:
    def test_manual_promotion_and_rollback_are_recorded(self, corpus):
        trained = registry.current_champion() if train_now().metrics["promoted"] else None
        assert trained is not None
        baseline = ModelVersion.objects.get(name="baseline-lexicon")

        versions.model_version_rollback(reason="bad week")

        assert registry.current_champion() == baseline
        rollback = Deployment.objects.first()
        assert (rollback.action, rollback.previous, rollback.reason) == ("rollback", trained, "bad week")
        versions.model_version_promote(version=ModelVersion.objects.get(pk=trained.pk), reason="fixed")
        assert registry.current_champion() == trained
        assert ModelVersion.objects.get(pk=baseline.pk).stage == ModelVersion.Stage.ARCHIVED

    def test_a_second_rollback_walks_further_back_instead_of_redeploying_the_model_rolled_away_from(self):
        baseline = registry.model_version_ensure_baseline()
        first, second = ModelVersionFactory(), ModelVersionFactory()
        versions.model_version_promote(version=first)
        versions.model_version_promote(version=second)

        versions.model_version_rollback()
        assert registry.current_champion() == first
        versions.model_version_rollback()
        assert registry.current_champion() == baseline
        with pytest.raises(versions.DeploymentError, match="no earlier champion"):
            versions.model_version_rollback()

    def test_a_manual_promotion_after_a_rollback_starts_a_new_history(self):
        baseline = registry.model_version_ensure_baseline()
        first, second = ModelVersionFactory(), ModelVersionFactory()
        versions.model_version_promote(version=first)
        versions.model_version_rollback()
        versions.model_version_promote(version=second)

        assert versions.model_version_rollback_target().previous == baseline
        versions.model_version_promote(version=ModelVersion.objects.get(pk=first.pk))
        assert versions.model_version_rollback_target().previous == second

    def test_rolling_back_with_no_history_is_refused(self):
        registry.model_version_ensure_baseline()

        with pytest.raises(versions.DeploymentError, match="no earlier champion"):
            versions.model_version_rollback()

    def test_promoting_the_deployed_version_is_refused(self):
        with pytest.raises(versions.DeploymentError, match="already deployed"):
            versions.model_version_promote(version=registry.model_version_ensure_baseline())

    def test_after_a_promotion_unlabelled_reviews_are_rescored_and_ingest_predictions_stay(self, corpus):
        labelled = corpus[1].review
        Review.objects.filter(pk=labelled.pk).update(human_label="positive")

        job = train_now()  # Celery runs eagerly in tests: re-scoring happens on commit

        new_version = ModelVersion.objects.get(name=job.metrics["model_version"])
        unlabelled = Review.objects.filter(human_label__isnull=True)
        assert unlabelled.exists()
        assert not unlabelled.exclude(predicted_by=new_version).exists()
        assert Review.objects.get(pk=labelled.pk).predicted_by.name == "baseline-lexicon"
        assert not Prediction.objects.filter(is_ingest=True, model_version=new_version).exists()
        assert Prediction.objects.filter(is_ingest=False, model_version=new_version).count() == unlabelled.count()

    def test_a_trained_sentiment_model_reextracts_the_cold_start_aspects_it_now_feeds(self, corpus):
        from reviews.models import ReviewAspect

        review = corpus[0].review
        ReviewAspect.objects.filter(review=review).delete()
        ReviewAspect.objects.bulk_create([ReviewAspect(review=review, category="price", polarity="conflict")])

        assert train_now().metrics["promoted"]  # no aspect model was trained: the cold start serves

        assert not ReviewAspect.objects.filter(review=review, category="price", polarity="conflict").exists()
        assert ReviewAspect.objects.filter(review=review).exists()


class TestServing:
    def test_predictions_keep_succeeding_while_a_promotion_happens(self, api, manager_headers, corpus):
        job = train_now()
        trained = ModelVersion.objects.get(name=job.metrics["model_version"])
        versions.model_version_rollback()
        forget_deployed_model()
        failures, served = [], set()
        stop = threading.Event()

        def keep_predicting():
            while not stop.is_set():
                response = api.post(
                    "/api/reviews/predict", json={"text": "Cold food, rude waiter"}, headers=manager_headers
                )
                if response.status_code != 200:
                    failures.append(response.status_code)
                else:
                    served.add(response.json()["model_version"])

        with override_settings(MODEL_REFRESH_SECONDS=0.05):
            thread = threading.Thread(target=keep_predicting)
            thread.start()
            try:
                for _ in range(3):
                    versions.model_version_promote(version=ModelVersion.objects.get(pk=trained.pk))
                    versions.model_version_rollback()
                versions.model_version_promote(version=ModelVersion.objects.get(pk=trained.pk))
                deadline = threading.Event()
                deadline.wait(0.5)
            finally:
                stop.set()
                thread.join()

        assert not failures
        assert trained.name in served
        assert get_deployed_model().name == trained.name


class TestS3Storage:
    @pytest.fixture
    def s3(self, monkeypatch, settings):
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
        }.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        bucket = f"models-{uuid.uuid4().hex[:8]}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
        settings.MODEL_S3_BUCKET = bucket
        settings.AWS_S3_ENDPOINT_URL = endpoint
        settings.MLFLOW_EXPERIMENT = f"s3-{bucket}"
        settings.MLFLOW_ARTIFACT_ROOT = f"s3://{bucket}/mlflow"
        yield boto3.client("s3", endpoint_url=endpoint), bucket
        server.stop()

    def test_model_files_and_mlflow_artifacts_go_to_s3_and_load_back(self, s3, corpus, settings, tmp_path):
        client, bucket = s3

        job = train_now()

        name = job.metrics["model_version"]
        keys = {item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]}
        assert f"models/{name}.joblib" in keys
        assert f"models/{name}.vocabulary.json" in keys
        assert any(key.startswith("mlflow/") for key in keys)
        # Another machine: an empty local cache downloads the model from S3.
        settings.MODEL_ARTIFACT_DIR = tmp_path / "cache"
        forget_deployed_model()
        assert get_deployed_model().name == name
        assert (tmp_path / "cache" / f"{name}.joblib").exists()
        assert storage.artifact_uri(f"{name}.joblib") == f"s3://{bucket}/models/{name}.joblib"


class TestBrokenModelFile:
    def test_a_champion_whose_file_cannot_load_does_not_break_serving(self, settings):
        current = get_deployed_model()
        broken = ModelVersion.objects.create(name="broken", algorithm="tfidf-logreg", artifact_path="missing.joblib")
        versions.model_version_promote(version=broken)
        settings.MODEL_REFRESH_SECONDS = 0

        served = get_deployed_model()

        assert served.name == current.name
