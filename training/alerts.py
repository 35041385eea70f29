"""Alerts by email and webhook: recorded, sent by a Celery task, webhooks retried with backoff."""

from __future__ import annotations

import logging
import time

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from project.outbox.services import outbox_enqueue
from training.models import Alert, AlertChannel

logger = logging.getLogger(__name__)

# The weekly insights digest per business (analytics.digest); its payload's "text" is the email body.
WEEKLY_DIGEST = "weekly_digest"


def alert_notify(*, event: str, subject: str, payload: dict) -> list[Alert]:
    """Queue one alert per interested channel (published after the current transaction commits, through
    the outbox: an alert raised while the broker is down goes out when it is back)."""
    with transaction.atomic():
        alerts = [
            Alert.objects.create(channel=channel, event=event, subject=subject[:300], payload=payload)
            for channel in AlertChannel.objects.filter(enabled=True)
            if channel.wants(event)
        ]
        for alert in alerts:
            outbox_enqueue("analytics.deliver_alert", args=[alert.pk])
    return alerts


def alert_notify_safely(event: str, subject: str, payload: dict) -> None:
    """alert_notify for a caller whose outcome an alert must never change (a training job)."""
    try:
        alert_notify(event=event, subject=subject, payload=payload)
    except Exception:
        logger.exception("Could not queue the %s alert", event)


def _send_once(alert: Alert, channel: AlertChannel) -> None:
    if channel.kind == AlertChannel.Kind.EMAIL:
        lines = [f"{key}: {value}" for key, value in alert.payload.items()]
        body = alert.payload["text"] if alert.event == WEEKLY_DIGEST else "\n".join([alert.subject, "", *lines])
        send_mail(
            subject=f"[review-sentiment] {alert.subject}",
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=[channel.target],
        )
        return
    response = httpx.post(
        channel.target,
        json={"event": alert.event, "subject": alert.subject, "payload": alert.payload},
        timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS,
    )
    response.raise_for_status()


def alert_deliver(*, alert: Alert) -> Alert:
    """Send, retrying with exponential backoff (1 s, 2 s, 4 s ... by default); the
    outcome and the number of attempts are recorded on the alert."""
    channel = alert.channel
    if channel is None or not channel.enabled:
        Alert.objects.filter(pk=alert.pk).update(status="dropped", error="Channel removed or disabled")
        return alert
    delay = settings.ALERT_RETRY_BACKOFF_SECONDS
    attempts = 0
    while True:
        attempts += 1
        try:
            _send_once(alert, channel)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
            Alert.objects.filter(pk=alert.pk).update(status="failed", attempts=attempts, error=error)
            if attempts > settings.ALERT_RETRIES:
                logger.error("Alert %s to %s failed after %s attempts: %s", alert.pk, channel, attempts, error)
                break
            time.sleep(delay)
            delay *= 2
        else:
            Alert.objects.filter(pk=alert.pk).update(status="sent", attempts=attempts, error="")
            break
    alert.refresh_from_db()
    return alert
