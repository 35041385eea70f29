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
when a publish succeeds after a failure; and the `outbox.relay` beat task every minute. A published
row is deleted and the publish recorded as a SentTask, in one transaction: the table holds the backlog only.

Delivery is at least once: a relay pass takes rows so that two relays never send the same row at
the same time and no write waits for a relay (on PostgreSQL row locks: one DELETE removes the rows
picked FOR UPDATE SKIP LOCKED, in the transaction that publishes them; elsewhere a lease
set by compare-and-set) and leaves rows younger than
OUTBOX_RELAY_MIN_AGE_SECONDS to their own after-commit publish; a row published just
before the database went away stays pending and is sent again. Every task sent through
the outbox tolerates a duplicate (extraction replaces, re-scoring overwrites, a training
job is claimed once, an alert already sent is not sent again).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, connections, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from project.celery import app as celery_app
from project.circuit import CircuitBreaker
from project.outbox.batches import Send, coalesced, decoded, id_ranges
from project.outbox.models import OutboxMessage, SentTask

logger = logging.getLogger(__name__)

broker = CircuitBreaker("Celery broker", open_seconds=settings.OUTBOX_BROKER_RETRY_SECONDS)
CLAIM_SECONDS = 60
RELAY_BATCH_SIZE = 1000  # rows per transaction: a pass over up to 1,000 pending rows is one DELETE
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
    OUTBOX_RELAY_SECONDS), which sends rows of a batches.COALESCED_TASKS task as one task per batch: a
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


def _mark_sent(sends: Sequence[Send], *, using: str | None = None) -> None:
    """Delete the rows these publishes sent and record each publish (SentTask), in one transaction. Rows already
    gone (another relay sent them meanwhile) record nothing: that publish was a duplicate."""
    ids = [message_id for message_ids, *_ in sends for message_id in message_ids]
    if not ids:
        return
    using = using or router.db_for_write(OutboxMessage)
    connection = connections[using]
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    with transaction.atomic(using=using), connection.cursor() as cursor:
        placeholders = ", ".join(["%s"] * len(ids))
        cursor.execute(f"DELETE FROM {table} WHERE id IN ({placeholders}) RETURNING id, attempts", ids)
        _record_sent(cursor, sends, dict(cursor.fetchall()), timezone.now())


def _record_failure(ids: Iterable[int], exc: BaseException) -> None:
    OutboxMessage.objects.filter(pk__in=list(ids)).update(
        attempts=F("attempts") + 1,
        last_error=_error_text(exc),
        claim=None,
        claimed_until=None,
    )


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _publish_after_commit(message_id: int, task: str, args: list, kwargs: dict) -> None:
    if _is_eager():
        # Tasks run inline (tests, CELERY_TASK_ALWAYS_EAGER): there is no broker to wait for, and a
        # failing task is the task's failure, not a publish to retry.
        _mark_sent([([message_id], task, args, kwargs)])
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
        _mark_sent([([message_id], task, args, kwargs)])
    except DatabaseError as exc:
        # Published, but the database went away before the row was deleted: the relay sends it again.
        logger.warning("Outbox message %s sent but not deleted (%s); it will be sent again", message_id, exc)
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
    alias = router.db_for_write(OutboxMessage)
    relay_batch = _relay_batch_locked if connections[alias].vendor == "postgresql" else _relay_batch_leased
    sent_total = 0
    while True:
        batch = relay_batch(alias, min_age=min_age, batch_size=batch_size)
        sent_total += batch.sent
        if batch.failure is not None:
            logger.warning("Outbox relay: sent %d, then the broker refused: %s", sent_total, batch.failure)
            return RelayResult(sent_total, batch.taken - batch.sent)
        if batch.taken < batch_size:
            if sent_total:
                logger.info("Outbox relay: sent %d pending task(s)", sent_total)
            return RelayResult(sent_total, 0)


@dataclass(frozen=True, slots=True)
class _Batch:
    taken: int  # rows this pass took from the table
    sent: int
    failure: BaseException | None


def _publish(rows: list[tuple[int, str, list, dict]]) -> tuple[list[Send], list[int], BaseException | None]:
    """Send the rows in order (runs of mergeable rows as one task) until the broker refuses one:
    (the publishes that went out, ids of the refused send, the refusal)."""
    sent: list[Send] = []
    for message_ids, task, args, kwargs in coalesced(rows):
        try:
            _send(task, args, kwargs)
        except Exception as exc:  # the broker refused: keep the rest for the next pass
            broker.record_failure(exc)
            return sent, message_ids, exc
        broker.record_success()
        sent.append((message_ids, task, args, kwargs))
    return sent, [], None


