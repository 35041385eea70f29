"""Run every benchmark in bench/ with one command and summarise them (`make bench`).

    .venv/bin/python bench/run_all.py [--only api,quality] [--list]
    make bench [BENCH=api,quality]

Each benchmark runs as its own process (its output streams through and is kept in
bench/results/<name>.log), then its JSON result is read back and every figure is printed beside the
reference measured in the same run, with the ratio, the target and PASS/FAIL. One summary of the whole
run goes to bench/results/summary.json (bench/results is not committed).

Benchmarks that need something this machine may lack are skipped with the reason:

- api: wrk (`apt-get install -y wrk`), PostgreSQL and Redis (BENCH_API_DATABASE_URL, BENCH_REDIS_URL);
- import_train: PostgreSQL and Redis (BENCH_IMPORT_DATABASE_URL, BENCH_REDIS_URL);
- outbox: PostgreSQL (BENCH_OUTBOX_DATABASE_URL, default revsent_bench_outbox, created there);
- labelling: Chromium (`apt-get install -y chromium`) and playwright;
- dashboard, aspects_scale: a PostgreSQL database with at least BENCH_MIN_REVIEWS (default 1,000,000)
  reviews, given as BENCH_DATABASE_URL (build it with `manage.py generate_reviews --count 1000000
  --aspects`; aspects_scale also needs the aspect rows).

Timing figures depend on what else runs on the machine: the summary records the load average before
and after each benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SUMMARY = RESULTS / "summary.json"
MIN_REVIEWS = int(os.environ.get("BENCH_MIN_REVIEWS") or 1_000_000)


def row(figure, value, reference=None, ratio=None, target="", result="") -> dict:
    return {
        "figure": figure,
        "value": value,
        "reference": reference,
        "ratio": None if ratio is None else round(ratio, 3),
        "target": target,
        "result": result,
    }


def pass_fail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- reading each benchmark's result -------------------------------------------------------------


def rows_quality(data: dict, _log: str) -> list[dict]:
    rows_by_model = {r["model"]: r for r in data["rows"]}
    ours = next(r for name, r in rows_by_model.items() if name.startswith("default"))
    plain = rows_by_model.get("TF-IDF+LR plain", {})
    out = []
    for metric, unit in (
        ("yelp_macro_f1", ""),
        ("zomato_macro_f1", ""),
        ("semeval_binary_acc", ""),
        ("batch_reviews_per_s", " reviews/s"),
        ("single_p50_ms", " ms"),
    ):
        target = data["targets"][metric]
        ref = plain.get(metric)
        comparator = "<=" if metric.endswith("_ms") else ">="
        out.append(
            row(
                f"{metric} (default vs plain TF-IDF+LR)",
                f"{ours[metric]}{unit}",
                None if ref is None else f"{ref}{unit}",
                ours[metric] / ref if ref else None,
                f"{comparator} {target['required']}",
                target["result"],
            )
        )
    return out


def rows_aspects(data: dict, _log: str) -> list[dict]:
    ours, ref = data["semeval2014"]["ours"], data["semeval2014"]["reference"]
    out = []
    for metric, target in (("micro_f1", 0.89), ("polarity_accuracy", 0.83)):
        out.append(
            row(
                f"SemEval-2014 {metric} (ours vs TF-IDF+OvR)",
                ours[metric],
                ref[metric],
                ours[metric] / ref[metric] if ref[metric] else None,
                f">= {target}",
                pass_fail(ours[metric] >= target),
            )
        )
    out.append(
        row(
            "aspects predict sentences/s",
            ours["predict_sentences_per_s"],
            ref["predict_sentences_per_s"],
            ours["predict_sentences_per_s"] / ref["predict_sentences_per_s"],
        )
    )
    return out


def rows_aspects_scale(data: dict, _log: str) -> list[dict]:
    out = []
    runs = data.get("extraction") or []
    if len(runs) == 2:
        cold, trained = runs
        out.append(
            row(
                f"aspect extraction reviews/s (trained {trained['algorithm']} vs cold start)",
                trained["reviews_per_s"],
                cold["reviews_per_s"],
                trained["reviews_per_s"] / cold["reviews_per_s"],
            )
        )
    target = data.get("target_p95_ms", 300)
    for r in data.get("report") or []:
        if r["version"] != "now":
            continue
        ref = r["raw_sql"]["p95_ms"]
        out.append(
            row(
                f"aspect report p95 ({r['scope']}) vs raw SQL",
                f"{r['p95_ms']} ms",
                f"{ref} ms",
                r["p95_ms"] / ref if ref else None,
                f"<= {target} ms",
                pass_fail(r["ok"]),
            )
        )
    return out


def rows_dashboard(data: dict, _log: str) -> list[dict]:
    return [
        row(
            f"{r['figure']} p95 [{r['scope']}] vs raw SQL",
            f"{r['p95_ms']} ms",
            f"{r['reference_p95_ms']} ms",
            r["p95_ms"] / r["reference_p95_ms"] if r["reference_p95_ms"] else None,
            f"<= {r['target_p95_ms']:g} ms",
            pass_fail(r["ok"]),
        )
        for r in data["figures"]
    ]


def rows_generic(data: dict, _log: str) -> list[dict]:
    """bench/api.py, bench/import_train.py and bench/outbox.py: rows with figure/reference texts and checks."""
    return [
        row(r["name"], r["figure_text"], r["reference_text"], r["ratio"], r["target"], r["result"])
        for r in data["rows"]
    ]


def rows_mixed_reviews(data: dict, _log: str) -> list[dict]:
    """bench/mixed_reviews.py: the stacker with aspect polarities beside the default model, per split."""
    out = []
    for split, systems in data["splits"].items():
        default, ours = systems["default model"], systems["stacker + aspect polarities"]
        for metric in ("macro_f1", "neutral_f1"):
            ratio = ours[metric] / default[metric] if default[metric] else None
            out.append(row(f"{split} {metric} (+ aspect polarities vs default)", ours[metric], default[metric], ratio))
    return out


def rows_labelling_simulation(_data: dict, log: str) -> list[dict]:
    """bench/labelling_simulation.py: the labels the uncertainty queue needs for random's full-budget macro-F1."""
    import re

    out = []
    for split, needed, budget, target, never_below in re.findall(
        r"-> (\w+) evaluation.*?uncertainty needs (\S+) labels for random's (\d+)-label macro-F1 ([\d.]+); "
        r"at or above random at every step: (\w+)",
        log,
        flags=re.S,
    ):
        ok = needed != "None" and int(needed) <= int(budget) // 2
        out.append(
            row(
                f"labels for random's {budget}-label macro-F1 {target} (Yelp pool -> {split})",
                needed,
                budget,
                int(needed) / int(budget) if needed != "None" else None,
                f"<= {int(budget) // 2}; never below random: {never_below}",
                pass_fail(ok and never_below == "True"),
            )
        )
    return out


