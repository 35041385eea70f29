"""Celery beat as compose runs it (tests/live.py), on the configured broker and the test database:
it loads the schedule from django-celery-beat's tables, sends what is due, a worker runs it, and
beat answers the health check's ping."""

from __future__ import annotations

import datetime as dt
import os
import shlex
import socket
import subprocess
import time

import pytest
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from project.celery import BULK_QUEUE, DEFAULT_QUEUE
from project.celery import app as celery_app
from tests.live import BIN, ROOT, running_beat, running_worker, service_env
from tests.project.test_compose import healthcheck_command
from training.models import TrainingJob

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_beat_sends_the_database_schedule_to_a_worker_and_answers_its_health_check(broker, settings):
    # A job whose worker died long ago: the stuck-job sweep, due every second here, fails it.
    long_ago = timezone.now() - dt.timedelta(seconds=settings.JOB_STUCK_AFTER_SECONDS + 60)
    job = TrainingJob.objects.create(status=TrainingJob.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago)
    every_second = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="sweep-every-second", task="training.sweep_stuck_jobs", interval=every_second)
    node = f"beat-test-{os.getpid()}"

    with (
        running_worker(queues=f"{DEFAULT_QUEUE},{BULK_QUEUE}") as worker,
        running_beat(name=node) as beat,
    ):
        deadline = time.monotonic() + 60
        while TrainingJob.objects.get(pk=job.pk).status != TrainingJob.Status.FAILED:
            assert beat.process.poll() is None, beat.read_text()[-3000:]
            assert time.monotonic() < deadline, (beat.read_text()[-3000:], worker.read_text()[-3000:])
            time.sleep(0.2)

        if celery_app.conf.broker_url.startswith("filesystem://"):
            ping = None  # kombu's filesystem transport has no fanout: nothing to ping through
        else:
            # compose's health check, with this machine's host name for the container's.
            check = shlex.split(healthcheck_command("beat").replace("celerybeat@$HOSTNAME", f"{node}@%h"))
            check[0] = str(BIN / "celery")
            check = [part.replace("%h", socket.gethostname()) for part in check]
            ping = subprocess.run(check, cwd=ROOT, env=service_env(), capture_output=True, text=True, timeout=60)
        time.sleep(1)  # a few more ticks
        assert beat.process.poll() is None, beat.read_text()[-3000:]

    log = beat.read_text()
    assert "Sending due task sweep-every-second (training.sweep_stuck_jobs)" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    assert "Worker lost" in TrainingJob.objects.get(pk=job.pk).error
    if ping is not None:
        assert ping.returncode == 0, ping.stdout + ping.stderr
        assert f"{node}@" in ping.stdout and "pong" in ping.stdout
