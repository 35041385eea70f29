from __future__ import annotations

import random

import pytest

from tests.factories import TrainingJobFactory
from training.ml.holdout import in_evaluation_bucket
from training.models import ModelVersion, TrainingJob

POSITIVE = [
    "The food was delicious",
    "Amazing service from start to finish",
    "Wonderful atmosphere",
    "We loved the desserts",
    "Friendly and attentive staff",
    "Great value for money",
    "Fantastic cocktails",
    "Excellent fresh pasta",
    "Best pizza in town",
    "A perfect evening",
]
NEGATIVE = [
    "The food was cold and bland",
    "Terrible service",
    "The waiter was rude",
    "An awful experience",
    "Dirty tables and sticky floors",
    "A horrible smell in the dining room",
    "Overpriced and disappointing",
    "We waited forever and nobody apologised",
    "The worst burger I have ever had",
    "Never again",
]
NEUTRAL = [
    "We had lunch on a Tuesday",
    "The restaurant is near the station",
    "It was an ordinary meal",
    "Portions were average",
    "The menu has pizza and pasta",
    "We paid by card",
    "Parking is across the street",
    "It is open until ten",
    "We sat by the window",
    "The place was half full",
]


def rated_reviews(count_per_class: int, seed: int = 7) -> list[dict]:
    """Varied texts whose stars agree with their tone: 5 positive, 1 negative, 3 neutral."""
    rng = random.Random(seed)
    reviews = []
    for phrases, rating in ((POSITIVE, 5), (NEGATIVE, 1), (NEUTRAL, 3)):
        for _ in range(count_per_class):
            first, second = rng.sample(phrases, 2)
            reviews.append({"text": f"{first}. {second}.", "rating": rating, "source": "google"})
    rng.shuffle(reviews)
    return reviews


def ingest(api, headers, reviews: list[dict]) -> None:
    response = api.post("/api/reviews/bulk", json={"reviews": reviews}, headers=headers)
    assert response.status_code == 200
    assert response.json()["created"] == len(reviews)


def start(api, headers, **body):
    return api.post("/api/training/start", json=body, headers=headers)


