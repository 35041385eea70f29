"""The transactional outbox: background work survives a broker outage.

A write that needs background work (a new review's aspect extraction, re-scoring after a
deployment, a training job) calls `outbox_enqueue` inside its transaction. The task is
an OutboxMessage row, committed or rolled back with the write itself, and published to
Celery after commit. If the broker is down the publish fails fast (short socket timeouts,
one retry: CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_TASK_PUBLISH_RETRY_POLICY) and the row
stays pending; the request answers as if nothing happened. A circuit breaker then skips
the broker for OUTBOX_BROKER_RETRY_SECONDS, so a dead broker does not cost every request
a connection attempt.

`outbox_relay` sends pending rows. It runs in three places (project/outbox/relay.py explains why):
a thread in each web process every OUTBOX_RELAY_SECONDS and at start-up, woken at once
when a publish succeeds after a failure; and the `outbox.relay` beat task every minute.

Delivery is at least once: a relay pass claims rows with a lease (compare-and-set, so two
relays never send the same row at the same time) and leaves rows younger than
OUTBOX_RELAY_MIN_AGE_SECONDS to their own after-commit publish; a row published just
before the database went away stays pending and is sent again. Every task sent through
the outbox tolerates a duplicate (extraction replaces, re-scoring overwrites, a training
job is claimed once, an alert already sent is not sent again).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import F, Q
from django.utils import timezone

from project.celery import app as celery_app
from project.circuit import CircuitBreaker
from project.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

broker = CircuitBreaker("Celery broker", open_seconds=settings.OUTBOX_BROKER_RETRY_SECONDS)
CLAIM_SECONDS = 60
RELAY_BATCH_SIZE = 500
# Called when a publish succeeds after the broker was unreachable (the web relay thread registers itself).
on_broker_back: list[Callable[[], None]] = []


_import_lock = threading.Lock()


def _registered_task(name: str):
    """The task registered under `name`, importing every app's tasks module first if needed (web processes do
    not import them otherwise). Under a lock: a thread must not look while another is half-way through."""
    app = celery_app
    task = app.tasks.get(name)
    if task is None:
        with _import_lock:
            app.loader.import_default_modules()
            task = app.tasks.get(name)
    return task


def _task_name(task) -> str:
    name = task if isinstance(task, str) else task.name
    if _registered_task(name) is None:
        raise ValueError(f"No Celery task is registered as {name!r}")
    return name


def outbox_enqueue(
    task, *, args: Sequence = (), kwargs: dict | None = None, publish_after_commit: bool = True
) -> OutboxMessage:
    """Run `task` (a task or its registered name) with these JSON arguments once the current
    transaction commits; outside a transaction, at once. Call it inside the transaction of the
    write that needs the work: the row and the write commit or roll back together.

    publish_after_commit=False leaves the row to the relay (within OUTBOX_RELAY_MIN_AGE_SECONDS +
    OUTBOX_RELAY_SECONDS), which sends rows of a COALESCED_TASKS task as one task per batch: a
    single review's aspect extraction then costs its request one INSERT instead of a broker
    publish and an UPDATE, and the worker gets hundreds of reviews per task instead of one.
    """
    name = _task_name(task)
    message = OutboxMessage.objects.create(task=name, args=list(args), kwargs=dict(kwargs or {}))
    if not publish_after_commit and not _is_eager():
        return message

    def publish() -> None:  # a function, not a partial: Django names it when it logs a failure
        _publish_after_commit(message.pk, name, message.args, message.kwargs)

    transaction.on_commit(publish, robust=True)
    return message


def _send(task: str, args: list, kwargs: dict) -> None:
    app = celery_app
    if app.conf.task_always_eager:
        _registered_task(task).apply_async(args=args, kwargs=kwargs)  # runs it here and now
    else:
        app.send_task(task, args=args, kwargs=kwargs)  # routed by name (task_routes), like apply_async


def _is_eager() -> bool:
    return bool(celery_app.conf.task_always_eager)


def _mark_sent(ids: Iterable[int]) -> None:
    OutboxMessage.objects.filter(pk__in=list(ids), sent_at__isnull=True).update(
        sent_at=timezone.now(), attempts=F("attempts") + 1, last_error="", claim=None, claimed_until=None
    )


def _record_failure(ids: Iterable[int], exc: BaseException) -> None:
    OutboxMessage.objects.filter(pk__in=list(ids), sent_at__isnull=True).update(
        attempts=F("attempts") + 1,
        last_error=f"{type(exc).__name__}: {exc}"[:2000],
        claim=None,
        claimed_until=None,
    )


def _publish_after_commit(message_id: int, task: str, args: list, kwargs: dict) -> None:
    if _is_eager():
        # Tasks run inline (tests, CELERY_TASK_ALWAYS_EAGER): there is no broker to wait for, and a
        # failing task is the task's failure, not a publish to retry.
        _mark_sent([message_id])
        _send(task, args, kwargs)
        return
    if not broker.allow():
        return  # the broker failed moments ago: the row waits for the relay
    try:
        _send(task, args, kwargs)
    except Exception as exc:  # whatever the transport raised, the message may not be in the broker
        broker.record_failure(exc)
        try:
            _record_failure([message_id], exc)
        except DatabaseError:
            pass  # the database went too: the row is pending all the same
        return
    came_back = broker.record_success()
    try:
        _mark_sent([message_id])
    except DatabaseError as exc:
        # Published, but the database went away before the row was marked: the relay sends it again.
        logger.warning("Outbox message %s sent but not marked (%s); it will be sent again", message_id, exc)
    if came_back:
        for callback in on_broker_back:
            callback()


@dataclass(frozen=True, slots=True)
class RelayResult:
    sent: int
    failed: int

    def __str__(self) -> str:
        return f"sent {self.sent}, failed {self.failed}"


def outbox_relay(*, min_age_seconds: float | None = None, batch_size: int = RELAY_BATCH_SIZE) -> RelayResult:
    """Publish pending rows (oldest first) until none is left or the broker refuses one."""
    min_age = settings.OUTBOX_RELAY_MIN_AGE_SECONDS if min_age_seconds is None else min_age_seconds
    sent_total = 0
    while True:
        now = timezone.now()
        unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        pending = OutboxMessage.objects.filter(unclaimed, sent_at__isnull=True)
        ids = list(
            pending.filter(created_at__lte=now - dt.timedelta(seconds=min_age))
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return RelayResult(sent_total, 0)
        # Compare-and-set: a row another relay claimed in between is not ours.
        claim = uuid.uuid4()
        pending.filter(pk__in=ids).update(claim=claim, claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
        rows = OutboxMessage.objects.filter(claim=claim).order_by("id").values_list("id", "task", "args", "kwargs")
        rows = list(rows)
        sent: list[int] = []
        failure: BaseException | None = None
        failed_ids: list[int] = []
        try:
            for message_ids, task, args, kwargs in _coalesced(rows):
                try:
                    _send(task, args, kwargs)
                except Exception as exc:  # the broker refused: keep the rest for the next pass
                    failure, failed_ids = exc, message_ids
                    broker.record_failure(exc)
                    break
                broker.record_success()
                sent.extend(message_ids)
        finally:
            if sent:
                _mark_sent(sent)
            if failure is not None:
                _record_failure(failed_ids, failure)
            # Release what this pass did not send, for the next pass (or another relay).
            OutboxMessage.objects.filter(claim=claim, sent_at__isnull=True).update(claim=None, claimed_until=None)
        sent_total += len(sent)
        if failure is not None:
            logger.warning("Outbox relay: sent %d, then the broker refused: %s", sent_total, failure)
            return RelayResult(sent_total, len(rows) - len(sent))
        if len(rows) < batch_size:
            if sent_total:
                logger.info("Outbox relay: sent %d pending task(s)", sent_total)
            return RelayResult(sent_total, 0)


def _merge_id_lists(args_of_rows: list[list]) -> list:
    """[[ids], [ids], ...] -> [all ids], each task's single argument being a list of ids."""
    return [[item for args in args_of_rows for item in args[0]]]


