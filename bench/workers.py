"""How the web workers share the connections: plain `uvicorn --workers 2` against project/serve.py.

    .venv/bin/python bench/workers.py [--runs 10] [--duration 10] [--connections 16]

bench/api.py's setup (bench database, trained model, token, texts; the same BENCH_* variables) and
its wrk figures `POST /api/reviews/predict` (one text) and `POST /api/reviews/` (one review), each run
on a fresh server, the two servers interleaved (plain first in odd runs, the launcher first in even
ones) so that both see the same load from the rest of the machine. During each measured wrk run the
connections each worker accepted are counted from /proc (tests/live.py: server_workers), nothing in
the server changes. A run is "one-sided" when a worker holds < 25 % of the connections.

Prints the load average with every run and a min / median / max table; writes bench/results/workers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import api  # noqa: E402  (sets the bench environment)

RESULTS = ROOT / "bench" / "results" / "workers.json"
SERVERS = {"uvicorn": True, "serve": False}  # name -> plain
FIGURES = {"predict": ("/api/reviews/predict", "predict_single.lua"), "create": ("/api/reviews/", "create_review.lua")}


def split_during(server: api.Server, seconds: float, found: dict) -> None:
    """The connections each worker holds, `seconds` into the measured run (wrk opens them all at its start)."""
    from tests.live import server_workers

    time.sleep(seconds)
    workers = server_workers(server.process.pid, server.port)
    found["split"] = sorted((len(w["connections"]) for w in workers.values()), reverse=True)


def measure(plain: bool, texts_file: Path, tag: str, headers: dict, args) -> dict:
    result = {}
    with api.Server("project.asgi:application", "/api/health", {}, 2, "workers", plain=plain) as server:
        time.sleep(5)  # the second worker's start (health answers as soon as one worker serves)
        for name, (path, script) in FIGURES.items():
            url = server.base + path
            wrk_args = [str(texts_file), f"{tag}{name[0]}", "1"]
            api.run_wrk(url, script, wrk_args, connections=args.connections, duration=3, headers=headers)
            found: dict = {}
            sampler = threading.Thread(target=split_during, args=(server, min(2.0, args.duration / 2), found))
            sampler.start()
            wrk_args = [str(texts_file), f"{tag}{name[0]}m", "1"]
            figure = api.run_wrk(url, script, wrk_args, connections=args.connections, duration=args.duration,
                                 headers=headers)  # fmt: skip
            sampler.join()
            result[name] = {**figure, "split": found["split"]}
    return result


def one_sided(split: list[int], connections: int) -> bool:
    return len(split) < 2 or split[-1] < 0.25 * connections


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    from training.ml.datasets import default_data_dir

    data_dir = default_data_dir()
    api.ensure_database(api.DATABASE_URL)
    api.flush_redis()
    setup = api.prepare(data_dir)
    texts_file = Path(tempfile.mkdtemp(prefix="bench-workers-")) / "texts.txt"
    api.write_texts(data_dir, texts_file)
    headers = {"Authorization": f"Token {setup['token']}"}
    runs: dict[str, list] = {name: [] for name in SERVERS}
    try:
        for run in range(args.runs):
            order = list(SERVERS) if run % 2 == 0 else list(reversed(SERVERS))
            for name in order:
                load = os.getloadavg()[0]
                tag = f"w{secrets.token_hex(3)}"
                result = measure(SERVERS[name], texts_file, tag, headers, args)
                runs[name].append({"load": round(load, 2), **result})
                figures = [
                    f"{fig} {r['req_per_s']:7.1f}/s p99 {r['p99_ms']:6.1f}ms split {r['split']} err {r['error_count']}"
                    for fig, r in result.items()
                ]
                print(f"run {run + 1} {name:<8} load {load:5.2f}  " + "  ".join(figures), flush=True)
                api.flush_redis()
    finally:
        api.flush_redis()

    summary = {"connections": args.connections, "duration_s": args.duration, "runs": runs, "table": {}}
    print(f"\n{'server':<8} {'figure':<8} {'min':>8} {'median':>8} {'max':>8}  one-sided runs")
    for name, results in runs.items():
        for fig in FIGURES:
            rates = [r[fig]["req_per_s"] for r in results]
            sided = sum(one_sided(r[fig]["split"], args.connections) for r in results)
            row = {"min": min(rates), "median": statistics.median(rates), "max": max(rates), "one_sided": sided,
                   "runs": len(rates), "splits": [r[fig]["split"] for r in results]}  # fmt: skip
            summary["table"][f"{name} {fig}"] = row
            print(f"{name:<8} {fig:<8} {row['min']:8.1f} {row['median']:8.1f} {row['max']:8.1f}  {sided}/{len(rates)}")
    loads = [r["load"] for results in runs.values() for r in results]
    print(f"load average (1 min) at the runs' starts: {min(loads):.2f} to {max(loads):.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