@pytest.fixture(autouse=True)
def _fast_password_hashing_and_private_artifacts(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MODEL_ARTIFACT_DIR = tmp_path / "models"


class TestStartingAJob:
    def test_it_accepts_the_job_and_the_job_has_run_by_the_time_the_response_returns(self, api, manager_headers):
        response = start(api, manager_headers, min_samples=10)

        assert response.status_code == 202
        body = response.json()
        assert set(body) == {"job_id", "status"}
        assert body["status"] == "queued"
        status = api.get(f"/api/training/status/{body['job_id']}", headers=manager_headers).json()
        assert status["job_id"] == body["job_id"]
        assert status["status"] in {"succeeded", "failed", "cancelled"}
        assert status["finished_at"] is not None
        assert status["trigger"] == "api"
        assert status["parameters"]["min_samples"] == 10

    def test_an_empty_body_uses_the_default_minimum(self, api, manager_headers):
        response = api.post("/api/training/start", headers=manager_headers)

        assert response.status_code == 202
        assert TrainingJob.objects.get().parameters["min_samples"] == 50

    def test_too_few_rated_reviews_fail_the_job_saying_how_many_were_found(self, api, manager_headers):
        ingest(api, manager_headers, rated_reviews(1))
        ingest(api, manager_headers, [{"text": "No stars and no label"}])

        job_id = start(api, manager_headers, min_samples=10).json()["job_id"]

        status = api.get(f"/api/training/status/{job_id}", headers=manager_headers).json()
        assert status["status"] == "failed"
        assert "found 3" in status["error"]
        assert not ModelVersion.objects.filter(training_job_id=job_id).exists()

    def test_enough_rated_reviews_train_and_evaluate_a_model(self, api, manager_headers):
        ingest(api, manager_headers, rated_reviews(40))

        job_id = start(api, manager_headers, min_samples=50).json()["job_id"]

        status = api.get(f"/api/training/status/{job_id}", headers=manager_headers).json()
        assert status["status"] == "succeeded", status["error"]
        assert status["progress"] == 1.0
        assert status["metrics"]["decision"]
        assert 0.0 <= status["metrics"]["candidate"]["macro_f1"] <= 1.0
        assert ModelVersion.objects.filter(training_job_id=job_id).exists()

    def test_a_second_start_while_a_job_is_queued_is_a_conflict_naming_that_job(self, api, manager_headers):
        queued = TrainingJobFactory(status=TrainingJob.Status.QUEUED)

        response = start(api, manager_headers, min_samples=10)

        assert response.status_code == 409
        assert f"Training job {queued.pk} " in response.json()["detail"]
        assert (response.json()["job_id"], response.json()["job_status"]) == (queued.pk, "queued")
        assert TrainingJob.objects.count() == 1

    def test_a_running_job_also_blocks_a_new_one(self, api, manager_headers):
        running = TrainingJobFactory(status=TrainingJob.Status.RUNNING)

        response = start(api, manager_headers, min_samples=10)

        assert response.status_code == 409
        assert str(running.pk) in response.json()["detail"]

    def test_finished_jobs_do_not_block_a_new_one(self, api, manager_headers):
        TrainingJobFactory(status=TrainingJob.Status.FAILED)
        TrainingJobFactory(status=TrainingJob.Status.SUCCEEDED)

        assert start(api, manager_headers, min_samples=10).status_code == 202

    @pytest.mark.parametrize("min_samples", [0, -1, "abc", 1.5, None])
    def test_an_invalid_minimum_is_422_naming_the_field(self, api, manager_headers, min_samples):
        response = start(api, manager_headers, min_samples=min_samples)

        assert response.status_code == 422
        assert "body.min_samples" in [error["field"] for error in response.json()["errors"]]
        assert not TrainingJob.objects.exists()

    def test_the_model_kind_is_passed_to_the_job_and_an_unknown_kind_is_422(self, api, manager_headers):
        rejected = start(api, manager_headers, kind="enormous")
        accepted = start(api, manager_headers, kind="accurate", min_samples=10)

        assert rejected.status_code == 422 and "body.kind" in [e["field"] for e in rejected.json()["errors"]]
        assert accepted.status_code == 202
        assert TrainingJob.objects.get(pk=accepted.json()["job_id"]).parameters["kind"] == "accurate"

    def test_an_unknown_parameter_is_422(self, api, manager_headers):
        response = start(api, manager_headers, epochs=3)

        assert response.status_code == 422
        assert "body.epochs" in response.json()["detail"]


class TestFollowingJobs:
    def test_an_unknown_job_is_404(self, api, manager_headers):
        response = api.get("/api/training/status/999999", headers=manager_headers)

        assert response.status_code == 404
        assert "999999" in response.json()["detail"]

    def test_a_job_id_that_is_not_a_positive_number_is_422(self, api, manager_headers):
        assert api.get("/api/training/status/0", headers=manager_headers).status_code == 422
        assert api.get("/api/training/status/abc", headers=manager_headers).status_code == 422

    def test_the_job_list_is_newest_first(self, api, labeller_headers):
        jobs = [
            TrainingJobFactory(status=TrainingJob.Status.SUCCEEDED),
            TrainingJobFactory(status=TrainingJob.Status.FAILED),
            TrainingJobFactory(status=TrainingJob.Status.QUEUED),
        ]

        body = api.get("/api/training/jobs", headers=labeller_headers).json()

        assert body["total"] == 3
        assert [job["job_id"] for job in body["results"]] == [job.pk for job in reversed(jobs)]
        assert [job["status"] for job in body["results"]] == ["queued", "failed", "succeeded"]

    def test_the_job_list_honours_its_limit(self, api, labeller_headers):
        jobs = [TrainingJobFactory(status=TrainingJob.Status.FAILED) for _ in range(3)]

        body = api.get("/api/training/jobs?limit=2", headers=labeller_headers).json()

        assert body["total"] == 3
        assert [job["job_id"] for job in body["results"]] == [jobs[2].pk, jobs[1].pk]


class TestModelsAndReadiness:
    def test_models_lists_versions_with_the_champion(self, api, labeller_headers):
        body = api.get("/api/training/models", headers=labeller_headers).json()

        assert body["champion"] == "baseline-lexicon"
        assert body["results"][0]["deployments"][0]["action"] == "initial"

    def test_manual_promotion_and_rollback_over_the_api(self, api, manager_headers, labeller_headers):
        from tests.factories import ModelVersionFactory

        other = ModelVersionFactory(name="sentiment-manual")

        assert api.post(f"/api/training/models/{other.name}/promote", headers=labeller_headers).status_code == 403
        promoted = api.post(
            f"/api/training/models/{other.name}/promote", json={"reason": "trying it"}, headers=manager_headers
        )
        assert promoted.status_code == 200
        assert promoted.json()["stage"] == "champion"
        assert promoted.json()["deployments"][0]["reason"] == "trying it"
        assert promoted.json()["deployments"][0]["by"].startswith("user")
        again = api.post(f"/api/training/models/{other.name}/promote", headers=manager_headers)
        assert again.status_code == 409
        rolled = api.post("/api/training/rollback", headers=manager_headers)
        assert rolled.json()["name"] == "baseline-lexicon"
        assert api.post("/api/training/models/nope/promote", headers=manager_headers).status_code == 404

    def test_rollback_rolls_back_the_sentiment_model_unless_told_the_kind(self, api, manager_headers):
        from tests.factories import ModelVersionFactory

        sentiment = ModelVersionFactory(name="sentiment-manual", algorithm="tfidf-logreg")
        first, second = (ModelVersionFactory(name=f"aspects-{n}", kind="aspects", algorithm="aspects") for n in (1, 2))
        for version in (sentiment, first, second):  # the aspect models last, as `train --model aspects` after `train`
            assert api.post(f"/api/training/models/{version.name}/promote", headers=manager_headers).status_code == 200

        sentiment_rollback = api.post("/api/training/rollback", json={"reason": "bad week"}, headers=manager_headers)
        aspect_rollback = api.post("/api/training/rollback", json={"kind": "aspects"}, headers=manager_headers)
        again = api.post("/api/training/rollback", json={"kind": "aspects"}, headers=manager_headers)

        assert sentiment_rollback.status_code == 200
        assert [sentiment_rollback.json()[key] for key in ("name", "kind")] == ["baseline-lexicon", "sentiment"]
        assert [aspect_rollback.json()[key] for key in ("name", "kind")] == ["aspects-1", "aspects"]
        # Not back to aspects-2, the model just rolled away from: nothing came before aspects-1.
        assert again.status_code == 409 and "no earlier champion" in again.json()["detail"]
        assert ModelVersion.objects.get(name="aspects-1").stage == "champion"
        assert ModelVersion.objects.get(name="baseline-lexicon").stage == "champion"

    def test_rolling_back_a_kind_without_an_earlier_champion_is_a_conflict_saying_so(self, api, manager_headers):
        from tests.factories import ModelVersionFactory

        ModelVersionFactory(name="aspects-1", kind="aspects", algorithm="aspects")
        api.post("/api/training/models/aspects-1/promote", headers=manager_headers)

        response = api.post("/api/training/rollback", json={"kind": "aspects"}, headers=manager_headers)

        assert response.status_code == 409
        assert response.json()["detail"] == "There is no earlier champion to roll back to among the aspects models"

    def test_an_unknown_rollback_kind_is_422_naming_the_kinds(self, api, manager_headers):
        response = api.post("/api/training/rollback", json={"kind": "everything"}, headers=manager_headers)

        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["field"] == "body.kind"
        assert "'sentiment', 'aspects' or 'suggestions'" in error["message"]

    def test_readiness_counts_new_data_since_the_last_training(self, api, manager_headers, settings):
        settings.RETRAIN_MIN_NEW_RATED = 3
        ids = [
            api.post("/api/reviews/", json={"text": f"Great {i}", "rating": 4}, headers=manager_headers).json()["id"]
            for i in range(12)
        ]
        trainable = sum(not in_evaluation_bucket(review_id) for review_id in ids)  # the held-out ones never train

        body = api.get("/api/training/readiness", headers=manager_headers).json()

        assert (body["new_rated"], body["rated_needed"], body["ready"]) == (
            trainable,
            max(0, 3 - trainable),
            trainable >= 3,
        )
        assert body["labels_needed"] == body["min_new_labels"]
