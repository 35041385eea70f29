from __future__ import annotations

from django.db import models


class OutboxMessage(models.Model):
    """A Celery task to publish, written in the transaction of the change that needs it.

    Pending while `sent_at` is empty. The after-commit publish or the relay (project/outbox/services.py) sends it;
    a relay pass holds its rows (on PostgreSQL by row locks in the transaction that marks and publishes them,
    elsewhere by a short lease: `claimed_until`, `claim`) so two relays never send the same row at once.
    Every read of the relay and of the pruning goes through an index: `outbox_pending` (the
    pending rows, by id, the order of the claim) and `outbox_sent` (the sent rows, by sent_at).
    A row can still be sent twice (published, then the database went away before it was marked): every
    task sent through the outbox tolerates a duplicate.
    """

    task = models.CharField(max_length=200, help_text="Registered Celery task name")
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0, help_text="Publish attempts")
    last_error = models.TextField(blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The relay's claim: pending rows, oldest (lowest id) first.
            models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="outbox_pending"),
            # outbox_prune: sent rows by when they were sent.
            models.Index(fields=["sent_at"], condition=models.Q(sent_at__isnull=False), name="outbox_sent"),
        ]

    def __str__(self) -> str:
        return f"{self.task}{tuple(self.args)} ({'sent' if self.sent_at else 'pending'})"
