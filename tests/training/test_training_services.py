from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from project.outbox.models import OutboxMessage
from tests.factories import ModelVersionFactory, ReviewFactory, TrainingJobFactory
from training import jobs, registry, runner, tracking, versions
from training.models import Deployment, ModelVersion, TrainingJob

Status = TrainingJob.Status


def status_of(job: TrainingJob) -> str:
    job.refresh_from_db()
    return job.status


class TestTransitions:
    def test_only_the_first_of_two_claims_on_a_queued_job_wins(self, db):
        job = TrainingJobFactory()

        first = jobs.training_job_transition(job_id=job.pk, to=Status.RUNNING)
        second = jobs.training_job_transition(job_id=job.pk, to=Status.RUNNING)

        assert (first, second) == (True, False)
        assert status_of(job) == Status.RUNNING
        assert job.started_at is not None

    def test_a_finished_job_cannot_run_again(self, db):
        job = TrainingJobFactory(status=Status.SUCCEEDED)

        assert jobs.training_job_transition(job_id=job.pk, to=Status.RUNNING) is False
        assert status_of(job) == Status.SUCCEEDED

    @pytest.mark.parametrize("final", [Status.SUCCEEDED, Status.FAILED, Status.CANCELLED])
    def test_a_final_status_is_final(self, db, final):
        job = TrainingJobFactory(status=final)

        moved = [to for to in Status.values if jobs.training_job_transition(job_id=job.pk, to=to)]

        assert moved == []
        assert status_of(job) == final

    def test_a_queued_job_cannot_succeed_without_running(self, db):
        job = TrainingJobFactory()

        assert jobs.training_job_transition(job_id=job.pk, to=Status.SUCCEEDED) is False
        assert status_of(job) == Status.QUEUED

    def test_reaching_a_final_status_records_when_and_the_given_fields(self, db):
        job = TrainingJobFactory(status=Status.RUNNING)

        assert jobs.training_job_transition(job_id=job.pk, to=Status.FAILED, error="boom")

        job.refresh_from_db()
        assert (job.status, job.error) == (Status.FAILED, "boom")
        assert job.finished_at is not None

    def test_an_unknown_job_is_not_transitioned(self, db):
        assert jobs.training_job_transition(job_id=999_999, to=Status.RUNNING) is False


class TestRunning:
    @pytest.mark.parametrize("current", [Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED])
    def test_running_a_job_that_is_not_queued_does_nothing(self, db, current):
        job = TrainingJobFactory(status=current, progress=0.5, progress_message="halfway")

        returned = runner.training_job_run(job_id=job.pk)

        assert returned.status == current
        job.refresh_from_db()
        assert (job.status, job.progress, job.progress_message, job.error) == (current, 0.5, "halfway", "")
        assert job.started_at is None
        assert not job.model_versions.exists()

    def test_a_job_cancelled_before_it_is_picked_up_never_runs(self, db):
        job = TrainingJobFactory()
        jobs.training_job_request_cancel(job=job)

        runner.training_job_run(job_id=job.pk)

        assert status_of(job) == Status.CANCELLED
        assert job.started_at is None

    def test_a_cancel_flag_seen_while_running_cancels_the_job(self, db):
        job = TrainingJobFactory(cancel_requested=True, parameters={"min_samples": 1})

        returned = runner.training_job_run(job_id=job.pk)

        assert returned.status == Status.CANCELLED
        assert returned.error == "Cancelled on request"
        assert returned.finished_at is not None