# For the relay's transaction only (SET LOCAL), sent with the claim in one round trip:
# - synchronous_commit off: see _relay_batch_locked;
# - neither a sequential nor a bitmap scan: the claim walks the primary key in id order and stops after
#   `batch_size` live rows, marking the entries of rows sent earlier as dead on the way (later passes skip them).
#   Without statistics or a recent vacuum the planner would rather read the whole table (every row sent since the
#   last vacuum is still there, dead) or every entry the index still holds, on every pass (bench/outbox.py).
_RELAY_SETTINGS = (
    "SET LOCAL synchronous_commit = off",
    "SET LOCAL enable_seqscan = off",
    "SET LOCAL enable_bitmapscan = off",
)


def _execute_with_relay_settings(cursor, statement: str, params: dict) -> None:
    """`statement` after the _RELAY_SETTINGS, in one round trip; the cursor is left at the statement's result."""
    cursor.execute("; ".join([*_RELAY_SETTINGS, statement]), params)
    for _setting in _RELAY_SETTINGS:
        cursor.nextset()


def _relay_batch_locked(alias: str, *, min_age: float, batch_size: int) -> _Batch:
    """PostgreSQL: one transaction deletes up to `batch_size` pending rows, oldest first (a DELETE of the rows a
    `FOR UPDATE SKIP LOCKED` subquery picks through the primary key, RETURNING what to send), publishes them,
    records the publishes (SentTask), and commits. A publish the broker refuses rolls the pass back (every row is
    pending again, as it was); then the rows that did go out are deleted and recorded, and the refused ones count
    the attempt.

    The row locks are the lease: another relay skips these rows instead of waiting, a crash or a lost
    connection rolls the delete back (the rows are sent again: at least once), and nothing else waits on them
    (new rows are inserts). A DELETE only marks each row; marking them sent with an UPDATE wrote a new version
    of each row and its index entries (twice the statement's time), and kept the sent rows in the table the
    claim reads. A pass costs a few milliseconds however many tasks were sent (bench/outbox.py).

    The DELETE finds the picked rows by their ctid (a TID scan), not by id through a hash of the ids and the
    primary key (a third of the statement's time at 500 rows). A ctid is stable here: the subquery holds the
    row's lock, so nobody updates or deletes it before this statement does. The settings and the claim go in
    one round trip (several statements in one execute: Django's psycopg cursors bind parameters client-side).

    synchronous_commit is off for this transaction only: a commit lost in a database crash means the rows are
    pending again and sent a second time (tolerated), and the pass does not wait for the WAL flush."""
    now = timezone.now()
    connection = connections[alias]
    table = connection.ops.quote_name(OutboxMessage._meta.db_table)
    claim = f"""DELETE FROM {table}
        WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM {table}
            WHERE (claimed_until IS NULL OR claimed_until < %(now)s) AND created_at <= %(cutoff)s
            ORDER BY id LIMIT %(batch_size)s
            FOR UPDATE SKIP LOCKED
        ))
        RETURNING id, task, args, kwargs, attempts"""
    params = {"now": now, "cutoff": now - dt.timedelta(seconds=min_age), "batch_size": batch_size}
    taken: list[tuple] = []
    try:
        with transaction.atomic(using=alias), connection.cursor() as cursor:
            _execute_with_relay_settings(cursor, claim, params)
            taken = cursor.fetchall()
            if not taken:
                return _Batch(0, 0, None)
            sent, refused, failure = _publish(decoded(taken))
            if failure is not None:
                raise _Refused(sent, refused, failure)
            _record_sent(cursor, sent, {row[0]: row[4] for row in taken}, now)
    except _Refused as refusal:
        # The rollback put every row of the pass back as it was. The rows that went out leave now (another relay
        # may send one of them again in between: at least once); the refused ones count the attempt.
        _mark_sent(refusal.sent, using=alias)
        _record_failure(refusal.refused, refusal.failure)
        return _Batch(len(taken), _count(refusal.sent), refusal.failure)
    return _Batch(len(taken), _count(sent), None)


class _Refused(Exception):
    """Rolls back a relay pass that the broker refused part way (_relay_batch_locked)."""

    def __init__(self, sent: list[Send], refused: list[int], failure: BaseException) -> None:
        super().__init__(str(failure))
        self.sent, self.refused, self.failure = sent, refused, failure


def _count(sends: Sequence[Send]) -> int:
    return sum(len(message_ids) for message_ids, *_ in sends)


