"""HTTP load benchmark of the API with wrk, the server run as deployed (issue 7).

    .venv/bin/python bench/api.py [--duration 10] [--connections 16] [--only single,batch,create]

Needs wrk (Debian: `apt-get install -y wrk`), PostgreSQL and Redis. The server is the real one,
`uvicorn project.asgi:application --workers 2` under project/serve.py (a socket per worker), against
a bench database (BENCH_API_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/revsent_bench_api;
created and migrated here) and a bench Redis database (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/12, **emptied** before and after the run: it holds the prediction cache and the
aspect-extraction tasks the created reviews enqueue, which no worker consumes here). Runtime files go
to BENCH_VAR_DIR (default /tmp/bench-api-var).

The first run trains a model: the shared Yelp and Zomato files are imported with `import_reviews` and
`train --wait` fits and promotes the default model (a minute or two); later runs reuse it. A superuser
`bench-api` gets a token from `create_api_token`.

Every request carries a text no earlier request sent (a base text from the shared files plus a run,
thread and counter tag: bench/wrk/*.lua), so the prediction cache never answers. wrk runs keep-alive
with --connections connections on one thread (it shares the 2 cores with the server), 3 s of warm-up
first, then --duration seconds measured; latency percentiles come from the Lua done() hook.

Figures, each beside its reference measured in the same run, and targets:

- POST /api/reviews/predict, one text per request, vs bench/bare_app.py (FastAPI + the same model
  file; no Django, auth or DB) under uvicorn with as many workers, same wrk script:
  >= 1,000 req/s and p99 <= 25 ms.
- POST /api/reviews/predict with 1,000 texts per call on one connection vs predict_proba of 1,000
  texts per call in this process: >= 70 % of the reference texts/s.
- POST /api/reviews/, one review per request, vs the same rows (review + ingest prediction) INSERTed
  through psycopg by --connections threads, one transaction per review: >= 400 req/s, p99 <= 50 ms.

Prints figure / reference / ratio / target / PASS-FAIL and writes bench/results/api.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import dsn, ensure_database, ensure_trained_model, percentile, stack_env  # noqa: E402

BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "results" / "api.json"
WRK_DIR = ROOT / "bench" / "wrk"
FIGURES = ("single", "batch", "create")
WRK_INSTALL = "wrk is not installed: apt-get install -y wrk (Debian package `wrk`)"

DATABASE_URL = os.environ.get("BENCH_API_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/revsent_bench_api"
REDIS_URL = os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/12"
VAR_DIR = Path(os.environ.get("BENCH_VAR_DIR") or "/tmp/bench-api-var")

# The bench process and both servers see the same settings.
SERVER_ENV = stack_env(DATABASE_URL, REDIS_URL, VAR_DIR)
os.environ.update(SERVER_ENV)


def flush_redis() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


# --- setup: database, model, token ---------------------------------------------------------------


def prepare(data_dir: Path) -> dict:
    """Migrate, make sure a trained model is deployed, return its file, name and a token."""
    import io

    import django

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from training import storage

    call_command("migrate", verbosity=0, interactive=False)
    from reviews.models import Review

    # Reviews created by earlier runs (the trained-on imports stay).
    Review.objects.filter(source__in=["bench-api", "bench-check"]).delete()

    version = ensure_trained_model(data_dir)

    User = get_user_model()
    user, _ = User.objects.get_or_create(username="bench-api", defaults={"is_superuser": True, "is_staff": True})
    if not user.is_superuser:
        user.is_superuser = True
        user.save(update_fields=["is_superuser"])
    out = io.StringIO()
    call_command("create_api_token", "bench-api", stdout=out, stderr=io.StringIO())
    token = out.getvalue().strip().splitlines()[-1]
    return {
        "model_path": str(storage.local_path(version.artifact_path)),
        "model_version": version.name,
        "algorithm": version.algorithm,
        "token": token,
    }


def write_texts(data_dir: Path, path: Path, limit: int = 5000, max_chars: int = 1500) -> list[str]:
    """Base texts: Yelp and Zomato reviews (at most max_chars), one JSON-escaped text per line."""
    from training.ml.datasets import load_yelp, load_zomato

    texts = [e.text for e in load_yelp(data_dir) + load_zomato(data_dir) if 0 < len(e.text) <= max_chars]
    texts = texts[:: max(1, len(texts) // limit)][:limit]
    with path.open("w", encoding="ascii") as out:
        for text in texts:
            out.write(json.dumps(text, ensure_ascii=True)[1:-1] + "\n")
    return texts


# --- servers and wrk -----------------------------------------------------------------------------


class Server:
    """The server as deployed: uvicorn's command line under project/serve.py (a socket per worker), or
    with plain=True uvicorn itself (its workers share one socket)."""

    def __init__(self, app: str, health: str, env: dict, workers: int, name: str, plain: bool = False):
        from tests.live import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = VAR_DIR / f"{name}-{self.port}.log"
        self.health = health
        launcher = [str(BIN / "uvicorn")] if plain else [str(BIN / "python"), "-m", "project.serve"]
        command = [*launcher, app, "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(workers), "--log-level", "warning"]
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
            )

    def __enter__(self):
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()}")
            try:
                if httpx.get(self.base + self.health, timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not become healthy:\n{self.log_path.read_text()}")
            time.sleep(0.3)

    def __exit__(self, *exc):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def run_wrk(url: str, script: str, args: list[str], *, connections: int, duration: float, headers: dict) -> dict:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    command += ["-s", str(WRK_DIR / script), url, "--", *args]
    output = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^WRK_JSON (.*)$", output, re.M)
    if match is None:
        raise RuntimeError(f"no WRK_JSON line in wrk output:\n{output}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    errors = sum(data["errors"].values())
    return {
        "requests": data["requests"],
        "seconds": round(seconds, 2),
        "req_per_s": round(data["requests"] / seconds, 1),
        "errors": data["errors"],
        "error_count": errors,
        **{f"{k}_ms": round(v / 1000, 2) for k, v in data["latency_us"].items()},
        "connections": connections,
    }


def wrk_figure(url, script, texts_file, tag, *, connections, duration, headers, batch=1) -> dict:
    args = [str(texts_file), tag, str(batch)]
    run_wrk(url, script, args + [], connections=connections, duration=3, headers=headers)  # warm-up
    return run_wrk(url, script, [str(texts_file), f"{tag}m", str(batch)], connections=connections,
                   duration=duration, headers=headers)  # fmt: skip


def check(url: str, body: dict, headers: dict, expect: int) -> dict:
    import httpx

    response = httpx.post(url, json=body, headers=headers, timeout=30)
    if response.status_code != expect:
        raise RuntimeError(f"POST {url}: {response.status_code} {response.text[:300]}")
    return response.json()


# --- references ----------------------------------------------------------------------------------


def inprocess_batch(model_path: str, texts: list[str], batch: int, duration: float) -> dict:
    """predict_proba of `batch` distinct texts per call, in this process, for about `duration` s."""
    import joblib

    model = joblib.load(model_path)
    model.predict_proba(texts[:batch])
    calls, done, counter = [], 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < duration or len(calls) < 3:
        chunk = []
        for _ in range(batch):
            counter += 1
            chunk.append(f"{texts[counter % len(texts)]} (ref-{counter})")
        t0 = time.perf_counter()
        model.predict_proba(chunk)
        calls.append(time.perf_counter() - t0)
        done += batch
    seconds = sum(calls)
    return {"texts": done, "seconds": round(seconds, 2), "texts_per_s": round(done / seconds, 1),
            "call_p50_ms": round(statistics.median(calls) * 1000, 1)}  # fmt: skip


def raw_insert(tag: str, *, connections: int, duration: float) -> dict:
    """The rows the API wrote for this run (review + its ingest prediction) INSERTed again through
    psycopg by `connections` threads, one transaction per review, each with a new external_id."""
    import psycopg
    from psycopg.types.json import Jsonb

    conn = psycopg.connect(dsn(DATABASE_URL), autocommit=True)

    def columns(table):
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND column_name <> 'id'"
            " AND is_generated = 'NEVER' ORDER BY ordinal_position",
            [table],
        ).fetchall()
        return [r[0] for r in rows]

    review_cols = columns("reviews_review")
    prediction_cols = [c for c in columns("reviews_prediction") if c != "review_id"]
    reviews = conn.execute(
        f"SELECT id, {', '.join(review_cols)} FROM reviews_review WHERE source = 'bench-api' AND external_id LIKE %s"
        " ORDER BY id LIMIT 20000",
        [f"{tag}m-%"],
    ).fetchall()
    predictions = {
        row[0]: row[1:]
        for row in conn.execute(
            f"SELECT review_id, {', '.join(prediction_cols)} FROM reviews_prediction WHERE review_id = ANY(%s)",
            [[r[0] for r in reviews]],
        ).fetchall()
    }
    conn.close()
    if not reviews:
        raise RuntimeError("the API run created no reviews to copy")
    ext = review_cols.index("external_id")
    json_review = [i for i, c in enumerate(review_cols) if c in ("predicted_scores",)]
    json_prediction = [i for i, c in enumerate(prediction_cols) if c == "scores"]

    def wrap(row, json_indexes):
        return [Jsonb(v) if i in json_indexes and v is not None else v for i, v in enumerate(row)]

    review_sql = (
        f"INSERT INTO reviews_review ({', '.join(review_cols)}) VALUES ({', '.join(['%s'] * len(review_cols))})"
        " RETURNING id"
    )
    prediction_sql = (
        f"INSERT INTO reviews_prediction (review_id, {', '.join(prediction_cols)})"
        f" VALUES (%s, {', '.join(['%s'] * len(prediction_cols))})"
    )
    latencies: list[list[float]] = [[] for _ in range(connections)]
    stop = time.perf_counter() + duration
    start_barrier = threading.Barrier(connections + 1)
    failures: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with psycopg.connect(dsn(DATABASE_URL)) as c:
                start_barrier.wait()
                i = n
                while time.perf_counter() < stop:
                    source = reviews[i % len(reviews)]
                    values = wrap(list(source[1:]), json_review)
                    values[ext] = f"{tag}ref-{n}-{i}"
                    t0 = time.perf_counter()
                    with c.transaction():
                        review_id = c.execute(review_sql, values).fetchone()[0]
                        if source[0] in predictions:
                            c.execute(prediction_sql, [review_id, *wrap(predictions[source[0]], json_prediction)])
                    latencies[n].append(time.perf_counter() - t0)
                    i += connections
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)
            start_barrier.abort()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    started = time.perf_counter()
    start_barrier.wait()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    flat = [x * 1000 for per in latencies for x in per]
    return {
        "rows_copied_from": len(reviews),
        "requests": len(flat),
        "seconds": round(seconds, 2),
        "req_per_s": round(len(flat) / seconds, 1),
        "p50_ms": round(percentile(flat, 0.5), 2),
        "p99_ms": round(percentile(flat, 0.99), 2),
        "connections": connections,
    }


# --- report --------------------------------------------------------------------------------------


def verdicts(row: dict) -> str:
    return "PASS" if all(row["checks"].values()) else "FAIL"


def print_rows(rows: list[dict]) -> None:
    print(f"\n{'figure':<44} {'figure':>22} {'reference':>22} {'ratio':>6}  {'target':<28} result")
    for row in rows:
        print(
            f"{row['name']:<44} {row['figure_text']:>22} {row['reference_text']:>22} {row['ratio']:>6.2f}  "
            f"{row['target']:<28} {row['result']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per measured wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of both servers")
    parser.add_argument("--batch", type=int, default=1000, help="Texts per call of the batch figure")
    parser.add_argument("--only", default=",".join(FIGURES), help=f"Comma-separated subset of {', '.join(FIGURES)}")
    parser.add_argument("--data-dir", type=Path, default=None, help="Default: $SHARED_DATA_DIR or ../shared/data")
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(only) - set(FIGURES)
    if unknown:
        raise SystemExit(f"unknown figures {sorted(unknown)}; choose from {FIGURES}")
    if shutil.which("wrk") is None:
        raise SystemExit(WRK_INSTALL)
    from training.ml.datasets import default_data_dir

    data_dir = args.data_dir or default_data_dir()
    load_before = os.getloadavg()
    ensure_database(DATABASE_URL)
    flush_redis()
    setup = prepare(data_dir)
    texts_file = Path(tempfile.mkdtemp(prefix="bench-api-")) / "texts.txt"
    texts = write_texts(data_dir, texts_file)
    tag = f"r{secrets.token_hex(3)}"
    headers = {"Authorization": f"Token {setup['token']}"}
    conn_opts = {"connections": args.connections, "duration": args.duration}
    rows, raw = [], {}
    print(f"model {setup['model_version']} ({setup['algorithm']}); {len(texts)} base texts; wrk tag {tag}", flush=True)

    try:
        # Both servers stay up for the whole run (the idle one costs nothing) so that each figure
        # and its reference are measured back to back, under the same load from the rest of the machine.
        with contextlib.ExitStack() as stack:
            api = stack.enter_context(Server("project.asgi:application", "/api/health", {}, args.workers, "api"))
            predict_url = api.base + "/api/reviews/predict"
            if "single" in only:
                bare_env = {"BARE_MODEL_PATH": setup["model_path"], "BARE_MODEL_VERSION": setup["model_version"]}
                bare = stack.enter_context(Server("bench.bare_app:app", "/health", bare_env, args.workers, "bare"))
                check(predict_url, {"text": "The pasta was superb."}, headers, 200)
                check(bare.base + "/predict", {"text": "The pasta was superb."}, {}, 200)
                raw["api_single"] = wrk_figure(predict_url, "predict_single.lua", texts_file, f"{tag}s",
                                               headers=headers, **conn_opts)  # fmt: skip
                print(f"api single: {raw['api_single']}", flush=True)
                raw["bare_single"] = wrk_figure(bare.base + "/predict", "predict_single.lua", texts_file,
                                                f"{tag}s", headers={}, **conn_opts)  # fmt: skip
                print(f"bare single: {raw['bare_single']}", flush=True)
            if "batch" in only:
                check(predict_url, {"texts": texts[:3]}, headers, 200)
                raw["api_batch"] = wrk_figure(predict_url, "predict_batch.lua", texts_file, f"{tag}b",
                                              headers=headers, batch=args.batch, connections=1,
                                              duration=max(args.duration, 10))  # fmt: skip
                print(f"api batch: {raw['api_batch']}", flush=True)
                raw["inprocess_batch"] = inprocess_batch(setup["model_path"], texts, args.batch,
                                                         max(args.duration, 10))  # fmt: skip
                print(f"in-process batch: {raw['inprocess_batch']}", flush=True)
            if "create" in only:
                check(api.base + "/api/reviews/", {"text": f"Bench check {tag}", "source": "bench-check"}, headers, 201)
                raw["api_create"] = wrk_figure(api.base + "/api/reviews/", "create_review.lua", texts_file,
                                               f"{tag}c", headers=headers, **conn_opts)  # fmt: skip
                print(f"api create: {raw['api_create']}", flush=True)
                raw["raw_insert"] = raw_insert(f"{tag}c", **conn_opts)
                print(f"raw insert: {raw['raw_insert']}", flush=True)
    finally:
        flush_redis()
        shutil.rmtree(texts_file.parent, ignore_errors=True)

    if "single" in only:
        fig, ref = raw["api_single"], raw["bare_single"]
        rows.append({
            "name": "POST /api/reviews/predict, one text",
            "figure": {"req_per_s": fig["req_per_s"], "p99_ms": fig["p99_ms"]},
            "reference": {"req_per_s": ref["req_per_s"], "p99_ms": ref["p99_ms"]},
            "figure_text": f"{fig['req_per_s']:,.0f}/s p99 {fig['p99_ms']:.1f}ms",
            "reference_text": f"{ref['req_per_s']:,.0f}/s p99 {ref['p99_ms']:.1f}ms",
            "ratio": round(fig["req_per_s"] / ref["req_per_s"], 3),
            "target": ">= 1,000 req/s, p99 <= 25 ms",
            "checks": {"req_per_s": fig["req_per_s"] >= 1000, "p99": fig["p99_ms"] <= 25,
                       "errors": not fig["error_count"]},
        })  # fmt: skip
    if "batch" in only:
        fig, ref = raw["api_batch"], raw["inprocess_batch"]
        texts_per_s = fig["req_per_s"] * args.batch
        ratio = texts_per_s / ref["texts_per_s"]
        rows.append({
            "name": f"POST /api/reviews/predict, {args.batch:,} texts",
            "figure": {"texts_per_s": round(texts_per_s, 1), "call_p50_ms": fig["p50_ms"]},
            "reference": {"texts_per_s": ref["texts_per_s"], "call_p50_ms": ref["call_p50_ms"]},
            "figure_text": f"{texts_per_s:,.0f} texts/s",
            "reference_text": f"{ref['texts_per_s']:,.0f} texts/s",
            "ratio": round(ratio, 3),
            "target": ">= 70% of in-process",
            "checks": {"ratio": ratio >= 0.70, "errors": not fig["error_count"]},
        })  # fmt: skip
    if "create" in only:
        fig, ref = raw["api_create"], raw["raw_insert"]
        rows.append({
            "name": "POST /api/reviews/, one review",
            "figure": {"req_per_s": fig["req_per_s"], "p99_ms": fig["p99_ms"]},
            "reference": {"req_per_s": ref["req_per_s"], "p99_ms": ref["p99_ms"]},
            "figure_text": f"{fig['req_per_s']:,.0f}/s p99 {fig['p99_ms']:.1f}ms",
            "reference_text": f"{ref['req_per_s']:,.0f}/s p99 {ref['p99_ms']:.1f}ms",
            "ratio": round(fig["req_per_s"] / ref["req_per_s"], 3),
            "target": ">= 400 req/s, p99 <= 50 ms",
            "checks": {"req_per_s": fig["req_per_s"] >= 400, "p99": fig["p99_ms"] <= 50,
                       "errors": not fig["error_count"]},
        })  # fmt: skip
    for row in rows:
        row["result"] = verdicts(row)
    print_rows(rows)
    load_after = os.getloadavg()
    summary = {
        "benchmark": "api",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
        },
        "server": f"python -m project.serve project.asgi:application --workers {args.workers}",
        "wrk": {"threads": 1, "connections": args.connections, "duration_s": args.duration, "warmup_s": 3},
        "model": {k: v for k, v in setup.items() if k != "token"},
        "rows": rows,
        "raw": raw,
        "all_ok": all(row["result"] == "PASS" for row in rows),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nload {load_before[0]:.2f} -> {load_after[0]:.2f}; wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
