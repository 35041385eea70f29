"""Rows the outbox had marked sent move to SentTask when sent tasks leave the outbox table (outbox 0004)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("outbox", "0003_outbox_fillfactor")]
AFTER = [("outbox", "0004_sent_tasks_leave_the_outbox")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def test_sent_rows_become_sent_tasks_and_pending_rows_stay_pending():
    old = _migrate(BEFORE)
    Message = old.get_model("outbox", "OutboxMessage")
    sent_at = timezone.now() - dt.timedelta(hours=2)
    sent = Message.objects.create(task="reviews.extract_aspects", args=[[1]], sent_at=sent_at, attempts=2)
    waiting = Message.objects.create(task="training.run_training_job", args=[7], attempts=1, last_error="down")
    try:
        new = _migrate(AFTER)
        SentTask = new.get_model("outbox", "SentTask")
        Pending = new.get_model("outbox", "OutboxMessage")
        moved = SentTask.objects.get()
        assert (moved.task, json.loads(moved.args), moved.message_ids, moved.sent_at, moved.attempts) == (
            "reviews.extract_aspects",
            [[1]],
            str(sent.pk),
            sent_at,
            2,
        )
        assert list(Pending.objects.values_list("pk", "task", "args", "attempts", "last_error")) == [
            (waiting.pk, "training.run_training_job", [7], 1, "down")
        ]
    finally:
        _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