def _record_sent(cursor, sends: Sequence[Send], attempts: dict[int, int], now: dt.datetime) -> None:
    """One INSERT of a SentTask for each publish whose rows this transaction deleted (`attempts`: their failed
    attempts by id). Plain SQL: the ORM's bulk_create cost as much as the claim itself."""
    records = []
    for message_ids, task, args, kwargs in sends:
        deleted = [message_id for message_id in message_ids if message_id in attempts]
        if deleted:
            tries = 1 + max(attempts[message_id] for message_id in deleted)
            records.append((now, task, json.dumps(args), json.dumps(kwargs), id_ranges(deleted), len(deleted), tries))
    if not records:
        return
    connection = cursor.db
    cursor.execute(
        f"""INSERT INTO {connection.ops.quote_name(SentTask._meta.db_table)}
        (sent_at, task, args, kwargs, message_ids, messages, attempts)
        VALUES {", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(records))}""",
        [value for record in records for value in record],
    )


def _relay_batch_leased(alias: str, *, min_age: float, batch_size: int) -> _Batch:
    """Elsewhere (SQLite: one writer at a time, no row locks): lease the rows with a claim (_claim), publish,
    delete what was sent, record a refusal, and release the rest of the lease."""
    claim = uuid.uuid4()
    rows = _claim(claim, min_age=min_age, batch_size=batch_size)
    sent: list[Send] = []
    refused: list[int] = []
    failure: BaseException | None = None
    try:
        sent, refused, failure = _publish(rows)
    finally:
        if sent:
            _mark_sent(sent, using=alias)
        if failure is not None:
            _record_failure(refused, failure)
        # Release what this pass did not send, for the next pass (or another relay).
        done = {message_id for message_ids, *_ in sent for message_id in message_ids} | set(refused)
        left = [row[0] for row in rows if row[0] not in done]
        if left:
            OutboxMessage.objects.using(alias).filter(pk__in=left, claim=claim).update(claim=None, claimed_until=None)
    return _Batch(len(rows), _count(sent), failure)


def _claim(claim: uuid.UUID, *, min_age: float, batch_size: int) -> list[tuple[int, str, list, dict]]:
    """Lease up to `batch_size` pending rows at least `min_age` seconds old, oldest first, to this pass:
    (id, task, args, kwargs) of the rows it got, by id. A compare-and-set: the ids (by the primary key), then
    an UPDATE of those still unclaimed, then the rows that carry this pass's claim."""
    now = timezone.now()
    until = now + dt.timedelta(seconds=CLAIM_SECONDS)
    cutoff = now - dt.timedelta(seconds=min_age)
    pending = OutboxMessage.objects.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    ids = list(pending.filter(created_at__lte=cutoff).order_by("id").values_list("id", flat=True)[:batch_size])
    if not ids:
        return []
    # Compare-and-set: a row another relay claimed in between is not ours.
    pending.filter(pk__in=ids).update(claim=claim, claimed_until=until)
    rows = OutboxMessage.objects.filter(pk__in=ids, claim=claim).order_by("id")
    return list(rows.values_list("id", "task", "args", "kwargs"))


PRUNE_BATCH_SIZE = 1000


def outbox_prune(*, keep_hours: float | None = None, batch_size: int = PRUNE_BATCH_SIZE) -> int:
    """Delete the records of tasks sent more than `keep_hours` ago, oldest first, `batch_size` rows per statement
    (each its own short transaction, so no lock is held for long). Returns how many.

    The rows come from the `outbox_sent_at` index: a pass with nothing to delete reads one index entry, however
    many tasks were sent within `keep_hours` (on PostgreSQL the planner is told so, as for the relay's claim:
    without statistics it would rather read the whole table)."""
    keep = settings.OUTBOX_KEEP_SENT_HOURS if keep_hours is None else keep_hours
    cutoff = timezone.now() - dt.timedelta(hours=keep)
    alias = router.db_for_write(SentTask)
    connection = connections[alias]
    deleted = 0
    while True:
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(SentTask._meta.db_table)
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                _execute_with_relay_settings(
                    cursor,
                    f"""DELETE FROM {table} WHERE ctid = ANY(ARRAY(
                        SELECT ctid FROM {table} WHERE sent_at < %(cutoff)s ORDER BY sent_at LIMIT %(n)s
                        FOR UPDATE SKIP LOCKED))""",
                    {"cutoff": cutoff, "n": batch_size},
                )
                count = cursor.rowcount
        else:
            batch = SentTask.objects.filter(sent_at__lt=cutoff).order_by("sent_at").values("pk")[:batch_size]
            count = SentTask.objects.filter(pk__in=batch).delete()[0]
        deleted += count
        if count < batch_size:
            return deleted


def outbox_pending_count() -> int:
    return OutboxMessage.objects.count()