def rows_labelling(_data: dict, log: str) -> list[dict]:
    import re

    out = []
    match = re.search(r"label action .*?p50 ([\d.]+) ms, p95 ([\d.]+) ms", log)
    if match:
        out.append(row("label action in Chromium p95 (key press to saved)", f"{match.group(2)} ms"))
    match = re.search(r"-> (\d+) labels/minute", log)
    if match:
        out.append(row("labels per minute in Chromium", match.group(1)))
    return out


# --- what each benchmark needs -------------------------------------------------------------------


def need_wrk() -> str | None:
    if shutil.which("wrk") is None:
        return "wrk is not installed: apt-get install -y wrk (Debian package `wrk`)"
    return None


def need_postgres_redis() -> str | None:
    import psycopg
    import redis

    url = os.environ.get("BENCH_API_DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    try:
        psycopg.connect(url.replace("postgres://", "postgresql://", 1).rsplit("/", 1)[0] + "/postgres").close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable ({exc.__class__.__name__}); start it or set BENCH_API_DATABASE_URL"
    try:
        redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL") or "redis://127.0.0.1:6379/12").ping()
    except redis.RedisError as exc:
        return f"Redis is not reachable ({exc.__class__.__name__}); start it or set BENCH_REDIS_URL"
    return None


def need_postgres() -> str | None:
    import psycopg

    url = outbox_env()["DATABASE_URL"]
    try:
        psycopg.connect(url.replace("postgres://", "postgresql://", 1).rsplit("/", 1)[0] + "/postgres").close()
    except psycopg.Error as exc:
        return f"PostgreSQL is not reachable ({exc.__class__.__name__}); start it or set BENCH_OUTBOX_DATABASE_URL"
    return None


def outbox_env() -> dict:
    default = "postgres://postgres@127.0.0.1:5432/revsent_bench_outbox"
    return {"DATABASE_URL": os.environ.get("BENCH_OUTBOX_DATABASE_URL") or default}


def need_chromium() -> str | None:
    if not Path("/usr/bin/chromium").exists():
        return "Chromium is not installed: apt-get install -y chromium"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed: .venv/bin/pip install playwright"
    return None


def scale_database(*, aspects: bool = False) -> Callable[[], str | None]:
    def check() -> str | None:
        url = os.environ.get("BENCH_DATABASE_URL")
        hint = (
            f"needs BENCH_DATABASE_URL: a PostgreSQL database with >= {MIN_REVIEWS:,} reviews "
            "(DATABASE_URL=... manage.py migrate && manage.py generate_reviews --count 1000000 --aspects)"
        )
        if not url:
            return hint
        import psycopg

        try:
            with psycopg.connect(url.replace("postgres://", "postgresql://", 1)) as conn:
                reviews = conn.execute("SELECT count(*) FROM reviews_review").fetchone()[0]
                aspect_rows = conn.execute("SELECT count(*) FROM reviews_reviewaspect").fetchone()[0] if aspects else 1
        except psycopg.Error as exc:
            return f"{hint}; {exc.__class__.__name__}: {str(exc).strip()[:120]}"
        if reviews < MIN_REVIEWS:
            return f"{hint}; it holds {reviews:,}"
        if not aspect_rows:
            return "the BENCH_DATABASE_URL database has no aspect rows: manage.py generate_reviews --aspects-only"
        return None

    return check


def scale_env() -> dict:
    return {"DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", "")}


