"""The outbox relay and pruning as the record of sent tasks grows: sent rows marked in place (before) or moved out.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/revsent_bench_outbox \\
      .venv/bin/python bench/outbox.py [--sent 10000,1000000] [--pending 500] [--passes 30] [--drop]

The database named by DATABASE_URL (default revsent_bench_outbox; its name must contain "bench", since the
outbox tables are emptied) is created if missing (CREATE DATABASE, as createdb does) and migrated. Autovacuum is
off for the tables (`ALTER TABLE ... SET (autovacuum_enabled = false)`, as on this project's machine) and they are
not analyzed: dead rows and missing statistics stay, as they do there between vacuums.

- before: the design of e05eae2, inline below, on a copy of the table as it was then (`bench_outbox_before`: the
  `sent_at` column, the partial indexes `outbox_pending` and `outbox_sent`, fillfactor 50). A pass marks its rows
  sent in place: one UPDATE ... SET sent_at WHERE ctid = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED)) RETURNING,
  publish, commit; the sent rows stay in that table for 24 hours; pruning deletes 1,000 a batch through
  `outbox_sent`. (The design before that, e7eb9c5, took 28-36 ms at 10,000 sent rows and 111-130 ms at
  1,000,000: bench/README.md.)
- after: the committed `outbox_relay` (outbox 0004): one transaction DELETEs the picked rows (the same ctid
  claim), publishes them, records each publish in `SentTask` (one INSERT), and commits; `outbox_prune` deletes
  `SentTask` rows 1,000 a batch through `outbox_sent_at`.

For each size, the sent record holds that many tasks (before: rows of the outbox table; after: SentTask rows, one
per task, as after-commit publishes leave them; loaded with one INSERT ... SELECT generate_series, sent over the
last 23 hours: nothing to prune yet). Each timed pass gets --pending fresh pending rows (inserted, not timed), and
one relay pass sends them: the broker publish stubbed out (services._send does nothing), so only the database and
the pass's own Python are timed. What the pass added to the sent record is then deleted (not timed), so it keeps
its size; dead tuples stay, as without vacuum. A CHECKPOINT after loading writes the load's pages before the
timed passes start.

Prune: a pass with nothing to delete (what the minute's beat task does nearly always) and a pass deleting 5,000
tasks sent 25 hours ago (ids below every other row's, as in production), each over --prune-passes passes.

p50/p95 in ms per pass; the statement times of the median pass; the plan of the claim. Target: a relay pass
<= 5 ms at 500 pending rows (p50 and p95), about the same at 10,000 and 1,000,000 sent tasks. The load average
is printed with each phase (the machine's 2 cores are shared: compare before and after from the same run).
Writes bench/results/outbox.json. --drop drops the bench database at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
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
SENT_TABLE = "outbox_senttask"
BEFORE_TABLE = "bench_outbox_before"
TASK = "reviews.extract_fresh_aspects"  # what a created review queues for the relay
EXPIRED = 5000  # rows pruned per timed prune pass, at ids 1..EXPIRED
TARGET_MS = 5.0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the design before (e05eae2), inline, on its own copy of the table ---------------------------------------------


def create_before_table() -> None:
    execute(f"DROP TABLE IF EXISTS {BEFORE_TABLE}")
    execute(
        f"""CREATE TABLE {BEFORE_TABLE} (
            id bigserial PRIMARY KEY, task varchar(200) NOT NULL, args jsonb NOT NULL, kwargs jsonb NOT NULL,
            created_at timestamptz NOT NULL, sent_at timestamptz, attempts integer NOT NULL,
            last_error text NOT NULL, claimed_until timestamptz, claim uuid
        ) WITH (fillfactor = 50, autovacuum_enabled = false)"""
    )
    execute(f"CREATE INDEX outbox_pending_before ON {BEFORE_TABLE} (id) WHERE sent_at IS NULL")
    execute(f"CREATE INDEX outbox_sent_before ON {BEFORE_TABLE} (sent_at) WHERE sent_at IS NOT NULL")


BEFORE_CLAIM = f"""UPDATE {BEFORE_TABLE}
    SET sent_at = %(now)s, attempts = attempts + 1, last_error = '', claim = NULL, claimed_until = NULL
    WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM {BEFORE_TABLE}
        WHERE sent_at IS NULL AND (claimed_until IS NULL OR claimed_until < %(now)s) AND created_at <= %(cutoff)s
        ORDER BY id LIMIT %(batch_size)s
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING id, task, args, kwargs"""


def before_relay(*, min_age_seconds: float = 0, batch_size: int = 1000) -> int:
    """e05eae2's _relay_batch_locked (the refusal path left out: the stub never refuses)."""
    from django.db import connection, transaction
    from django.utils import timezone

    from project.outbox import services

    now = timezone.now()
    params = {"now": now, "cutoff": now - dt.timedelta(seconds=min_age_seconds), "batch_size": batch_size}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("; ".join([*services._RELAY_SETTINGS, BEFORE_CLAIM]), params)
        for _setting in services._RELAY_SETTINGS:
            cursor.nextset()
        rows = services.decoded(cursor.fetchall())
        sent, _refused, _failure = services._publish(rows)
    return sum(len(ids) for ids, *_ in sent)