class TestCancelling:
    def test_a_queued_job_is_cancelled_at_once(self, db):
        job = TrainingJobFactory()

        returned = jobs.training_job_request_cancel(job=job)

        assert returned.status == Status.CANCELLED
        assert returned.cancel_requested
        assert returned.finished_at is not None
        assert "before it started" in returned.error

    def test_a_running_job_only_gets_the_flag(self, db):
        job = TrainingJobFactory(status=Status.RUNNING)

        returned = jobs.training_job_request_cancel(job=job)

        assert returned.status == Status.RUNNING
        assert returned.cancel_requested

    def test_a_running_job_whose_worker_stopped_beating_is_cancelled_at_once(self, db, settings):
        settings.JOB_STUCK_AFTER_SECONDS = 60
        long_ago = timezone.now() - dt.timedelta(seconds=120)
        job = TrainingJobFactory(status=Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
        candidate = ModelVersionFactory(training_job=job, stage=ModelVersion.Stage.CANDIDATE)

        returned = jobs.training_job_request_cancel(job=job)

        assert returned.status == Status.CANCELLED and "worker had stopped" in returned.error
        assert returned.progress_message == "Cancelled"
        candidate.refresh_from_db()
        assert candidate.stage == ModelVersion.Stage.REJECTED

    def test_a_running_job_that_still_beats_keeps_running_with_the_flag(self, db, settings):
        settings.JOB_STUCK_AFTER_SECONDS = 60
        job = TrainingJobFactory(
            status=Status.RUNNING, started_at=timezone.now() - dt.timedelta(hours=1), heartbeat_at=timezone.now()
        )

        returned = jobs.training_job_request_cancel(job=job)

        assert returned.status == Status.RUNNING and returned.cancel_requested


class TestOneActiveJob:
    @pytest.mark.parametrize(("first", "second"), [("queued", "queued"), ("queued", "running"), ("running", "running")])
    def test_the_database_refuses_a_second_active_job(self, db, first, second):
        TrainingJob.objects.create(status=first)

        with pytest.raises(IntegrityError), transaction.atomic():
            TrainingJob.objects.create(status=second)

        assert TrainingJob.objects.count() == 1

    def test_finished_jobs_do_not_count(self, db):
        for status in (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED, Status.SUCCEEDED):
            TrainingJob.objects.create(status=status)

        TrainingJob.objects.create(status=Status.QUEUED)

        assert TrainingJob.objects.count() == 5

    def test_creating_a_job_while_one_is_active_names_the_active_one(self, db):
        active = TrainingJobFactory(status=Status.RUNNING)

        with pytest.raises(jobs.JobAlreadyActive) as raised:
            jobs.training_job_create(parameters={})

        assert raised.value.job.pk == active.pk


# --- Deployments are per kind of model -----------------------------------------------------------------

Kind = ModelVersion.Kind
SYNC_ALIASES, RESCORE, REEXTRACT = (
    "training.sync_registry_aliases",
    "reviews.rescore_unlabelled_reviews",
    "reviews.reextract_all_aspects",
)


def trained_sentiment_model(name: str) -> ModelVersion:
    return ModelVersionFactory(name=name, algorithm="tfidf-logreg")


def aspect_model(name: str) -> ModelVersion:
    return ModelVersionFactory(name=name, kind=Kind.ASPECTS, algorithm="aspects-tfidf-ovr-lr-tuned")


def deploy(version: ModelVersion, action: str = Deployment.Action.GATE) -> ModelVersion:
    return versions.model_version_promote(version=version, action=action)


def tasks_queued_by(deployment: Callable[[], object]) -> list[str]:
    """The background tasks a deployment put in the outbox (the test's transaction never commits: none runs)."""
    already = set(OutboxMessage.objects.values_list("id", flat=True))
    deployment()
    return list(OutboxMessage.objects.exclude(id__in=already).order_by("id").values_list("task", flat=True))


class TestRollingBackOneKindOfModel:
    def test_rolling_back_the_sentiment_model_ignores_a_later_aspect_deployment(self, db):
        baseline = registry.model_version_ensure_baseline()
        sentiment = deploy(trained_sentiment_model("sentiment-1"))
        aspects = deploy(aspect_model("aspects-1"))  # what the aspect gate does after `train --model aspects`

        rolled_back = versions.model_version_rollback(reason="bad week")

        assert rolled_back == baseline
        assert registry.current_champion() == baseline
        assert registry.current_champion(Kind.ASPECTS) == aspects
        rollback = Deployment.objects.first()
        assert (rollback.action, rollback.previous, rollback.reason) == ("rollback", sentiment, "bad week")

    def test_rolling_back_the_aspect_model_redeploys_the_previous_aspect_champion(self, db):
        registry.model_version_ensure_baseline()
        first = deploy(aspect_model("aspects-1"))
        deploy(aspect_model("aspects-2"))
        sentiment = deploy(trained_sentiment_model("sentiment-1"))

        rolled_back = versions.model_version_rollback(kind=Kind.ASPECTS)

        assert rolled_back == first
        assert registry.current_champion(Kind.ASPECTS) == first
        assert registry.current_champion() == sentiment

    def test_the_first_aspect_model_cannot_be_rolled_back_even_when_the_sentiment_model_can(self, db):
        registry.model_version_ensure_baseline()
        sentiment = deploy(trained_sentiment_model("sentiment-1"))
        aspects = deploy(aspect_model("aspects-1"))

        with pytest.raises(versions.DeploymentError, match="no earlier champion to roll back to among the aspects"):
            versions.model_version_rollback(kind=Kind.ASPECTS)
        assert registry.current_champion(Kind.ASPECTS) == aspects
        assert registry.current_champion() == sentiment

    def test_an_unknown_kind_is_refused_by_name(self, db):
        with pytest.raises(versions.DeploymentError, match="Unknown model kind 'everything'"):
            versions.model_version_rollback(kind="everything")


class TestWhatADeploymentSetsOff:
    def test_an_aspect_promotion_reextracts_aspects_and_neither_rescores_nor_moves_sentiment_aliases(self, db):
        registry.model_version_ensure_baseline()
        aspects = aspect_model("aspects-1")

        assert tasks_queued_by(lambda: deploy(aspects, Deployment.Action.MANUAL)) == [REEXTRACT]

    def test_rolling_back_an_aspect_model_reextracts_aspects_too(self, db):
        registry.model_version_ensure_baseline()
        deploy(aspect_model("aspects-1"))
        deploy(aspect_model("aspects-2"))

        assert tasks_queued_by(lambda: versions.model_version_rollback(kind=Kind.ASPECTS)) == [REEXTRACT]

    def test_promoting_a_sentiment_model_under_a_trained_aspect_model_rescores_and_moves_the_aliases(self, db):
        registry.model_version_ensure_baseline()
        deploy(aspect_model("aspects-1"))

        assert tasks_queued_by(lambda: deploy(trained_sentiment_model("sentiment-1"))) == [SYNC_ALIASES, RESCORE]

    def test_without_an_aspect_champion_a_sentiment_deployment_reextracts_the_cold_start_aspects(self, db):
        # The cold-start aspect model reads clause polarity from the sentiment champion (unless that is the
        # lexicon baseline): every stored model-made aspect polarity may change with it.
        registry.model_version_ensure_baseline()
        first = trained_sentiment_model("sentiment-1")

        assert tasks_queued_by(lambda: deploy(first)) == [SYNC_ALIASES, RESCORE, REEXTRACT]
        second = trained_sentiment_model("sentiment-2")
        assert tasks_queued_by(lambda: deploy(second, Deployment.Action.MANUAL)) == [SYNC_ALIASES, RESCORE, REEXTRACT]
        assert tasks_queued_by(lambda: versions.model_version_rollback()) == [SYNC_ALIASES, RESCORE, REEXTRACT]

    def test_rolling_back_to_the_baseline_reextracts_the_cold_start_aspects_with_vader_again(self, db):
        registry.model_version_ensure_baseline()
        deploy(trained_sentiment_model("sentiment-1"))

        assert tasks_queued_by(lambda: versions.model_version_rollback()) == [SYNC_ALIASES, RESCORE, REEXTRACT]

    def test_a_lexicon_model_replacing_the_baseline_leaves_the_cold_start_aspects_alone(self, db):
        registry.model_version_ensure_baseline()

        assert tasks_queued_by(lambda: deploy(ModelVersionFactory(algorithm="vader-lexicon"))) == [
            SYNC_ALIASES,
            RESCORE,
        ]

    def test_without_sentiment_features_the_cold_start_aspects_ignore_the_sentiment_model(self, db, settings):
        settings.ASPECT_SENTIMENT_FEATURES = False
        registry.model_version_ensure_baseline()

        assert tasks_queued_by(lambda: deploy(trained_sentiment_model("sentiment-1"))) == [SYNC_ALIASES, RESCORE]

    def test_rescoring_ignores_a_version_that_is_not_a_sentiment_model(self, db, monkeypatch):
        from training import registry
        from training.rescoring import review_rescore_batch

        review = ReviewFactory()
        registry.model_version_ensure_baseline()
        aspects = aspect_model("aspects-1")
        ModelVersion.objects.filter(pk=aspects.pk).update(stage=ModelVersion.Stage.CHAMPION)
        loaded, load_model = [], registry.load_model
        monkeypatch.setattr(registry, "load_model", lambda version: loaded.append(version.name) or load_model(version))

        assert review_rescore_batch(model_version_id=aspects.pk, after_id=0, size=10) is None
        assert "aspects-1" not in loaded
        review.refresh_from_db()
        assert review.predicted_by is None


class TestMlflowAliases:
    @pytest.fixture
    def mlflow_calls(self, settings, monkeypatch) -> list[tuple]:
        settings.MLFLOW_ENABLED = True
        calls: list[tuple] = []
        monkeypatch.setattr(tracking, "set_alias", lambda alias, version: calls.append(("alias", alias, version)))
        monkeypatch.setattr(
            tracking, "log_model_version", lambda **kw: calls.append(("register", kw["version_name"])) or ("run", "9")
        )
        return calls

    def test_an_aspect_model_never_gets_the_sentiment_models_aliases_or_a_version_of_it(self, db, mlflow_calls):
        older, newer = aspect_model("aspects-1"), aspect_model("aspects-2")
        ModelVersion.objects.filter(pk=newer.pk).update(stage=ModelVersion.Stage.CHAMPION)

        versions.model_version_sync_aliases(version_id=newer.pk, previous_id=older.pk)

        assert mlflow_calls == []
        assert ModelVersion.objects.get(pk=newer.pk).mlflow_version == ""

    def test_a_sentiment_champion_gets_champion_and_its_predecessor_challenger(self, db, mlflow_calls):
        older = ModelVersionFactory(name="sentiment-1", mlflow_version="3")
        newer = deploy(ModelVersionFactory(name="sentiment-2", mlflow_version="4"))

        versions.model_version_sync_aliases(version_id=newer.pk, previous_id=older.pk)

        assert mlflow_calls == [("alias", "champion", "4"), ("alias", "challenger", "3")]
