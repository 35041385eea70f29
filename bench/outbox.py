"""The outbox relay and pruning as the table of sent rows grows, before and after the indexed claim.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/revsent_bench_outbox \\
      .venv/bin/python bench/outbox.py [--sent 10000,1000000] [--pending 500] [--passes 20] [--drop]

The database named by DATABASE_URL (default revsent_bench_outbox; its name must contain "bench", since the
outbox table is emptied) is created if missing (CREATE DATABASE, as createdb does) and migrated. Autovacuum is off
for the outbox table (`ALTER TABLE ... SET (autovacuum_enabled = false)`, as on this project's machine) and it is
not analyzed: dead rows and missing statistics stay, as they do there between vacuums.

For each size the table holds that many sent rows (loaded with one INSERT ... SELECT generate_series, sent over
the last 23 hours: nothing to prune yet), then each timed pass gets --pending fresh pending rows (inserted, not
timed), and one relay pass sends them: `outbox_relay(min_age_seconds=0)` with the broker publish stubbed out
(services._send does nothing), so only the database work is timed: the claim, the mark-sent, the release, and
the final empty claim that ends the pass. The rows sent are then deleted (not timed), so the table keeps its
size; their dead tuples stay, as without vacuum.

- before: the code of e7eb9c5, inline below (`legacy_relay`, `legacy_prune`): the ids by the `outbox_pending`
  index, a compare-and-set UPDATE, then the claimed rows read back `WHERE claim = ...` (no index on claim: a scan
  of the whole table) and released the same way; pruning by id order, 5,000 rows a batch, no index on sent_at.
  Timed on the 0001 schema (the `outbox_sent` index dropped for it).
- after: the committed `outbox_relay` (one transaction: UPDATE ... SET sent_at WHERE ctid = ANY(ARRAY(SELECT ...
  FOR UPDATE SKIP LOCKED)) RETURNING, publish, commit without waiting for the WAL flush; up to 1,000 rows a
  statement, so 500 pending rows are one statement) on the table's fillfactor 50 (outbox 0003), and `outbox_prune`
  (1,000 rows a batch through `outbox_sent`). The before phase runs on fillfactor 100, as that code did.

Prune: a pass with nothing to delete (what the minute's beat task does nearly always) and a pass deleting 5,000
rows sent 25 hours ago (ids below every other row's, as in production), each over --prune-passes passes.

p50/p95 in ms per pass; the statement times of the median pass; the plan of the old and new claim statements.
Target: a relay pass <= 5 ms at 500 pending rows, about the same at 10,000 and 1,000,000 sent rows. The load
average is printed before and after each phase (the machine's 2 cores are shared: compare before and after
from the same run). Writes bench/results/outbox.json. --drop drops the bench database at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import dsn, ensure_database, percentile  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "outbox.json"
DATABASE_URL = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/revsent_bench_outbox"
os.environ.update(
    {
        "DATABASE_URL": DATABASE_URL,
        "VAR_DIR": os.environ.get("BENCH_VAR_DIR") or "/tmp/bench-outbox-var",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "false",
        "MLFLOW_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "OUTBOX_RELAY_SECONDS": "0",
    }
)
TABLE = "outbox_outboxmessage"
TASK = "reviews.extract_fresh_aspects"  # what a created review queues for the relay
EXPIRED = 5000  # rows pruned per timed prune pass, at ids 1..EXPIRED
TARGET_MS = 5.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the code before (e7eb9c5), inline --------------------------------------------------------------------------


def legacy_relay(*, min_age_seconds: float = 0, batch_size: int = 500) -> int:
    from django.db.models import Q
    from django.utils import timezone

    from project.outbox import services
    from project.outbox.models import OutboxMessage

    sent_total = 0
    while True:
        now = timezone.now()
        unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        pending = OutboxMessage.objects.filter(unclaimed, sent_at__isnull=True)
        ids = list(
            pending.filter(created_at__lte=now - dt.timedelta(seconds=min_age_seconds))
            .order_by("id")
            .values_list("id", flat=True)[:batch_size]
        )
        if not ids:
            return sent_total
        claim = uuid.uuid4()
        pending.filter(pk__in=ids).update(claim=claim, claimed_until=now + dt.timedelta(seconds=services.CLAIM_SECONDS))
        rows = list(
            OutboxMessage.objects.filter(claim=claim).order_by("id").values_list("id", "task", "args", "kwargs")
        )
        sent: list[int] = []
        try:
            for message_ids, task, args, kwargs in services._coalesced(rows):
                services._send(task, args, kwargs)
                services.broker.record_success()
                sent.extend(message_ids)
        finally:
            if sent:
                services._mark_sent(sent)
            OutboxMessage.objects.filter(claim=claim, sent_at__isnull=True).update(claim=None, claimed_until=None)
        sent_total += len(sent)
        if len(rows) < batch_size:
            return sent_total


def legacy_prune(*, keep_hours: float = 24, batch_size: int = 5000) -> int:
    from django.utils import timezone

    from project.outbox.models import OutboxMessage

    cutoff = timezone.now() - dt.timedelta(hours=keep_hours)
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


# --- data ----------------------------------------------------------------------------------------------------------


def execute(sql: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def fill(sent: int) -> None:
    """EXPIRED free ids at the start (refilled by each prune pass), then `sent` rows sent over the last 23 hours."""
    execute(f"TRUNCATE {TABLE} RESTART IDENTITY")
    execute(
        f"""INSERT INTO {TABLE} (id, task, args, kwargs, created_at, sent_at, attempts, last_error)
        SELECT i, %s, jsonb_build_array(jsonb_build_array(i)), '{{}}'::jsonb, t - interval '1 second', t, 1, ''
        FROM (SELECT i, now() - interval '23 hours' * (1 - (i - %s)::float / %s) AS t
              FROM generate_series(%s, %s) AS i) AS s""",
        [TASK, EXPIRED, sent, EXPIRED + 1, EXPIRED + sent],
    )
    execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), %s)", [EXPIRED + sent])


def add_pending(count: int) -> None:
    execute(
        f"""INSERT INTO {TABLE} (task, args, kwargs, created_at, attempts, last_error)
        SELECT %s, jsonb_build_array(jsonb_build_array(i)), '{{}}'::jsonb, now() - interval '10 seconds', 0, ''
        FROM generate_series(1, %s) AS i""",
        [TASK, count],
    )


def add_expired() -> None:
    execute(
        f"""INSERT INTO {TABLE} (id, task, args, kwargs, created_at, sent_at, attempts, last_error)
        SELECT i, %s, jsonb_build_array(jsonb_build_array(i)), '{{}}'::jsonb,
               now() - interval '25 hours', now() - interval '25 hours', 1, ''
        FROM generate_series(1, %s) AS i""",
        [TASK, EXPIRED],
    )


def set_schema(*, after: bool) -> None:
    """The outbox_sent index of 0002 exists only for the code that reads it; the fillfactor of 0003 is set for the
    code it was chosen for (it applies to pages filled from then on: those of the pending rows each pass adds)."""
    if after:
        execute(f"CREATE INDEX IF NOT EXISTS outbox_sent ON {TABLE} (sent_at) WHERE sent_at IS NOT NULL")
    else:
        execute("DROP INDEX IF EXISTS outbox_sent")
    execute(f"ALTER TABLE {TABLE} SET (fillfactor = {50 if after else 100})")


# --- timing --------------------------------------------------------------------------------------------------------


class Statements:
    """Each statement's duration (ms) and the start of its SQL, through Django's execute wrapper."""

    def __init__(self) -> None:
        self.log: list[tuple[str, float]] = []

    def __call__(self, execute_, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute_(sql, params, many, context)
        finally:
            self.log.append((" ".join(sql.split())[:70], (time.perf_counter() - started) * 1000))


def timed_passes(run, before_each, after_each, passes: int) -> dict:
    from django.db import connection

    times, statements = [], []
    for _ in range(passes):
        before_each()
        recorder = Statements()
        with connection.execute_wrapper(recorder):
            started = time.perf_counter()
            count = run()
            times.append((time.perf_counter() - started) * 1000)
        statements.append(recorder.log)
        after_each(count)
    median = sorted(range(passes), key=lambda i: times[i])[passes // 2]
    return {
        "p50_ms": round(percentile(times, 0.5), 2),
        "p95_ms": round(percentile(times, 0.95), 2),
        "statements_of_median_pass": [{"sql": sql, "ms": round(ms, 2)} for sql, ms in statements[median]],
        "load": load(),
    }


def plan(sql: str, params) -> list[str]:
    return [row[0] for row in execute("EXPLAIN " + sql, params)]


def claim_plans() -> dict:
    now = dt.datetime.now(dt.UTC)
    old_readback = plan(f"SELECT id, task, args, kwargs FROM {TABLE} WHERE claim = %s ORDER BY id", [uuid.uuid4()])
    new_claim = plan(
        f"""UPDATE {TABLE} SET sent_at = %s, attempts = attempts + 1, last_error = '', claim = NULL,
            claimed_until = NULL WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM {TABLE} WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < %s)
            AND created_at <= %s ORDER BY id LIMIT 1000 FOR UPDATE SKIP LOCKED)) RETURNING id, task, args, kwargs""",
        [now, now, now],
    )
    return {"before: read back WHERE claim = ...": old_readback, "after: the claim": new_claim}


def figures(pending: int) -> list[tuple[str, str]]:
    return [
        ("relay", f"relay pass, {pending} pending"),
        ("prune_nothing", "prune pass, nothing due"),
        ("prune_5000", f"prune pass, {EXPIRED:,} due"),
    ]


def measure(sent: int, pending: int, passes: int, prune_passes: int) -> dict:
    from project.outbox import services

    started = time.perf_counter()
    fill(sent)
    print(f"\n== {sent:,} sent rows (loaded in {time.perf_counter() - started:.1f} s), load {load()}", flush=True)
    result: dict = {"sent_rows": sent, "pending_rows": pending}

    def delete_sent(count: int) -> None:
        assert count == pending, f"the pass sent {count} of {pending} rows"
        execute(f"DELETE FROM {TABLE} WHERE id > %s", [EXPIRED + sent])

    def delete_expired_leftovers(_count: int) -> None:
        execute(f"DELETE FROM {TABLE} WHERE id <= %s", [EXPIRED])

    for phase, relay, prune in (
        ("before", lambda: legacy_relay(min_age_seconds=0), legacy_prune),
        ("after", lambda: services.outbox_relay(min_age_seconds=0).sent, services.outbox_prune),
    ):
        set_schema(after=phase == "after")
        relay()  # warm: connection, caches
        result[phase] = {
            "relay": timed_passes(relay, lambda: add_pending(pending), delete_sent, passes),
            "prune_nothing": timed_passes(prune, lambda: None, lambda n: None, prune_passes),
            "prune_5000": timed_passes(prune, add_expired, delete_expired_leftovers, prune_passes),
        }
        for figure, label in figures(pending):
            r = result[phase][figure]
            print(f"{phase:6s} {label:30s} p50 {r['p50_ms']:9.2f} ms  p95 {r['p95_ms']:9.2f} ms  load {r['load']}")
        for statement in result[phase]["relay"]["statements_of_median_pass"]:
            print(f"         {statement['ms']:8.2f} ms  {statement['sql']}")
    add_pending(pending)
    result["plans"] = claim_plans()
    execute(f"DELETE FROM {TABLE} WHERE sent_at IS NULL")
    for name, lines in result["plans"].items():
        print(f"plan, {name}:")
        for line in lines:
            print(f"    {line}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sent", default="10000,1000000", help="Sizes of the sent rows, comma-separated")
    parser.add_argument("--pending", type=int, default=500)
    parser.add_argument("--passes", type=int, default=20)
    parser.add_argument("--prune-passes", type=int, default=5)
    parser.add_argument("--drop", action="store_true", help="Drop the bench database at the end")
    args = parser.parse_args()
    name = dsn(DATABASE_URL).split("?")[0].rsplit("/", 1)[1]
    if "bench" not in name:
        print(f"refusing to empty the outbox of {name!r}: name a bench database in DATABASE_URL", file=sys.stderr)
        return 2
    ensure_database(DATABASE_URL)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from project.outbox import services

    if not settings.IS_POSTGRES:
        print("bench/outbox.py needs PostgreSQL (DATABASE_URL)", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0)
    execute(f"ALTER TABLE {TABLE} SET (autovacuum_enabled = false)")
    services._send = lambda task, args, kwargs: None  # the broker publish is not timed
    load_before = os.getloadavg()
    print(f"load average {load()}; {os.cpu_count()} CPUs; PostgreSQL {execute('SHOW server_version')[0][0]}")

    sizes = [int(size) for size in args.sent.split(",")]
    measured = [measure(size, args.pending, args.passes, args.prune_passes) for size in sizes]

    rows = []
    print(f"\n{'figure':<44} {'before p50/p95 ms':>20} {'after p50/p95 ms':>20} {'ratio p95':>10}")
    for m in measured:
        for figure, label in figures(args.pending):
            before, after = m["before"][figure], m["after"][figure]
            ratio = after["p95_ms"] / before["p95_ms"] if before["p95_ms"] else None
            ok = figure != "relay" or (after["p50_ms"] <= TARGET_MS and after["p95_ms"] <= TARGET_MS)
            text = f"{label}, {m['sent_rows']:,} sent rows"
            print(
                f"{text:<44} {before['p50_ms']:>9.2f} /{before['p95_ms']:>9.2f} {after['p50_ms']:>9.2f} /"
                f"{after['p95_ms']:>9.2f} {ratio:>10.3f}"
            )
            rows.append(
                {
                    "name": text,
                    "figure_text": f"p50 {after['p50_ms']} ms, p95 {after['p95_ms']} ms",
                    "reference_text": f"before: p50 {before['p50_ms']} ms, p95 {before['p95_ms']} ms",
                    "ratio": ratio,
                    "target": f"<= {TARGET_MS:g} ms" if figure == "relay" else "",
                    "result": ("PASS" if ok else "FAIL") if figure == "relay" else "",
                }
            )
    load_after = os.getloadavg()
    print(f"\nload average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "load_before": [round(x, 2) for x in load_before],
                    "load_after": [round(x, 2) for x in load_after],
                },
                "sizes": measured,
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    if args.drop:
        from django.db import connections

        connections.close_all()
        ensure_database_dropped(DATABASE_URL)
    return 0 if all(r["result"] != "FAIL" for r in rows) else 1


def ensure_database_dropped(url: str) -> None:
    import psycopg

    base, name = dsn(url).split("?")[0].rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"dropped database {name}")


if __name__ == "__main__":
    raise SystemExit(main())