# Tasks whose pending rows the relay merges into one task per batch: their only argument is a list
# (of ids, or days), and running them on the union is the same as running them on each list.
COALESCED_TASKS: dict[str, Callable[[list[list]], list]] = {
    "reviews.extract_aspects": _merge_id_lists,
    "reviews.extract_fresh_aspects": _merge_id_lists,
    "analytics.rebuild_marked_rollup_days": _merge_id_lists,  # its list is of days
}
COALESCE_MAX_IDS = 1000


def _coalesced(rows: list[tuple]) -> Iterable[tuple[list[int], str, list, dict]]:
    """(message ids, task, args, kwargs) to send, in row order; runs of mergeable rows become one."""
    group: list[tuple] = []

    def flush():
        if group:
            task = group[0][1]
            yield [row[0] for row in group], task, COALESCED_TASKS[task]([row[2] for row in group]), {}
            group.clear()

    size = 0
    for row in rows:
        message_id, task, args, kwargs = row
        mergeable = task in COALESCED_TASKS and not kwargs and len(args) == 1 and isinstance(args[0], list)
        if not mergeable or (group and (group[0][1] != task or size + len(args[0]) > COALESCE_MAX_IDS)):
            yield from flush()
            size = 0
        if mergeable:
            group.append(row)
            size += len(args[0])
        else:
            yield [message_id], task, args, kwargs
    yield from flush()


def outbox_prune(*, keep_hours: float | None = None, batch_size: int = 5000) -> int:
    """Delete rows sent more than `keep_hours` ago (oldest first, in batches). Returns how many."""
    keep = settings.OUTBOX_KEEP_SENT_HOURS if keep_hours is None else keep_hours
    cutoff = timezone.now() - dt.timedelta(hours=keep)
    deleted = 0
    while True:
        ids = list(
            OutboxMessage.objects.filter(sent_at__isnull=False, sent_at__lt=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return deleted
        deleted += OutboxMessage.objects.filter(pk__in=ids).delete()[0]


def outbox_pending_count() -> int:
    return OutboxMessage.objects.filter(sent_at__isnull=True).count()
