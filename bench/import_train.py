"""Import and training at 100,000 reviews on PostgreSQL, each beside a bare reference (issue 7).

    .venv/bin/python bench/import_train.py [--reviews 100000] [--only import,train]

A bench database (BENCH_IMPORT_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/revsent_bench_import;
created and migrated here) and a bench Redis database (BENCH_REDIS_URL, default redis://127.0.0.1:6379/12,
emptied before and after: the broker receives the aspect-extraction tasks the import queues, and no worker
runs here). Runtime files go to BENCH_VAR_DIR (default /tmp/bench-import-var). MLflow is off
(MLFLOW_ENABLED=false), as in the other benchmarks. The first run trains a model on the shared Yelp and
Zomato files (as bench/api.py does), so the import predicts with a trained TF-IDF model, not VADER.

The data: a CSV of --reviews reviews recombined from the shared Yelp, Zomato and SemEval sentences by the
generator of `manage.py generate_reviews` (stars consistent with the sentences, 2,000 businesses, no exact
duplicates), written once per size and seed under BENCH_VAR_DIR.

- import: `manage.py import_reviews` of that CSV (predict + insert; aspect extraction is queued for Celery
  and not part of the figure; bench/aspects_scale.py measures it) into an empty reviews table, vs the
  reference: read the same CSV, predict_proba in batches of 1,000 in-process, and COPY the same rows (review
  + ingest prediction) into the same tables. Targets: <= 60 s and >= 50 % of the reference rate.
- train: `manage.py train --wait --model sentiment` on the imported reviews (the real job: collect the rows
  with a server-side cursor, split, fit, score candidate and champion, gate, save), vs the reference: the
  same training split fitted by training.ml.text_classifier.fit with the data already in memory. Target:
  the job's own time <= 1.3 x the bare fit. Peak RSS of both processes (wait4) is reported.

Prints figure / reference / ratio / target / PASS-FAIL and writes bench/results/import_train.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import dsn, ensure_database, ensure_trained_model, run_measured, stack_env  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "import_train.json"
FIGURES = ("import", "train")
SOURCE = "bench-import"
DATABASE_URL = os.environ.get("BENCH_IMPORT_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/revsent_bench_import"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/12"
VAR_DIR = Path(os.environ.get("BENCH_VAR_DIR") or "/tmp/bench-import-var")
ENV = stack_env(DATABASE_URL, REDIS_URL, VAR_DIR)
os.environ.update(ENV)
CSV_COLUMNS = ["review_id", "text", "stars", "business", "author", "date"]
IMPORT_ARGS = ["--text-col", "text", "--rating-col", "stars", "--id-col", "review_id", "--business-col", "business",
               "--author-col", "author", "--date-col", "date", "--source", SOURCE]  # fmt: skip


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def empty_reviews() -> None:
    """Every review and what hangs off it; the model versions and jobs stay."""
    import psycopg

    with psycopg.connect(dsn(DATABASE_URL), autocommit=True) as conn:
        # Restarting the ids keeps the evaluation bucket (chosen by review id) on the same texts in every run,
        # so a champion trained by an earlier run never has the candidate's evaluation texts in its training.
        conn.execute("TRUNCATE reviews_review RESTART IDENTITY CASCADE")
        conn.execute("VACUUM ANALYZE reviews_review")


def write_csv(path: Path, count: int, seed: int, data_dir: Path) -> float:
    """Recombined reviews (the generate_reviews generator), unless this file was written before."""
    if path.exists():
        return 0.0
    from django.utils import timezone

    from training.synthetic_reviews import Generator

    started = time.perf_counter()
    generator = Generator(data_dir, seed, existing=set())
    now = timezone.now()
    tmp = path.with_suffix(".part")
    with tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        written = 0
        while written < count:
            for row in generator.batch(min(10_000, count - written), now):
                written += 1
                writer.writerow([f"gen-{seed}-{written}", row["text"], int(row["rating"]), row["business"],
                                 row["author"], row["review_date"].isoformat()])  # fmt: skip
    tmp.rename(path)
    seconds = time.perf_counter() - started
    print(f"wrote {count:,} recombined reviews to {path} in {seconds:.0f} s", flush=True)
    return seconds


# --- import --------------------------------------------------------------------------------------


def reference_copy(path: Path, batch: int = 1000) -> dict:
    """Read the CSV, predict each batch in-process with the deployed model, COPY review + prediction rows."""
    import datetime as dt

    import psycopg

    from training.ml.predictor import scores_from_probabilities
    from training.registry import get_deployed_model

    deployed = get_deployed_model()
    deployed.model.predict_proba(["warm up"])
    started = time.perf_counter()
    predict_s = 0.0
    rows_written = 0
    with psycopg.connect(dsn(DATABASE_URL)) as conn, path.open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        pending: list[dict] = []

        def flush(rows: list[dict]) -> None:
            nonlocal predict_s, rows_written
            t0 = time.perf_counter()
            results = scores_from_probabilities(deployed.model.predict_proba([row["text"] for row in rows]))
            predict_s += time.perf_counter() - t0
            now = dt.datetime.now(dt.UTC)
            with conn.cursor() as cursor:
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence('reviews_review', 'id')) FROM generate_series(1, %s)",
                    [len(rows)],
                )
                ids = [r[0] for r in cursor.fetchall()]
                scores = [json.dumps(result.scores) for result in results]
                with cursor.copy(
                    "COPY reviews_review (id, text, source, rating, business, author, external_id, review_date,"
                    " created_at, language, is_english, predicted_label, predicted_confidence, predicted_scores,"
                    " predicted_by_id, predicted_at) FROM STDIN"
                ) as copy:
                    for review_id, row, result, score in zip(ids, rows, results, scores, strict=True):
                        copy.write_row(
                            (review_id, row["text"], SOURCE, row["stars"], row["business"], row["author"],
                             row["review_id"], row["date"], now, "en", True, result.label, result.confidence, score,
                             deployed.version_id, now)
                        )  # fmt: skip
                with cursor.copy(
                    "COPY reviews_prediction (review_id, model_version_id, label, confidence, scores, is_ingest,"
                    " created_at) FROM STDIN"
                ) as copy:
                    for review_id, result, score in zip(ids, results, scores, strict=True):
                        copy.write_row((review_id, deployed.version_id, result.label, result.confidence, score, True,
                                        now))  # fmt: skip
            conn.commit()
            rows_written += len(rows)

        for row in reader:
            pending.append(row)
            if len(pending) == batch:
                flush(pending)
                pending = []
        if pending:
            flush(pending)
    seconds = time.perf_counter() - started
    return {
        "reviews": rows_written,
        "seconds": round(seconds, 2),
        "reviews_per_s": round(rows_written / seconds, 1),
        "predict_s": round(predict_s, 2),
        "model": deployed.name,
    }


def bench_import(path: Path, count: int) -> dict:
    import psycopg
    import redis

    empty_reviews()
    reference = reference_copy(path)
    print(f"reference (CSV + in-process predict + COPY): {reference}", flush=True)
    empty_reviews()
    flush_redis()
    measured = run_measured(
        [sys.executable, "manage.py", "import_reviews", str(path), *IMPORT_ARGS],
        cwd=ROOT,
        env={**os.environ},
        log=VAR_DIR / "import_reviews.log",
    )
    with psycopg.connect(dsn(DATABASE_URL)) as conn:
        stored = conn.execute("SELECT count(*) FROM reviews_review WHERE source = %s", [SOURCE]).fetchone()[0]
        predictions = conn.execute("SELECT count(*) FROM reviews_prediction WHERE is_ingest").fetchone()[0]
    queued = redis.Redis.from_url(REDIS_URL).llen("bulk")
    figure = {
        **measured,
        "reviews": stored,
        "ingest_predictions": predictions,
        "reviews_per_s": round(stored / measured["seconds"], 1),
        "aspect_tasks_queued": queued,
        "last_lines": (VAR_DIR / "import_reviews.log").read_text(errors="replace").strip().splitlines()[-2:],
    }
    print(f"import_reviews: {figure}", flush=True)
    if stored != count:
        raise RuntimeError(f"import_reviews stored {stored:,} reviews, expected {count:,}")
    return {"figure": figure, "reference": reference}


# --- training ------------------------------------------------------------------------------------


def bare_fit() -> None:
    """--bare-fit (a process of its own, for its peak RSS): the training split in memory, then fit."""
    import django

    django.setup()
    from training.datasets import collect_examples, split_examples
    from training.ml import text_classifier

    started = time.perf_counter()
    train, _ = split_examples(collect_examples())
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    text_classifier.fit(train.texts, train.labels, train.weights)
    fit_s = time.perf_counter() - started
    print("BARE_FIT " + json.dumps({"train_size": len(train), "load_s": round(loaded, 2), "fit_s": round(fit_s, 2)}))


def bench_train() -> dict:
    from training.models import TrainingJob

    before = TrainingJob.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    command = run_measured(
        [sys.executable, "manage.py", "train", "--wait", "--model", "sentiment", "--min-samples", "50"],
        cwd=ROOT,
        env={**os.environ},
        log=VAR_DIR / "train.log",
    )
    job = TrainingJob.objects.filter(pk__gt=before).order_by("-pk").first()
    if job is None or job.status != TrainingJob.Status.SUCCEEDED:
        raise RuntimeError(f"training did not succeed: {job and job.error}")
    metrics = job.metrics or {}
    figure = {
        "command_seconds": command["seconds"],
        "job_seconds": metrics.get("training_seconds"),
        "fit_seconds": metrics.get("fit_seconds"),
        "train_size": metrics.get("train_size"),
        "peak_rss_mb": command["peak_rss_mb"],
        "decision": metrics.get("decision"),
    }
    print(f"train --wait: {figure}", flush=True)
    log = VAR_DIR / "bare_fit.log"
    bare = run_measured([sys.executable, __file__, "--bare-fit"], cwd=ROOT, env={**os.environ}, log=log)
    line = next(line for line in log.read_text().splitlines() if line.startswith("BARE_FIT "))
    reference = {**json.loads(line.removeprefix("BARE_FIT ")), "process_seconds": bare["seconds"],
                 "peak_rss_mb": bare["peak_rss_mb"]}  # fmt: skip
    print(f"bare fit: {reference}", flush=True)
    return {"figure": figure, "reference": reference}


# --- report --------------------------------------------------------------------------------------


def rows_for(results: dict, count: int) -> list[dict]:
    rows = []
    if "import" in results:
        fig, ref = results["import"]["figure"], results["import"]["reference"]
        ratio = fig["reviews_per_s"] / ref["reviews_per_s"]
        rows.append({
            "name": f"import_reviews of {count:,} reviews",
            "figure_text": f"{fig['seconds']:.1f}s {fig['reviews_per_s']:,.0f}/s",
            "reference_text": f"{ref['seconds']:.1f}s {ref['reviews_per_s']:,.0f}/s",
            "ratio": round(ratio, 3),
            "target": "<= 60 s, >= 50% of reference rate",
            "checks": {"seconds": fig["seconds"] <= 60, "rate": ratio >= 0.5},
        })  # fmt: skip
    if "train" in results:
        fig, ref = results["train"]["figure"], results["train"]["reference"]
        ratio = fig["job_seconds"] / ref["fit_s"]
        rows.append({
            "name": f"training on {fig['train_size']:,} of {count:,} reviews (job vs bare fit)",
            "figure_text": f"{fig['job_seconds']:.1f}s (fit {fig['fit_seconds']:.1f}s) {fig['peak_rss_mb']:,}MB",
            "reference_text": f"{ref['fit_s']:.1f}s {ref['peak_rss_mb']:,}MB",
            "ratio": round(ratio, 3),
            "target": "<= 1.3x bare fit",
            "checks": {"ratio": ratio <= 1.3},
        })  # fmt: skip
    for row in rows:
        row["result"] = "PASS" if all(row["checks"].values()) else "FAIL"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", default=",".join(FIGURES), help=f"Comma-separated subset of {', '.join(FIGURES)}")
    parser.add_argument("--data-dir", type=Path, default=None, help="Default: $SHARED_DATA_DIR or ../shared/data")
    parser.add_argument("--bare-fit", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_fit:
        bare_fit()
        return
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    if set(only) - set(FIGURES):
        raise SystemExit(f"unknown figures {sorted(set(only) - set(FIGURES))}; choose from {FIGURES}")
    load_before = os.getloadavg()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    ensure_database(DATABASE_URL)
    import django

    django.setup()
    from django.core.management import call_command

    from training.ml.datasets import default_data_dir

    data_dir = args.data_dir or default_data_dir()
    call_command("migrate", verbosity=0, interactive=False)
    flush_redis()
    version = ensure_trained_model(data_dir)
    print(f"deployed model {version.name} ({version.algorithm})", flush=True)
    path = VAR_DIR / f"reviews_{args.reviews}_{args.seed}.csv"
    generate_s = write_csv(path, args.reviews, args.seed, data_dir)

    results: dict = {}
    try:
        if "import" in only:
            results["import"] = bench_import(path, args.reviews)
        if "train" in only:
            from reviews.models import Review

            if Review.objects.filter(source=SOURCE).count() < args.reviews:
                print("importing the reviews to train on", flush=True)
                empty_reviews()
                run_measured([sys.executable, "manage.py", "import_reviews", str(path), *IMPORT_ARGS], cwd=ROOT,
                             env={**os.environ}, log=VAR_DIR / "import_reviews.log")  # fmt: skip
            results["train"] = bench_train()
    finally:
        flush_redis()

    rows = rows_for(results, args.reviews)
    print(f"\n{'figure':<58} {'figure':>22} {'reference':>22} {'ratio':>6}  {'target':<34} result")
    for row in rows:
        print(
            f"{row['name']:<58} {row['figure_text']:>22} {row['reference_text']:>22} {row['ratio']:>6.2f}  "
            f"{row['target']:<34} {row['result']}"
        )
    load_after = os.getloadavg()
    summary = {
        "benchmark": "import_train",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
        },
        "reviews": args.reviews,
        "csv": {"path": str(path), "generate_s": round(generate_s, 1)},
        "model": {"name": version.name, "algorithm": version.algorithm},
        "rows": rows,
        "raw": results,
        "all_ok": all(row["result"] == "PASS" for row in rows),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nload {load_before[0]:.2f} -> {load_after[0]:.2f}; wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
