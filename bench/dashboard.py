"""Dashboard and analytics API at 1,000,000 reviews on PostgreSQL (issue 4 / issue 7: p95 <= 300 ms).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/revsent_bench VAR_DIR=/tmp/bench-var \
        .venv/bin/python bench/dashboard.py [--reviews 1000000] [--runs 10] [--no-generate] [--only NAME]

The database is a separate one (create it with createdb; a database without the tables is migrated
first; after schema changes run `manage.py migrate` with that DATABASE_URL). Missing reviews are added
with `manage.py generate_reviews` (skipped when the table already holds --reviews rows), then VACUUM
ANALYZE. Each figure is timed warm (one untimed run, then --runs runs; p50/p95) exactly as the code runs it:

- every dashboard chart through the functions analytics/charts.py uses (distribution, trend by
  day/week/month, by source, by business, rating vs predicted, themes) plus the page's filter choices
  (analytics.views._choices);
- GET /api/analytics/dashboard and /api/analytics/constructive-feedback through FastAPI's TestClient
  (token auth), and their selectors called directly;

each in three scopes (no filters; last 180 days + source=google; one business) and beside its reference:
the same aggregate written by hand as raw SQL and timed through psycopg on its own connection (the API
endpoints: their queries run back to back). Prints figure, reference and ratio; writes
bench/results/dashboard.json. Figures over the target get EXPLAIN (ANALYZE, BUFFERS) of the reference SQL
in the JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/revsent_bench")
os.environ.setdefault("VAR_DIR", "/tmp/bench-var")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("DEBUG", "false")  # no query log in connection.queries
os.environ.setdefault("MLFLOW_ENABLED", "false")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from analytics import charts, feedback, rollup_engine, selectors, views  # noqa: E402
from reviews.filters import ReviewFilters as ScopeFilters  # noqa: E402

TARGET_MS = 300.0
RESULTS = ROOT / "bench" / "results" / "dashboard.json"
LABELS = ["positive", "neutral", "negative"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def timed(fn, runs: int) -> dict:
    fn()  # warm
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "min_ms": round(min(samples), 1),
        "runs": runs,
    }


# --- hand-written SQL references -------------------------------------------------------------


def where(filters: ScopeFilters, *, extra: list[str] | None = None):
    """The filters as SQL, with the one date convention (reviews/filters.py): [filters.start, filters.end)."""
    clauses, params = list(extra or []), []
    if filters.business:
        clauses.append("business = %s")
        params.append(filters.business)
    if filters.source:
        clauses.append("source = %s")
        params.append(filters.source)
    if filters.start is not None:
        clauses.append("effective_at >= %s")
        params.append(filters.start)
    if filters.end is not None:
        clauses.append("effective_at < %s")
        params.append(filters.end)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


LABEL_COUNTS = ", ".join(f"count(*) FILTER (WHERE predicted_label = '{label}')" for label in LABELS)
HUMAN_COUNTS = ", ".join(f"count(*) FILTER (WHERE human_label = '{label}')" for label in LABELS)


def sql_distribution(f):
    w, p = where(f)
    return (
        f"SELECT count(*), count(*) FILTER (WHERE human_label IS NOT NULL), {LABEL_COUNTS}, {HUMAN_COUNTS}"
        f" FROM reviews_review{w}",
        p,
    )


def sql_trend(f, granularity):
    extra, params = [], []
    if f.date_from is None:
        end = f.date_to or timezone.now()
        extra.append("effective_at >= %s")
        params.append(end - dt.timedelta(days=charts.DEFAULT_TREND_DAYS[granularity]))
    w, p = where(f, extra=extra)
    tz = timezone.get_current_timezone_name()
    return (
        f"SELECT date_trunc('{granularity}', effective_at AT TIME ZONE '{tz}') AS period, count(*), {LABEL_COUNTS}"
        f" FROM reviews_review{w} GROUP BY 1 ORDER BY 1",
        params + p,
    )


def sql_by_field(f, name, limit=charts.TOP):
    w, p = where(f)
    return (
        f"SELECT {name}, count(*) AS total, {LABEL_COUNTS} FROM reviews_review{w}"
        f" GROUP BY {name} ORDER BY total DESC, {name} LIMIT {limit}",
        p,
    )


def sql_rating_vs_predicted(f):
    w, p = where(f, extra=["rating IS NOT NULL", "predicted_label IS NOT NULL"])
    return f"SELECT rating, predicted_label, count(*) FROM reviews_review{w} GROUP BY 1, 2", p


def sql_choices(_f):
    return [
        ("SELECT DISTINCT source FROM reviews_review ORDER BY source LIMIT 100", []),
        ("SELECT DISTINCT business FROM reviews_review WHERE business <> '' ORDER BY business LIMIT 500", []),
    ]


def sql_newest(f, limit):
    w, p = where(f)
    return (
        f"SELECT id, business, text, predicted_label FROM reviews_review{w}"
        f" ORDER BY effective_at DESC, id DESC LIMIT {limit}",
        p,
    )


def sql_api_dashboard(f, trend_days=90):
    end = f.date_to or timezone.now()
    start = (
        max(f.date_from, end - dt.timedelta(days=trend_days)) if f.date_from else end - dt.timedelta(days=trend_days)
    )
    w, p = where(f)
    w_rating = w
    tz = timezone.get_current_timezone_name()
    tw, tp = where(f, extra=["effective_at >= %s", "effective_at <= %s"])
    return [
        sql_distribution(f),
        sql_by_field(f, "source", limit=50),
        (f"SELECT rating, count(*) FROM reviews_review{w_rating} GROUP BY rating ORDER BY rating", p),
        (
            f"SELECT (effective_at AT TIME ZONE '{tz}')::date AS day, count(*), {LABEL_COUNTS}"
            f" FROM reviews_review{tw} GROUP BY 1 ORDER BY 1",
            [start, end] + tp,
        ),
        ("SELECT * FROM training_modelversion WHERE kind = 'sentiment' AND stage = 'champion' LIMIT 1", []),
    ]


# --- the figures --------------------------------------------------------------------------------


def figures(filters: ScopeFilters):
    """(name, figure callable, reference SQL list). References are lists of (sql, params) run back to back."""
    return [
        ("chart distribution", lambda: charts.distribution(filters), [sql_distribution(filters)]),
        *[
            (f"chart trend ({g})", (lambda g=g: charts.trend(filters, g)), [sql_trend(filters, g)])
            for g in ("day", "week", "month")
        ],
        ("chart by source", lambda: charts.by_field(filters, "source"), [sql_by_field(filters, "source")]),
        ("chart by business", lambda: charts.by_field(filters, "business"), [sql_by_field(filters, "business")]),
        (
            "chart rating vs predicted",
            lambda: charts.rating_vs_predicted(filters),
            [sql_rating_vs_predicted(filters)],
        ),
        ("chart themes (300 newest, model)", lambda: charts.themes(filters), [sql_newest(filters, 300)]),
        ("page filter choices", views._choices, sql_choices(filters)),
        ("selector dashboard()", lambda: selectors.dashboard(filters=filters), sql_api_dashboard(filters)),
        (
            "feedback_by_business() (500, stored aspects)",
            lambda: feedback.feedback_by_business(filters=filters, limit=500, per_business=5),
            [sql_newest(filters, 500)],
        ),
    ]


def api_figures(client, headers, filters: ScopeFilters, query: dict):
    def get(path):
        def call():
            response = client.get(path, params=query, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
            return response

        return call

    return [
        ("GET /api/analytics/dashboard", get("/api/analytics/dashboard"), sql_api_dashboard(filters)),
        (
            "GET /api/analytics/constructive-feedback",
            get("/api/analytics/constructive-feedback"),
            [sql_newest(filters, 500)],
        ),
    ]


def api_client():
    from django.contrib.auth import get_user_model
    from fastapi.testclient import TestClient
    from rest_framework.authtoken.models import Token

    from project.asgi import application

    User = get_user_model()
    user, created = User.objects.get_or_create(username="bench-dashboard", defaults={"is_superuser": True})
    if created or not user.is_superuser:
        user.is_superuser = True
        user.set_unusable_password()
        user.save()
    token, _ = Token.objects.get_or_create(user=user)
    return TestClient(application, follow_redirects=False), {"Authorization": f"Token {token.key}"}


def run_sql(conn, statements):
    with conn.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            cursor.fetchall()


def explain(conn, statements) -> list[str]:
    plans = []
    with conn.cursor() as cursor:
        for sql, params in statements:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def marked_days_figures(count: int, runs: int) -> dict:
    """The unfiltered charts with `count` days marked as changed (analytics.rollups: read live from the
    reviews table), beside the same charts with none marked, in the same run; then the rebuild of the
    marked days by whole months (what an import runs at its end) beside a full rebuild."""
    from analytics import rollups

    started = time.perf_counter()
    rollups.rollup_rebuild_all()
    full_s = time.perf_counter() - started
    today = timezone.localdate()
    moments = [rollup_engine.day_start(today - dt.timedelta(days=1 + 23 * i)) for i in range(count)]
    chart_calls = {
        "chart distribution": lambda: charts.distribution(ScopeFilters()),
        "chart trend (week)": lambda: charts.trend(ScopeFilters(), "week"),
        "chart by source": lambda: charts.by_field(ScopeFilters(), "source"),
        "selector dashboard()": lambda: selectors.dashboard(filters=ScopeFilters()),
    }
    result: dict = {"marked_days": count, "full_rebuild_s": round(full_s, 2), "charts": {}}
    print(f"\n{count} marked days (scattered over {23 * count} days) vs none, unfiltered:")
    print(f"{'figure':<24} {'none p50':>9} {'none p95':>9} {'marked p50':>11} {'marked p95':>11}")
    for name, call in chart_calls.items():
        clean = timed(call, runs)
        rollups.rollup_mark_dirty(moments)
        marked = timed(call, runs)
        rollups.rollup_rebuild_days({rollup_engine.local_day(m) for m in moments})  # back to none marked
        result["charts"][name] = {"none": clean, "marked": marked}
        print(
            f"{name:<24} {clean['p50_ms']:>9.1f} {clean['p95_ms']:>9.1f} {marked['p50_ms']:>11.1f} "
            f"{marked['p95_ms']:>11.1f}",
            flush=True,
        )
    rollups.rollup_mark_dirty(moments)
    started = time.perf_counter()
    rebuilt = rollups.rollup_rebuild_marked()
    result["rebuild_marked_s"] = round(time.perf_counter() - started, 2)
    print(
        f"rebuild of the {rebuilt} marked days by month: {result['rebuild_marked_s']:.2f} s; "
        f"full rebuild (reference): {full_s:.2f} s"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-generate", action="store_true")
    parser.add_argument("--no-api", action="store_true", help="Skip the TestClient figures")
    parser.add_argument("--only", default=None, help="Only figures whose name contains this")
    parser.add_argument("--jobs", type=int, default=2, help="generate_reviews prediction processes")
    parser.add_argument(
        "--marked-days",
        type=int,
        default=0,
        help="Also time the unfiltered charts with this many scattered days marked as changed (read live), "
        "and the rebuild of the marked days an import runs when it ends, beside a full rebuild",
    )
    args = parser.parse_args()

    if connection.vendor != "postgresql":
        raise SystemExit("Needs PostgreSQL: set DATABASE_URL")
    load_before = os.getloadavg()
    if "reviews_review" not in connection.introspection.table_names():
        # Only a fresh database: an existing bench database keeps the schema it was measured with.
        call_command("migrate", verbosity=0, interactive=False)
    from reviews.models import Review

    existing = Review.objects.count()
    generated = None
    if existing < args.reviews and not args.no_generate:
        started = time.perf_counter()
        call_command("generate_reviews", count=args.reviews - existing, seed=existing, batch=10_000, jobs=args.jobs)
        seconds = time.perf_counter() - started
        generated = {"reviews": args.reviews - existing, "seconds": round(seconds, 1)}
    total = Review.objects.count()

    dsn = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    # Unprepared, as Django runs them: psycopg would prepare a query after 5 runs and PostgreSQL could
    # then pick a generic plan, which is not what the figure measures.
    conn = psycopg.connect(dsn, autocommit=True, prepare_threshold=None)
    started = time.perf_counter()
    with conn.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE reviews_review")
        cursor.execute("VACUUM ANALYZE reviews_prediction")
        cursor.execute("VACUUM ANALYZE reviews_reviewaspect")  # the constructive-feedback figures read it
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('reviews_review')), version()")
        table_size, pg_version = cursor.fetchone()
        cursor.execute("SELECT business FROM reviews_review GROUP BY business ORDER BY count(*) DESC LIMIT 1")
        top_business = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) - count(DISTINCT md5(text)) FROM reviews_review")
        duplicates = cursor.fetchone()[0]
    vacuum_s = time.perf_counter() - started
    print(
        f"{total:,} reviews ({table_size}), {duplicates} exact duplicate texts; VACUUM ANALYZE {vacuum_s:.1f}s; "
        f"load {load_before[0]:.2f} on {os.cpu_count()} cores"
    )

    now = timezone.now().replace(microsecond=0)
    scopes = {
        "all": (ScopeFilters(), {}),
        "180d+google": (
            ScopeFilters(source="google", date_from=now - dt.timedelta(days=180), date_to=now),
            {"source": "google", "date_from": (now - dt.timedelta(days=180)).isoformat(), "date_to": now.isoformat()},
        ),
        "business": (ScopeFilters(business=top_business), {"business": top_business}),
    }
    logging.getLogger("httpx").setLevel(logging.WARNING)
    client = headers = None
    if not args.no_api:
        client, headers = api_client()
        client.__enter__()

    rows = []
    print(f"\n{'scope':<12} {'figure':<46} {'p50 ms':>8} {'p95 ms':>8} {'ref p50':>8} {'ref p95':>8} {'ratio':>6}  ok")
    for scope_name, (filters, query) in scopes.items():
        items = figures(filters)
        if client is not None:
            # The API parses date_to as end of day if given a bare date; an ISO datetime is kept as is.
            items += api_figures(client, headers, filters, query)
        for name, fn, reference in items:
            if args.only and args.only not in name:
                continue
            figure = timed(fn, args.runs)
            ref = timed(lambda reference=reference: run_sql(conn, reference), args.runs)
            ratio = figure["p50_ms"] / ref["p50_ms"] if ref["p50_ms"] else None
            ok = figure["p95_ms"] <= TARGET_MS
            row = {
                "scope": scope_name,
                "figure": name,
                **{k: v for k, v in figure.items()},
                "reference_p50_ms": ref["p50_ms"],
                "reference_p95_ms": ref["p95_ms"],
                "ratio": round(ratio, 2) if ratio else None,
                "target_p95_ms": TARGET_MS,
                "ok": ok,
            }
            if not ok or ref["p95_ms"] > TARGET_MS:
                row["reference_explain"] = explain(conn, reference)
            rows.append(row)
            print(
                f"{scope_name:<12} {name:<46} {figure['p50_ms']:>8.1f} {figure['p95_ms']:>8.1f} "
                f"{ref['p50_ms']:>8.1f} {ref['p95_ms']:>8.1f} {ratio or 0:>6.2f}  {'yes' if ok else 'NO'}",
                flush=True,
            )
    if client is not None:
        client.__exit__(None, None, None)
    marks = marked_days_figures(args.marked_days, args.runs) if args.marked_days else None

    load_after = os.getloadavg()
    summary = {
        "benchmark": "dashboard",
        "measured_at": timezone.now().isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "postgresql": pg_version,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
        },
        "reviews": total,
        "table_size": table_size,
        "exact_duplicate_texts": duplicates,
        "generated": generated,
        "runs": args.runs,
        "target_p95_ms": TARGET_MS,
        "scopes": {
            name: {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in vars(f).items()}
            for name, (f, _) in scopes.items()
        },
        "figures": rows,
        "marked_days": marks,
        "all_ok": all(row["ok"] for row in rows),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    out = RESULTS if not args.only else RESULTS.with_name("dashboard_only.json")
    out.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nload {load_before[0]:.2f} -> {load_after[0]:.2f}; wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
