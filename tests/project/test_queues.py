"""Celery workers on separate queues share the work: training never starves ingest.

Real worker processes (tests/live.py) on the configured broker (Redis in CI) and the test database."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import psycopg
import pytest
from django.conf import settings

from analytics.tasks import refresh_rollups
from project.celery import BULK_QUEUE, DEFAULT_QUEUE, TRAINING_QUEUE
from project.celery import app as celery_app
from reviews.models import Review
from tests import live
from tests.live import Worker, running_worker
from training.jobs import training_job_create
from training.models import TrainingJob
from training.registry import model_version_ensure_baseline
from training.tasks import extract_aspects, extract_fresh_aspects, rescore_unlabelled_reviews, run_training_job

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
TASK_LINE = re.compile(r"Task ([\w.]+)\[[0-9a-f-]+\] (received|succeeded)")


def queue_of(task_name: str) -> str:
    return celery_app.conf.task_routes.get(task_name, {}).get("queue", DEFAULT_QUEUE)


def tasks(worker: Worker, state: str) -> list[str]:
    return [name for name, seen in TASK_LINE.findall(worker.read_text()) if seen == state]


def wait_until(condition: Callable[[], bool], what: str, worker: Worker, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{worker.read_text()[-3000:]}")
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited while waiting for {what}:\n{worker.read_text()[-3000:]}")
        time.sleep(0.2)


def rated_reviews(count: int) -> list[int]:
    phrases = [(5, "Delicious food and friendly staff."), (1, "Cold food and a rude waiter."), (3, "It was fine.")]
    Review.objects.bulk_create(
        [
            Review(text=f"{phrases[i % 3][1]} Visit {i}.", rating=phrases[i % 3][0], source="queues")
            for i in range(count)
        ]
    )
    return list(Review.objects.order_by("id").values_list("id", flat=True))


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="holds a row lock, which SQLite does not have")
def test_a_training_worker_and_an_ingest_worker_run_only_their_queues_and_ingest_goes_on_during_training(broker):
    review_ids = rated_reviews(60)
    baseline = model_version_ensure_baseline()
    job = training_job_create(parameters={"min_samples": 20})
    # Keep the training worker busy for as long as this test needs: its first step, the
    # QUEUED -> RUNNING compare-and-set, waits for this lock on the job's row.
    lock = psycopg.connect(live.test_database_url().replace("postgres://", "postgresql://", 1))
    lock.execute("SELECT id FROM training_trainingjob WHERE id = %s FOR UPDATE", [job.pk])
    try:
        with (
            running_worker(queues=TRAINING_QUEUE, name="training") as training,
            running_worker(queues=f"{DEFAULT_QUEUE},{BULK_QUEUE}", name="ingest") as ingest,
        ):
            run_training_job.delay(job.pk)
            wait_until(lambda: "training.run_training_job" in tasks(training, "received"), "the training job", training)

            # Ingest work while the training worker is busy with the job.
            extract_aspects.delay(review_ids[:30])
            extract_aspects.delay(review_ids[30:])
            rescore_unlabelled_reviews.delay(baseline.pk)
            refresh_rollups.delay()
            expected = ["analytics.refresh_rollups", "reviews.extract_aspects", "reviews.rescore_unlabelled_reviews"]
            wait_until(
                lambda: len(tasks(ingest, "succeeded")) >= 4 and set(expected) <= set(tasks(ingest, "succeeded")),
                "the ingest tasks",
                ingest,
            )
            job.refresh_from_db()
            assert job.status == TrainingJob.Status.QUEUED  # the training worker was still busy with it
            assert "training.run_training_job" not in tasks(training, "succeeded")

            lock.rollback()  # let the training go on
            wait_until(lambda: "training.run_training_job" in tasks(training, "succeeded"), "training", training, 180)
            job.refresh_from_db()
            assert job.status == TrainingJob.Status.SUCCEEDED, (job.error, training.read_text()[-3000:])

            assert set(tasks(training, "received")) == {"training.run_training_job"}
            # The ingest worker ran the ingest tasks and what the promotion queued (alias sync, rescoring).
            assert {queue_of(name) for name in tasks(ingest, "received")} <= {DEFAULT_QUEUE, BULK_QUEUE}
    finally:
        lock.close()


def test_a_posted_review_gets_its_aspects_while_an_imports_batches_still_wait(broker):
    review_ids = rated_reviews(4)
    extract_aspects.delay(review_ids[:2])  # an import's batch: bulk queue
    extract_fresh_aspects.delay(review_ids[2:])  # reviews posted one by one: default queue
    # A worker on the default queue alone stands for the moment the bulk queue is still busy with an import.
    with running_worker(queues=DEFAULT_QUEUE, name="default-only") as worker:
        wait_until(lambda: "reviews.extract_fresh_aspects" in tasks(worker, "succeeded"), "the fresh reviews", worker)
        assert "reviews.extract_aspects" not in tasks(worker, "received")
    assert set(Review.objects.filter(aspects__isnull=False).values_list("id", flat=True)) == set(review_ids[2:])


def test_a_plain_worker_consumes_every_declared_queue(broker):
    with running_worker() as worker:
        for queue in (DEFAULT_QUEUE, BULK_QUEUE, TRAINING_QUEUE):
            extract_aspects.apply_async(args=[[]], queue=queue)
        wait_until(lambda: len(tasks(worker, "succeeded")) == 3, "a task from each queue", worker)
        banner = worker.read_text()
        for queue in (DEFAULT_QUEUE, BULK_QUEUE, TRAINING_QUEUE):
            assert re.search(rf"\.> {queue}\s+exchange=\S+ key={queue}\n", banner), banner[:3000]