@dataclass
class Benchmark:
    name: str
    args: list[str]
    result: str | None
    rows: Callable[[dict, str], list[dict]]
    needs: list[Callable[[], str | None]] = field(default_factory=list)
    env: Callable[[], dict] = dict
    about: str = ""


BENCHMARKS = [
    Benchmark("quality", ["bench/quality.py"], "quality.json", rows_quality, about="sentiment quality and speed"),
    Benchmark("aspects", ["bench/aspects.py"], "aspects.json", rows_aspects, about="aspect categories"),
    Benchmark(
        "mixed_reviews",
        ["bench/mixed_reviews.py"],
        "mixed_reviews.json",
        rows_mixed_reviews,
        about="aspect polarities as features of the review-level model (neutral class)",
    ),
    Benchmark(
        "api", ["bench/api.py"], "api.json", rows_generic, [need_wrk, need_postgres_redis], about="HTTP load with wrk"
    ),
    Benchmark(
        "import_train",
        ["bench/import_train.py"],
        "import_train.json",
        rows_generic,
        [need_postgres_redis],
        about="import_reviews and training at 100,000 reviews",
    ),
    Benchmark(
        "outbox",
        ["bench/outbox.py"],
        "outbox.json",
        rows_generic,
        [need_postgres],
        outbox_env,
        about="outbox relay and prune pass at 10,000 and 1,000,000 sent tasks, before/after",
    ),
    Benchmark(
        "labelling", ["bench/labelling.py"], None, rows_labelling, [need_chromium], about="labelling in Chromium"
    ),
    Benchmark(
        "labelling_simulation",
        ["bench/labelling_simulation.py"],
        None,
        rows_labelling_simulation,
        about="simulate_labelling: uncertainty queue against random labelling, 5 seeds",
    ),
    Benchmark(
        "dashboard",
        ["bench/dashboard.py", "--no-generate"],
        "dashboard.json",
        rows_dashboard,
        [scale_database()],
        scale_env,
        about="dashboard at 1M reviews",
    ),
    Benchmark(
        "aspects_scale",
        ["bench/aspects_scale.py", "--report"],
        "aspects_scale.json",
        rows_aspects_scale,
        [scale_database(aspects=True)],
        scale_env,
        about="aspect extraction and report at 1M reviews",
    ),
]


