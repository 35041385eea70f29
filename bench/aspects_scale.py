"""Aspect extraction throughput and the constructive-feedback report at 1,000,000 reviews (issue 5, scale).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/revsent_bench VAR_DIR=/tmp/bench-var \\
        .venv/bin/python bench/aspects_scale.py [--extract N] [--report] [--runs 10] [--before REV]

A separate database (as for bench/dashboard.py): 1M reviews with their aspect rows come from
`manage.py generate_reviews --count 1000000 --aspects` (or `--aspects-only` for reviews generated earlier).

--extract N (default 2000; 0 skips): the Celery batch path, timed end to end: training.tasks.extract_aspects
  (the task's own function, run in this process) on the N lowest review ids, i.e. N/500 calls of
  reviews.aspects.review_extract_aspects (load the texts, split, predict, delete + bulk_create the
  ReviewAspect rows). Twice: with the cold-start model, then with a trained aspect model (the deployed one;
  without one, the SemEval-2014 restaurant train file is imported with import_aspect_annotations and
  `manage.py train --model aspects --wait` trains and gates it). Both runs are inside a transaction that is
  rolled back, so the stored aspect rows and the deployed model are left as they were (the cold-start run
  demotes the champion inside that transaction). Figures: reviews/s, sentences/s, rows/s.

--report: aspect_report (analytics/aspect_report.py) in six scopes (no filters = the default last 90 days;
  explicit last 90 days; the busiest business; source=google; rating <= 2; the whole two years), warm,
  --runs runs each: p50/p95 of the call, the SQL time of each part (rollups, table = live aspect rows,
  distinct reviews, quotes, suggestions; from a query wrapper), and beside it the main aggregate over the
  aspect rows written as one raw SQL query (psycopg, own connection). The report reads the aspect rollups
  when they are built: run `manage.py rebuild_rollups --only aspects` on the database first (the script
  vacuums them). With --before REV, the same figures for analytics/aspect_report.py as of git revision REV
  (e.g. 9c480f3, the copied columns without rollups, or ad6f7ec, the join), loaded from git.

Writes bench/results/aspects_scale.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/revsent_bench")
os.environ.setdefault("VAR_DIR", "/tmp/bench-var")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("MLFLOW_ENABLED", "false")

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from analytics import aspect_report  # noqa: E402
from reviews.filters import ReviewFilters as AspectFilters  # noqa: E402

TARGET_MS = 300.0
RESULTS = ROOT / "bench" / "results" / "aspects_scale.json"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(samples: list[float]) -> dict:
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "min_ms": round(min(samples), 1),
    }


# --- extraction --------------------------------------------------------------------------------


class _Rollback(Exception):
    pass


def _time_extraction(ids: list[int]) -> dict:
    from reviews.models import Review, ReviewAspect
    from training import aspects as aspect_service
    from training.ml.text import split_sentences
    from training.tasks import extract_aspects

    champion = aspect_service.current_aspect_champion()
    model = aspect_service.get_aspect_model()  # loaded once per worker process: not part of the figure
    sentences = sum(len(split_sentences(t)) for t in Review.objects.filter(pk__in=ids).values_list("text", flat=True))
    started = time.perf_counter()
    rows = extract_aspects(ids)
    seconds = time.perf_counter() - started
    stored = ReviewAspect.objects.filter(review_id__in=ids, source="model").count()
    assert stored == rows, (stored, rows)
    return {
        "model": champion.name if champion else "cold start",
        "algorithm": getattr(model, "ALGORITHM", type(model).__name__),
        "reviews": len(ids),
        "sentences": sentences,
        "rows": rows,
        "seconds": round(seconds, 2),
        "reviews_per_s": round(len(ids) / seconds, 1),
        "sentences_per_s": round(sentences / seconds, 1),
        "rows_per_review": round(rows / len(ids), 2),
    }


def _ensure_trained_model(data_dir: Path) -> None:
    from training.aspects import current_aspect_champion

    if current_aspect_champion() is not None:
        return
    call_command("import_aspect_annotations", str(data_dir / "semeval2014_restaurants_train"))
    call_command("train", model="aspects", wait=True)
    if current_aspect_champion() is None:
        raise SystemExit("The trained aspect model was not promoted; see the training job's gate decision")


def bench_extract(n: int, data_dir: Path) -> list[dict]:
    from reviews.models import Review
    from training import aspects as aspect_service
    from training.models import ModelVersion

    ids = list(Review.objects.order_by("id").values_list("id", flat=True)[:n])
    if len(ids) < n:
        raise SystemExit(f"Only {len(ids)} reviews in the database; generate some first")
    results = []
    _ensure_trained_model(data_dir)
    for label in ("cold start", "trained"):
        try:
            with transaction.atomic():
                if label == "cold start":
                    ModelVersion.objects.filter(
                        kind=ModelVersion.Kind.ASPECTS, stage=ModelVersion.Stage.CHAMPION
                    ).update(stage=ModelVersion.Stage.ARCHIVED)
                aspect_service._cache.clear()
                result = _time_extraction(ids)
                raise _Rollback
        except _Rollback:
            pass
        aspect_service._cache.clear()
        results.append(result)
        print(
            f"extract {result['model']:<34} {result['reviews']:,} reviews ({result['sentences']:,} sentences, "
            f"{result['rows']:,} rows) in {result['seconds']:.1f}s: {result['reviews_per_s']:,.0f} reviews/s, "
            f"{result['sentences_per_s']:,.0f} sentences/s",
            flush=True,
        )
    return results


# --- report ------------------------------------------------------------------------------------


def part_of(sql: str) -> str:
    """Which part of the report a query is (the parts of the join and copies versions keep their names)."""
    if "aspectrollupstate" in sql or "aspectrollupdirtyday" in sql:
        return "other"
    if '"analytics_' in sql:
        return "rollups"
    if '"is_suggestion"' not in sql:
        return "other"
    if "COUNT(DISTINCT" in sql or "SELECT DISTINCT" in sql:
        return "distinct reviews"
    if "GROUP BY" in sql:
        # The copies version: the main aggregate over mentions, or the suggestion counts; now: live rows.
        return (
            "suggestions"
            if 'NOT "reviews_reviewaspect"."is_suggestion"' not in sql
            and "UNION" not in sql
            and '"is_suggestion" IN' not in sql
            else "table"
        )
    if '"confidence"' in sql:
        return "quotes"
    return "suggestions"


class QueryTimer:
    def __init__(self) -> None:
        self.parts: dict[str, float] = defaultdict(float)

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.parts[part_of(sql)] += (time.perf_counter() - started) * 1000


def timed_report(report_fn, filters: AspectFilters, runs: int) -> dict:
    report_fn(filters=filters)  # warm
    totals, parts = [], defaultdict(list)
    for _ in range(runs):
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            started = time.perf_counter()
            report_fn(filters=filters)
            totals.append((time.perf_counter() - started) * 1000)
        for name, ms in timer.parts.items():
            parts[name].append(ms)
        parts["python + driver"].append(totals[-1] - sum(timer.parts.values()))
    return {**summary(totals), "parts_p95_ms": {name: round(percentile(v, 0.95), 1) for name, v in parts.items()}}


def raw_table_sql(filters: AspectFilters, now: dt.datetime) -> tuple[str, list]:
    """The report's main aggregate, by hand, over the copied columns."""
    previous_start, start, end = aspect_report._period(filters, now)
    middle = start + (end - start) / 2
    where, params = (
        ["NOT is_suggestion", "review_effective_at >= %s", "review_effective_at <= %s"],
        [previous_start, end],
    )
    for clause, value in (
        ("review_source = %s", filters.source),
        ("review_business = %s", filters.business),
        ("review_rating >= %s", filters.rating_min),
        ("review_rating <= %s", filters.rating_max),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    cur, prev, rec = "review_effective_at >= %s", "review_effective_at < %s", "review_effective_at >= %s"
    counts = [
        (cur, [start], ""),
        (cur, [start], "polarity = 'positive'"),
        (cur, [start], "polarity = 'negative'"),
        (cur, [start], "polarity = 'neutral'"),
        (cur, [start], "polarity = 'conflict'"),
        (rec, [middle], "polarity = 'negative'"),
        (rec, [middle], "polarity = 'positive'"),
        (prev, [start], ""),
        (prev, [start], "polarity = 'positive'"),
        (prev, [start], "polarity = 'negative'"),
    ]
    select, select_params = [], []
    for time_clause, time_params, polarity in counts:
        select.append(f"count(*) FILTER (WHERE {time_clause}{' AND ' + polarity if polarity else ''})")
        select_params += time_params
    sql = (
        f"SELECT category, {', '.join(select)} FROM reviews_reviewaspect WHERE {' AND '.join(where)}"
        " GROUP BY category ORDER BY 2 DESC, category"
    )
    return sql, select_params + params


def load_report_module(revision: str):
    source = subprocess.run(
        ["git", "show", f"{revision}:analytics/aspect_report.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader(f"aspect_report_{revision}", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    exec(compile(source, f"{revision}:analytics/aspect_report.py", "exec"), module.__dict__)
    return module


def _rollup_tables() -> list[str]:
    from analytics import aspect_rollups

    return [model._meta.db_table for model in (*aspect_rollups.DAILY_TABLES, *aspect_rollups.MONTHLY_TABLES)]


def bench_report(runs: int, before: str | None) -> tuple[list[dict], dict]:
    dsn = settings.DATABASES["default"]
    conn = psycopg.connect(
        host=dsn["HOST"], port=dsn["PORT"] or 5432, user=dsn["USER"], dbname=dsn["NAME"], autocommit=True,
        prepare_threshold=None,
    )  # fmt: skip
    with conn.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE reviews_reviewaspect")
        for table in _rollup_tables():  # a rebuild leaves the old rows dead until autovacuum comes
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(
            "SELECT (SELECT count(*) FROM reviews_review), count(*), count(*) FILTER (WHERE is_suggestion),"
            " pg_size_pretty(pg_total_relation_size('reviews_reviewaspect')) FROM reviews_reviewaspect"
        )
        reviews, rows, suggestions, size = cursor.fetchone()
        cursor.execute("SELECT review_business FROM reviews_reviewaspect GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        business = cursor.fetchone()[0]
    data = {"reviews": reviews, "aspect_rows": rows, "suggestion_rows": suggestions, "table_size": size}
    print(f"{reviews:,} reviews, {rows:,} aspect rows ({suggestions:,} suggestions, {size})", flush=True)
    now = timezone.now().replace(microsecond=0)
    scopes = {
        "no filters (last 90 days)": AspectFilters(),
        "last 90 days": AspectFilters(date_from=now - dt.timedelta(days=90), date_to=now),
        "busiest business": AspectFilters(business=business),
        "source google": AspectFilters(source="google"),
        "rating <= 2": AspectFilters(rating_max=2),
        "two years": AspectFilters(date_from=now - dt.timedelta(days=730), date_to=now),
    }
    variants = [("now", aspect_report.aspect_report)]
    if before:
        old = load_report_module(before)

        def old_report(*, filters, _old=old):
            return _old.aspect_report(filters=_old.AspectFilters(**vars(filters)))

        variants.append((f"before ({before})", old_report))
    out = []
    print(f"\n{'scope':<26} {'version':<16} {'p50 ms':>8} {'p95 ms':>8} {'raw p95':>8}  parts p95 ms", flush=True)
    for scope, filters in scopes.items():
        sql, params = raw_table_sql(filters, timezone.now())
        samples = []
        with conn.cursor() as cursor:
            for i in range(runs + 1):
                started = time.perf_counter()
                cursor.execute(sql, params)
                cursor.fetchall()
                if i:
                    samples.append((time.perf_counter() - started) * 1000)
        raw = summary(samples)
        for version, fn in variants:
            if version != "now" and scope == "two years":
                continue  # the join version takes many seconds here
            figure = timed_report(fn, filters, runs if version == "now" else max(3, runs // 3))
            row = {"scope": scope, "version": version, **figure, "raw_sql": raw, "ok": figure["p95_ms"] <= TARGET_MS}
            out.append(row)
            parts = ", ".join(f"{k} {v:.0f}" for k, v in sorted(figure["parts_p95_ms"].items()))
            print(
                f"{scope:<26} {version:<16} {figure['p50_ms']:>8.1f} {figure['p95_ms']:>8.1f} {raw['p95_ms']:>8.1f}  "
                f"{parts}",
                flush=True,
            )
    return out, data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extract", type=int, default=2000, help="Reviews per extraction run (0: skip)")
    parser.add_argument("--report", action="store_true", help="Time the report")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--before", default=None, help="git revision of analytics/aspect_report.py to compare with")
    parser.add_argument("--data-dir", default=None, help="Default: settings.SHARED_DATA_DIR")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("Needs PostgreSQL: set DATABASE_URL")
    load_before = os.getloadavg()
    result: dict = {
        "benchmark": "aspects_scale",
        "measured_at": timezone.now().isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    if args.extract:
        data_dir = Path(args.data_dir or settings.SHARED_DATA_DIR)
        result["extraction"] = bench_extract(args.extract, data_dir)
    if args.report:
        result["report"], result["data"] = bench_report(args.runs, args.before)
        result["target_p95_ms"] = TARGET_MS
        result["report_ok"] = all(row["ok"] for row in result["report"] if row["version"] == "now")
    result["machine"]["load_before"] = [round(x, 2) for x in load_before]
    result["machine"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**previous, **result}, indent=2, default=str) + "\n")
    print(f"\nload {load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}; wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