def before_prune(*, keep_hours: float = 24, batch_size: int = 1000) -> int:
    from django.utils import timezone

    cutoff = timezone.now() - dt.timedelta(hours=keep_hours)
    deleted = 0
    while True:
        count = len(
            execute(
                f"""DELETE FROM {BEFORE_TABLE} WHERE id IN (SELECT id FROM {BEFORE_TABLE}
                WHERE sent_at IS NOT NULL AND sent_at < %s ORDER BY sent_at LIMIT %s) RETURNING id""",
                [cutoff, batch_size],
            )
        )
        deleted += count
        if count < batch_size:
            return deleted


# --- data ----------------------------------------------------------------------------------------------------------


def execute(sql: str, params=None):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def fill(sent: int) -> None:
    """EXPIRED free ids at the start (refilled by each prune pass), then `sent` tasks sent over the last 23 hours:
    rows of the before table, SentTask rows after."""
    for table in (TABLE, SENT_TABLE, BEFORE_TABLE):
        execute(f"TRUNCATE {table} RESTART IDENTITY")
    times = """FROM (SELECT i, now() - interval '23 hours' * (1 - (i - %s)::float / %s) AS t
              FROM generate_series(%s, %s) AS i) AS s"""
    span = [EXPIRED, sent, EXPIRED + 1, EXPIRED + sent]
    execute(
        f"""INSERT INTO {BEFORE_TABLE} (id, task, args, kwargs, created_at, sent_at, attempts, last_error)
        SELECT i, %s, jsonb_build_array(jsonb_build_array(i)), '{{}}'::jsonb, t - interval '1 second', t, 1, ''
        {times}""",
        [TASK, *span],
    )
    execute(
        f"""INSERT INTO {SENT_TABLE} (id, sent_at, task, args, kwargs, message_ids, messages, attempts)
        SELECT i, t, %s, '[[' || i || ']]', '{{}}', i::text, 1, 1
        {times}""",
        [TASK, *span],
    )
    for table in (BEFORE_TABLE, SENT_TABLE):
        execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", [EXPIRED + sent])
    execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), %s)", [EXPIRED + sent])


def add_pending(table: str, count: int) -> None:
    execute(
        f"""INSERT INTO {table} (task, args, kwargs, created_at, attempts, last_error)
        SELECT %s, jsonb_build_array(jsonb_build_array(i)), '{{}}'::jsonb, now() - interval '10 seconds', 0, ''
        FROM generate_series(1, %s) AS i""",
        [TASK, count],
    )