# --- running -------------------------------------------------------------------------------------


def run(bench: Benchmark) -> dict:
    for check in bench.needs:
        reason = check()
        if reason:
            print(f"== {bench.name}: SKIPPED: {reason}", flush=True)
            return {"status": "skipped", "reason": reason, "rows": []}
    result_path = RESULTS / bench.result if bench.result else None
    if result_path is not None and result_path.exists():
        result_path.unlink()  # never report an older run's numbers as this run's
    log_path = RESULTS / f"{bench.name}.log"
    command = [sys.executable, *bench.args]
    print(f"== {bench.name}: {' '.join(bench.args)}", flush=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    env = {**os.environ, **bench.env(), "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
        )
        for line in process.stdout:
            sys.stdout.write(line)
            log.write(line)
        code = process.wait()
    seconds = time.perf_counter() - started
    info = {
        "seconds": round(seconds, 1),
        "load_before": round(load_before[0], 2),
        "load_after": round(os.getloadavg()[0], 2),
        "log": str(log_path.relative_to(ROOT)),
    }
    if code != 0:
        print(f"== {bench.name}: FAILED (exit {code}); see {info['log']}", flush=True)
        return {"status": "failed", "exit_code": code, **info, "rows": []}
    data = {}
    if result_path is not None:
        if not result_path.exists():
            return {"status": "failed", "reason": f"{bench.result} was not written", **info, "rows": []}
        data = json.loads(result_path.read_text())
        info["result"] = str(result_path.relative_to(ROOT))
    try:
        rows = bench.rows(data, log_path.read_text())
    except (KeyError, StopIteration, TypeError, ZeroDivisionError) as exc:
        return {"status": "failed", "reason": f"could not read the result: {exc!r}", **info, "rows": []}
    return {"status": "ran", **info, "rows": rows}


def fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_summary(results: dict) -> None:
    print("\n" + "=" * 40 + " summary " + "=" * 40)
    header = f"{'benchmark':<14} {'figure':<62} {'value':>22} {'reference':>22} {'ratio':>7}  {'target':<28} result"
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        if result["status"] != "ran":
            reason = result.get("reason") or f"exit code {result.get('exit_code')}"
            print(f"{name:<14} {result['status'].upper()}: {reason}")
            continue
        for r in result["rows"]:
            ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2f}"
            print(
                f"{name:<14} {r['figure'][:62]:<62} {fmt(r['value']):>22} {fmt(r['reference']):>22} {ratio:>7}  "
                f"{r['target'] or '–':<28} {r['result'] or '–'}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=os.environ.get("BENCH", ""), help="Comma-separated benchmark names")
    parser.add_argument("--list", action="store_true", help="List the benchmarks and exit")
    args = parser.parse_args()
    if args.list:
        for bench in BENCHMARKS:
            print(f"{bench.name:<14} {bench.about}")
        return 0
    names = [name.strip() for name in args.only.split(",") if name.strip()]
    known = {bench.name for bench in BENCHMARKS}
    unknown = [name for name in names if name not in known]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}", file=sys.stderr)
        return 2
    selected = [bench for bench in BENCHMARKS if not names or bench.name in names]
    RESULTS.mkdir(parents=True, exist_ok=True)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load_before = os.getloadavg()
    results = {bench.name: run(bench) for bench in selected}
    print_summary(results)
    summary = {
        "started_at": started_at,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        },
        "benchmarks": results,
    }
    SUMMARY.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"\nwrote {SUMMARY.relative_to(ROOT)}")
    failed = [name for name, result in results.items() if result["status"] == "failed"]
    return 1 if failed else 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    raise SystemExit(main())
