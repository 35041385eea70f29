from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """A Celery task to publish, written in the transaction of the change that needs it. Every row is pending:
    publishing it deletes it and records a SentTask in the same transaction.

    The after-commit publish or the relay (project/outbox/services.py) sends it; a relay pass holds its rows (on
    PostgreSQL by row locks in the transaction that deletes and publishes them, elsewhere by a short lease:
    `claimed_until`, `claim`) so two relays never send the same row at once. The relay takes the oldest rows
    through the primary key; sent rows never stay here, so a pass costs the same however many tasks were
    sent. A row can still be sent twice (published, then the database went away before it was deleted):
    every task sent through the outbox tolerates a duplicate.
    """

    task = models.CharField(max_length=200, help_text="Registered Celery task name")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Publish attempts that failed")
    last_error = models.TextField(blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = "pending task"

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} (pending)"


class SentTask(models.Model):
    """A task the outbox published to the broker, kept OUTBOX_KEEP_SENT_HOURS for inspection, then pruned (by
    `sent_at`, through its index). One row per publish: the relay merges consecutive rows of a batching task
    (batches.COALESCED_TASKS) into one task, and `message_ids` lists them all.

    The arguments are kept as the JSON text that was published, and the outbox rows as id ranges: parsing a merged
    task's 500 ids into jsonb, twice, cost the relay pass as much as deleting its 500 rows (bench/outbox.py)."""

    sent_at = models.DateTimeField()
    task = models.CharField(max_length=200)
    args = models.TextField(help_text="As published, JSON (a merged task: the union of its rows' lists)")
    kwargs = models.TextField(default="{}", help_text="As published, JSON")
    message_ids = models.TextField(help_text="The outbox rows it sent, as id ranges: '101-600, 702'")
    messages = models.PositiveIntegerField(default=1, help_text="How many outbox rows it sent")
    attempts = models.PositiveIntegerField(default=1, help_text="Publish attempts, this one included")

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["sent_at"], name="outbox_sent_at")]

    def __str__(self) -> str:
        return f"{self.task}({self.args[:60]}) (sent {self.sent_at:%Y-%m-%d %H:%M:%S})"