def add_expired(*, before: bool) -> None:
    if before:
        execute(
            f"""INSERT INTO {BEFORE_TABLE} (id, task, args, kwargs, created_at, sent_at, attempts, last_error)
            SELECT i, %s, jsonb_build_array(jsonb_build_array(i)), '{{}}'::jsonb,
                   now() - interval '25 hours', now() - interval '25 hours', 1, ''
            FROM generate_series(1, %s) AS i""",
            [TASK, EXPIRED],
        )
    else:
        execute(
            f"""INSERT INTO {SENT_TABLE} (id, sent_at, task, args, kwargs, message_ids, messages, attempts)
            SELECT i, now() - interval '25 hours', %s, '[[' || i || ']]', '{{}}', i::text, 1, 1
            FROM generate_series(1, %s) AS i""",
            [TASK, EXPIRED],
        )


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
    from django.db import connection, transaction

    from project.outbox import services

    with transaction.atomic(), connection.cursor() as cursor:
        for setting in services._RELAY_SETTINGS:
            cursor.execute(setting)
        cursor.execute("EXPLAIN " + sql, params)
        return [row[0] for row in cursor.fetchall()]


def claim_plans() -> dict:
    from django.db import connection

    from project.outbox import services

    captured: list[tuple[str, dict]] = []

    def capture(execute_, sql, params, many, context):
        captured.append((sql.split("; ")[-1], params))  # the claim, after its SET LOCAL settings
        raise RuntimeError("planned only")

    with connection.execute_wrapper(capture):
        try:
            services.outbox_relay(min_age_seconds=0)
        except RuntimeError:
            pass
    now = dt.datetime.now(dt.UTC)
    return {
        "before: the claim (UPDATE)": plan(BEFORE_CLAIM, {"now": now, "cutoff": now, "batch_size": 1000}),
        "after: the claim (DELETE)": plan(*captured[0]),
    }


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
    execute("CHECKPOINT")  # the load's dirty pages are written now, not during the timed passes
    print(f"\n== {sent:,} sent tasks (loaded in {time.perf_counter() - started:.1f} s), load {load()}", flush=True)
    result: dict = {"sent_rows": sent, "pending_rows": pending}

    def after_pass(table: str):
        def check_and_trim(count: int) -> None:
            assert count == pending, f"the pass sent {count} of {pending} rows"
            execute(f"DELETE FROM {table} WHERE id > %s", [EXPIRED + sent])

        return check_and_trim

    def delete_expired_leftovers(table: str):
        return lambda _count: execute(f"DELETE FROM {table} WHERE id <= %s", [EXPIRED])

    phases = (
        ("before", BEFORE_TABLE, BEFORE_TABLE, lambda: before_relay(min_age_seconds=0), before_prune),
        ("after", TABLE, SENT_TABLE, lambda: services.outbox_relay(min_age_seconds=0).sent, services.outbox_prune),
    )
    for phase, pending_table, sent_table, relay, prune in phases:
        relay()  # warm: connection, caches
        result[phase] = {
            "relay": timed_passes(
                relay, lambda table=pending_table: add_pending(table, pending), after_pass(sent_table), passes
            ),
            "prune_nothing": timed_passes(prune, lambda: None, lambda n: None, prune_passes),
            "prune_5000": timed_passes(
                prune,
                lambda phase=phase: add_expired(before=phase == "before"),
                delete_expired_leftovers(sent_table),
                prune_passes,
            ),
        }
        for figure, label in figures(pending):
            r = result[phase][figure]
            print(f"{phase:6s} {label:30s} p50 {r['p50_ms']:9.2f} ms  p95 {r['p95_ms']:9.2f} ms  load {r['load']}")
        for statement in result[phase]["relay"]["statements_of_median_pass"]:
            print(f"         {statement['ms']:8.2f} ms  {statement['sql']}")
    add_pending(TABLE, pending)
    result["plans"] = claim_plans()
    execute(f"DELETE FROM {TABLE}")
    for name, lines in result["plans"].items():
        print(f"plan, {name}:")
        for line in lines:
            print(f"    {line}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sent", default="10000,1000000", help="Sizes of the sent rows, comma-separated")
    parser.add_argument("--pending", type=int, default=500)
    parser.add_argument("--passes", type=int, default=30)
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
    for table in (TABLE, SENT_TABLE):
        execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    create_before_table()
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
            text = f"{label}, {m['sent_rows']:,} sent tasks"
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
