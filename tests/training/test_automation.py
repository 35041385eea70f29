"""Schedules, exactly-once runs, retraining decisions, weekly evaluation and the stuck-job sweep."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from reviews.models import Review
from reviews.schemas import ReviewIn
from reviews.services import review_bulk_create
from tests.factories import trainable_reviews
from training import automation, jobs, registry, retraining, versions
from training.ml import holdout
from training.ml.holdout import in_evaluation_bucket
from training.models import EvaluationReport, ModelVersion, ScheduledRun, TrainingJob
from training.schedules import SCHEDULES

pytestmark = pytest.mark.django_db(transaction=True)


def sync(*args) -> str:
    out = StringIO()
    call_command("sync_schedules", *args, stdout=out)
    return out.getvalue()


class TestSchedules:
    def test_sync_creates_every_schedule_in_canonical_crontab_form(self, settings):
        sync()

        tasks = {task.name: task for task in PeriodicTask.objects.select_related("crontab")}
        assert set(tasks) == {
            "retrain-daily",
            "evaluate-weekly",
            "monitor-hourly",
            "sweep-stuck-jobs",
            "refresh-rollups",
            "rebuild-rollups-nightly",
            "refresh-aspect-rollups",
            "rebuild-aspect-rollups-nightly",
            "relay-outbox",
            "weekly-digest",
        }
        retrain = tasks["retrain-daily"].crontab
        assert (retrain.minute, retrain.hour, retrain.day_of_week) == ("0", "2", "*")
        evaluate = tasks["evaluate-weekly"].crontab
        assert (evaluate.minute, evaluate.hour, evaluate.day_of_week) == ("0", "3", "0")
        assert str(retrain.timezone) == settings.TIME_ZONE
        assert "retrain" in tasks["retrain-daily"].task and "evaluat" in tasks["evaluate-weekly"].task
        assert "monitor" in tasks["monitor-hourly"].task
        digest = tasks["weekly-digest"].crontab
        assert (digest.minute, digest.hour, digest.day_of_week) == ("0", "7", "1")  # Mondays at 07:00 site time

    def test_sync_is_idempotent_and_keeps_admin_edits(self):
        sync()
        PeriodicTask.objects.filter(name="retrain-daily").update(enabled=False)

        out = sync()

        assert PeriodicTask.objects.count() == len(SCHEDULES)
        assert CrontabSchedule.objects.count() == len({(s.minute, s.hour, s.day_of_week) for s in SCHEDULES})
        assert "kept retrain-daily" in out
        assert PeriodicTask.objects.get(name="retrain-daily").enabled is False
        sync("--reset")
        assert PeriodicTask.objects.get(name="retrain-daily").enabled is True

    def test_every_scheduled_task_exists(self):
        from project.celery import app

        app.loader.import_default_modules()
        assert {schedule.task for schedule in SCHEDULES} <= set(app.tasks)

    @pytest.mark.parametrize(
        ("last_run", "next_utc"),
        [
            # Berlin switches to summer time on 2026-03-29 and back on 2026-10-25: 02:00 local stays 02:00 local.
            (dt.datetime(2026, 3, 27, 2, 0), dt.datetime(2026, 3, 28, 1, 0)),
            (dt.datetime(2026, 3, 29, 3, 0), dt.datetime(2026, 3, 30, 0, 0)),
            (dt.datetime(2026, 10, 24, 2, 0), dt.datetime(2026, 10, 25, 0, 0)),
            (dt.datetime(2026, 10, 25, 2, 30), dt.datetime(2026, 10, 26, 1, 0)),
        ],
    )
    def test_daily_retraining_stays_at_two_in_the_morning_across_daylight_saving(self, settings, last_run, next_utc):
        settings.TIME_ZONE = "Europe/Berlin"
        sync()
        schedule = PeriodicTask.objects.get(name="retrain-daily").crontab
        schedule.timezone = "Europe/Berlin"
        berlin = ZoneInfo("Europe/Berlin")

        start, delta, _ = schedule.schedule.remaining_delta(last_run.replace(tzinfo=berlin))

        assert (start + delta).astimezone(dt.UTC).replace(tzinfo=None) == next_utc
        assert (start + delta).astimezone(berlin).hour == 2


class TestExactlyOnce:
    def test_a_second_claim_on_the_same_slot_is_refused(self):
        first = automation.scheduled_run_claim(task="retrain-daily", slot="2026-11-27")
        second = automation.scheduled_run_claim(task="retrain-daily", slot="2026-11-27")

        assert first is not None and second is None
        assert automation.scheduled_run_claim(task="retrain-daily", slot="2026-11-28") is not None

    def test_slots_follow_local_time(self, settings):
        settings.TIME_ZONE = "Asia/Kolkata"
        moment = dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)  # 01:30 on the 28th in India

        with timezone.override("Asia/Kolkata"):
            assert automation.current_slot("day", moment) == "2026-11-28"
            assert automation.current_slot("hour", moment) == "2026-11-28T01"
            assert automation.current_slot("week", moment) == "2026-W48"


class TestDailyRetraining:
    def test_it_skips_with_the_numbers_when_there_is_too_little_new_data(self, settings):
        settings.RETRAIN_MIN_NEW_RATED = 10
        trainable_reviews(3, rating=5)

        run = automation.retrain_if_needed(slot="2026-11-27")

        assert run.outcome == ScheduledRun.Outcome.SKIPPED
        assert "3 new rated reviews (need 10)" in run.reason
        assert not TrainingJob.objects.exists()

    def test_it_starts_one_job_when_enough_data_arrived_even_if_fired_twice(self, settings):
        settings.RETRAIN_MIN_NEW_RATED = 3
        trainable_reviews(3, rating=5)

        first = automation.retrain_if_needed(slot="2026-11-27")
        second = automation.retrain_if_needed(slot="2026-11-27")

        assert first.outcome == ScheduledRun.Outcome.DONE
        assert second is None
        job = TrainingJob.objects.get()
        assert job.trigger == TrainingJob.Trigger.SCHEDULE
        assert first.training_job == job

    def test_reviews_training_never_uses_do_not_count_as_new_data(self, settings):
        settings.RETRAIN_MIN_NEW_RATED = 1
        settings.TRAIN_INCLUDE_NON_ENGLISH = False
        held_out = next(r for r in trainable_reviews(30, rating=5) if in_evaluation_bucket(r.pk))
        Review.objects.exclude(pk=held_out.pk).update(is_english=False)

        run = automation.retrain_if_needed(slot="2026-11-27")

        assert run.outcome == ScheduledRun.Outcome.SKIPPED
        assert "0 new rated reviews (need 1)" in run.reason

    def test_past_the_exact_limit_readiness_counts_the_expected_share_outside_the_evaluation_bucket(self, monkeypatch):
        review_bulk_create(items=[ReviewIn(text=f"Nice {i}", rating=5) for i in range(30)])
        monkeypatch.setattr(retraining, "EXACT_TRAINING_COUNT_LIMIT", 10)

        assert retraining.retraining_need()["new_rated"] == round(30 * (100 - holdout.EVALUATION_SHARE_PERCENT) / 100)

    def test_it_skips_while_another_job_is_active(self, settings):
        settings.RETRAIN_MIN_NEW_RATED = 1
        trainable_reviews(1, rating=5)
        TrainingJob.objects.create(status=TrainingJob.Status.RUNNING)

        run = automation.retrain_if_needed(slot="2026-11-27")

        assert run.outcome == ScheduledRun.Outcome.SKIPPED
        assert "already running" in run.reason


class TestWeeklyEvaluation:
    def test_it_stores_a_report_with_metrics_fresh_labels_and_sample_errors(self):
        # Half the positive texts carry one star, so the evaluation set (ids by hash) surely holds mistakes.
        pairs = [("Wonderful, loved it", 5), ("Terrible, awful", 1), ("Wonderful, loved it", 1)] * 40
        items = [ReviewIn(text=t, rating=r) for t, r in pairs]
        results = review_bulk_create(items=items)
        Review.objects.filter(pk__in=[r.review.pk for r in results[:10]]).update(
            human_label="negative", human_labelled_at=timezone.now()
        )

        run = automation.evaluate_champion(slot="2026-W48")

        assert run.outcome == ScheduledRun.Outcome.DONE
        report = EvaluationReport.objects.get()
        assert report.model_version.name == "baseline-lexicon"
        assert {"macro_f1", "ece", "brier", "confusion_matrix"} <= set(report.metrics)
        assert report.fresh_labels["n"] == 10
        assert report.sample_errors and {"text", "label", "predicted", "confidence"} <= set(report.sample_errors[0])
        assert report.mlflow_run_id  # logged to MLflow too
        assert automation.evaluate_champion(slot="2026-W48") is None

    def test_fresh_labels_leave_out_those_the_champion_learned_from(self):
        results = review_bulk_create(items=[ReviewIn(text=f"Lovely visit {i}") for i in range(40)])
        ids = [r.review.pk for r in results]
        job = TrainingJob.objects.create(status=TrainingJob.Status.SUCCEEDED, started_at=timezone.now())
        before, after = job.started_at - dt.timedelta(hours=1), job.started_at + dt.timedelta(hours=1)
        Review.objects.filter(pk__in=ids[:20]).update(human_label="positive", human_labelled_at=before)
        Review.objects.filter(pk__in=ids[20:]).update(human_label="positive", human_labelled_at=after)
        registry.model_version_ensure_baseline()
        champion = ModelVersion.objects.create(name="trained", algorithm="vader-lexicon", training_job=job)
        versions.model_version_promote(version=champion)

        automation.evaluate_champion(slot="2026-W48")

        held_out_before = sum(holdout.in_evaluation_bucket(pk) for pk in ids[:20])
        assert EvaluationReport.objects.get().fresh_labels["n"] == 20 + held_out_before


class TestStuckJobSweep:
    def test_a_job_whose_worker_stopped_beating_is_failed_and_its_candidate_never_promoted(self, settings):
        long_ago = timezone.now() - dt.timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS + 60)
        stuck = TrainingJob.objects.create(
            status=TrainingJob.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago
        )
        half_done = ModelVersion.objects.create(name="half", algorithm="tfidf-logreg", training_job=stuck)
        alive = TrainingJob.objects.create(status=TrainingJob.Status.SUCCEEDED)
        champion = registry.current_champion() or registry.model_version_ensure_baseline()

        assert jobs.training_job_sweep_stuck() == [stuck.pk]

        stuck.refresh_from_db()
        assert stuck.status == TrainingJob.Status.FAILED
        assert "Worker lost" in stuck.error
        assert ModelVersion.objects.get(pk=half_done.pk).stage == ModelVersion.Stage.REJECTED
        assert registry.current_champion() == champion
        assert TrainingJob.objects.get(pk=alive.pk).status == TrainingJob.Status.SUCCEEDED

    def test_a_job_with_a_fresh_heartbeat_is_left_alone(self):
        TrainingJob.objects.create(
            status=TrainingJob.Status.RUNNING,
            started_at=timezone.now() - dt.timedelta(hours=2),
            heartbeat_at=timezone.now(),
        )

        assert jobs.training_job_sweep_stuck() == []
