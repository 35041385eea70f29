"""Training jobs: create, queue, guarded status changes, cancel, the stuck-job sweep, heartbeat and progress."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, close_old_connections, models, transaction
from django.utils import timezone

from project.outbox.services import outbox_enqueue
from training.models import ModelVersion, TrainingJob

logger = logging.getLogger(__name__)

DEFAULT_MIN_SAMPLES = 50


class TrainingError(Exception):
    """A job cannot proceed; the message is shown to the user as the job's error."""


class JobCancelled(Exception):
    pass


class JobAlreadyActive(Exception):
    def __init__(self, job: TrainingJob) -> None:
        super().__init__(f"Training job {job.pk} is already {job.status}")
        self.job = job


def training_job_create(
    *, parameters: dict, trigger: str = TrainingJob.Trigger.API, requested_by_id: int | None = None
) -> TrainingJob:
    """Queue a job; refuses while another is queued or running (one at a time)."""
    active_statuses = [TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING]
    active = TrainingJob.objects.filter(status__in=active_statuses).first()
    if active is not None:
        raise JobAlreadyActive(active)
    try:
        with transaction.atomic():
            return TrainingJob.objects.create(parameters=parameters, trigger=trigger, requested_by_id=requested_by_id)
    except IntegrityError:
        # Lost the race to a concurrent start: the database's one-active-job index said no.
        active = TrainingJob.objects.filter(status__in=active_statuses).first()
        if active is None:
            raise
        raise JobAlreadyActive(active) from None


def training_job_enqueue(job: TrainingJob) -> None:
    # Published after commit (or a fast worker could look for a job it cannot see yet), kept in the
    # outbox while the broker is down. A duplicate send is harmless: only one run claims the job.
    outbox_enqueue("training.run_training_job", args=[job.pk])


def training_job_transition(*, job_id: int, to: str, **fields) -> bool:
    """Compare-and-set status change: True only if this call made the transition.

    Works the same on SQLite (where select_for_update is a no-op) and PostgreSQL.
    """
    allowed_from = [status for status, nexts in TrainingJob.TRANSITIONS.items() if to in nexts]
    if to == TrainingJob.Status.RUNNING:
        fields.setdefault("started_at", timezone.now())
    if to in TrainingJob.FINAL_STATUSES:
        fields.setdefault("finished_at", timezone.now())
    updated = TrainingJob.objects.filter(pk=job_id, status__in=allowed_from).update(status=to, **fields)
    return updated == 1


def _stale_running(stale: dt.datetime) -> models.Q:
    """Running jobs whose worker has not beaten since `stale` (or never did, and started before it)."""
    return models.Q(heartbeat_at__lt=stale) | models.Q(heartbeat_at__isnull=True, started_at__lt=stale)


def training_job_request_cancel(*, job: TrainingJob) -> TrainingJob:
    TrainingJob.objects.filter(pk=job.pk).update(cancel_requested=True)
    # A queued job nobody has picked up yet is cancelled on the spot; a running one
    # sees the flag at its next progress step.
    TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.CANCELLED,
        error="Cancelled before it started",
        progress_message="Cancelled",
        finished_at=timezone.now(),
    )
    # A running job whose worker died never reads the flag: without this it blocked every new job until the
    # stuck-job sweep failed it, minutes later, while its cancel answered "running".
    stale = timezone.now() - dt.timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS)
    orphaned = TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.RUNNING).filter(_stale_running(stale))
    limit = settings.JOB_STUCK_AFTER_SECONDS
    if orphaned.update(  # one compare-and-set: a heartbeat landing meanwhile keeps the job running
        status=TrainingJob.Status.CANCELLED,
        error=f"Cancelled; its worker had stopped (no heartbeat for more than {limit} s)",
        progress_message="Cancelled",
        finished_at=timezone.now(),
    ):
        ModelVersion.objects.filter(training_job_id=job.pk, stage=ModelVersion.Stage.CANDIDATE).update(
            stage=ModelVersion.Stage.REJECTED
        )
    job.refresh_from_db()
    return job


def training_job_sweep_stuck() -> list[int]:
    """Fail running jobs whose worker stopped beating, and queued jobs nobody picked up
    within the hard time limit; their candidate versions are never promoted."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS)
    failed = []
    running = TrainingJob.objects.filter(status=TrainingJob.Status.RUNNING).filter(_stale_running(stale))
    for job in running:
        if training_job_transition(
            job_id=job.pk,
            to=TrainingJob.Status.FAILED,
            error=f"Worker lost: no heartbeat since {job.heartbeat_at or job.started_at:%Y-%m-%d %H:%M:%S} "
            f"(more than {settings.JOB_STUCK_AFTER_SECONDS} s); marked failed by the stuck-job sweep",
        ):
            failed.append(job.pk)
    queued_limit = now - dt.timedelta(seconds=settings.TRAINING_TIME_LIMIT_SECONDS)
    for job in TrainingJob.objects.filter(status=TrainingJob.Status.QUEUED, created_at__lt=queued_limit):
        if training_job_transition(
            job_id=job.pk, to=TrainingJob.Status.FAILED, error="Never started: no worker picked it up in time"
        ):
            failed.append(job.pk)
    if failed:
        ModelVersion.objects.filter(training_job_id__in=failed, stage=ModelVersion.Stage.CANDIDATE).update(
            stage=ModelVersion.Stage.REJECTED
        )
        logger.warning("Stuck-job sweep failed jobs %s", failed)
    return failed


class JobHeartbeat(threading.Thread):
    """Proves the worker is alive while a job runs, even inside a long fit step.
    A worker killed with SIGKILL stops beating, and the sweep fails its job."""

    def __init__(self, job_id: int) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id = job_id
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while True:
                TrainingJob.objects.filter(pk=self.job_id, status=TrainingJob.Status.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
                if self._stopped.wait(settings.JOB_HEARTBEAT_SECONDS):
                    return
        except Exception:
            logger.exception("Heartbeat of training job %s stopped", self.job_id)
        finally:
            close_old_connections()

    def stop(self) -> None:
        self._stopped.set()
        if self.is_alive():
            self.join(timeout=5)


@dataclass
class JobProgress:
    """Called with (fraction, message) by a training: records progress, and raises JobCancelled on request."""

    job_id: int
    echo: Callable[[float, str], None] | None = None

    def __call__(self, fraction: float, message: str) -> None:
        if TrainingJob.objects.filter(pk=self.job_id, cancel_requested=True).exists():
            raise JobCancelled()
        TrainingJob.objects.filter(pk=self.job_id, status=TrainingJob.Status.RUNNING).update(
            progress=round(min(max(fraction, 0.0), 0.99), 3), progress_message=message[:300]
        )
        if self.echo:
            self.echo(fraction, message)
