from __future__ import annotations

from celery import shared_task

from project.outbox.services import outbox_prune, outbox_relay


@shared_task(name="outbox.relay", soft_time_limit=240, time_limit=270)
def relay() -> str:
    """Send outbox rows still pending (the fallback to the web processes' relay threads) and delete old sent rows."""
    result = outbox_relay()
    pruned = outbox_prune()
    return f"{result}, pruned {pruned}"
