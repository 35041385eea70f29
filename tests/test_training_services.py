from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from tests.factories import TrainingJobFactory
from training import services
from training.models import TrainingJob

Status = TrainingJob.Status


def status_of(job: TrainingJob) -> str:
    job.refresh_from_db()
    return job.status


class TestTransitions:
    def test_only_the_first_of_two_claims_on_a_queued_job_wins(self, db):
        job = TrainingJobFactory()

        first = services.training_job_transition(job_id=job.pk, to=Status.RUNNING)
        second = services.training_job_transition(job_id=job.pk, to=Status.RUNNING)

        assert (first, second) == (True, False)
        assert status_of(job) == Status.RUNNING
        assert job.started_at is not None

    def test_a_finished_job_cannot_run_again(self, db):
        job = TrainingJobFactory(status=Status.SUCCEEDED)

        assert services.training_job_transition(job_id=job.pk, to=Status.RUNNING) is False
        assert status_of(job) == Status.SUCCEEDED

    @pytest.mark.parametrize("final", [Status.SUCCEEDED, Status.FAILED, Status.CANCELLED])
    def test_a_final_status_is_final(self, db, final):
        job = TrainingJobFactory(status=final)

        moved = [to for to in Status.values if services.training_job_transition(job_id=job.pk, to=to)]

        assert moved == []
        assert status_of(job) == final

    def test_a_queued_job_cannot_succeed_without_running(self, db):
        job = TrainingJobFactory()

        assert services.training_job_transition(job_id=job.pk, to=Status.SUCCEEDED) is False
        assert status_of(job) == Status.QUEUED

    def test_reaching_a_final_status_records_when_and_the_given_fields(self, db):
        job = TrainingJobFactory(status=Status.RUNNING)

        assert services.training_job_transition(job_id=job.pk, to=Status.FAILED, error="boom")

        job.refresh_from_db()
        assert (job.status, job.error) == (Status.FAILED, "boom")
        assert job.finished_at is not None

    def test_an_unknown_job_is_not_transitioned(self, db):
        assert services.training_job_transition(job_id=999_999, to=Status.RUNNING) is False


class TestRunning:
    @pytest.mark.parametrize("current", [Status.RUNNING, Status.SUCCEEDED, Status.FAILED, Status.CANCELLED])
    def test_running_a_job_that_is_not_queued_does_nothing(self, db, current):
        job = TrainingJobFactory(status=current, progress=0.5, progress_message="halfway")

        returned = services.training_job_run(job_id=job.pk)

        assert returned.status == current
        job.refresh_from_db()
        assert (job.status, job.progress, job.progress_message, job.error) == (current, 0.5, "halfway", "")
        assert job.started_at is None
        assert not job.model_versions.exists()

    def test_a_job_cancelled_before_it_is_picked_up_never_runs(self, db):
        job = TrainingJobFactory()
        services.training_job_request_cancel(job=job)

        services.training_job_run(job_id=job.pk)

        assert status_of(job) == Status.CANCELLED
        assert job.started_at is None

    def test_a_cancel_flag_seen_while_running_cancels_the_job(self, db):
        job = TrainingJobFactory(cancel_requested=True, parameters={"min_samples": 1})

        returned = services.training_job_run(job_id=job.pk)

        assert returned.status == Status.CANCELLED
        assert returned.error == "Cancelled on request"
        assert returned.finished_at is not None


class TestCancelling:
    def test_a_queued_job_is_cancelled_at_once(self, db):
        job = TrainingJobFactory()

        returned = services.training_job_request_cancel(job=job)

        assert returned.status == Status.CANCELLED
        assert returned.cancel_requested
        assert returned.finished_at is not None
        assert "before it started" in returned.error

    def test_a_running_job_only_gets_the_flag(self, db):
        job = TrainingJobFactory(status=Status.RUNNING)

        returned = services.training_job_request_cancel(job=job)

        assert returned.status == Status.RUNNING
        assert returned.cancel_requested


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

        with pytest.raises(services.JobAlreadyActive) as raised:
            services.training_job_create(parameters={})

        assert raised.value.job.pk == active.pk
