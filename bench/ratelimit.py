"""Per-request cost of the API rate limiter (project/ratelimit.py); target <= 10 us amortised.

    REDIS_URL=redis://127.0.0.1:6379/12 .venv/bin/python bench/ratelimit.py [--seconds 2]

Three figures, each the mean over every request of a tight loop on one token, on the real clock:

- hit: the local decision alone (no store round trip);
- check + Redis: hit() plus the INCRBY + EXPIRE flush it asks for every 100 ms (or every 1 % of the
  limit), on the calling thread;
- dependency + Redis: enforce_rate_limit() as the auth dependency awaits it, the flushes going
  through the limiter's own thread.

Without REDIS_URL the two store figures use the Django cache (a file cache in BENCH_VAR_DIR).
Writes nothing; the Redis keys it makes expire after the window.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("VAR_DIR", os.environ.get("BENCH_VAR_DIR", "/tmp/bench-ratelimit-var"))

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from project import ratelimit  # noqa: E402

LIMIT = 10**12  # never reached: the cost of allowing is what every request pays


def per_request(seconds: float, step) -> tuple[float, int]:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(1000):
            step()
        count += 1000
        if time.perf_counter() >= deadline:
            return (time.perf_counter() - start) / count * 1e6, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="Seconds per figure")
    args = parser.parse_args()
    store = ratelimit.default_store()
    store_name = "Redis" if settings.REDIS_URL else "Django cache"

    local = ratelimit.RateLimiter(limit=LIMIT, window_seconds=60, store=ratelimit.DjangoCacheCountStore())
    key = secrets.token_hex(20)
    local.check(key)  # the window's first flush
    local.flush_interval = float("inf")
    hit_us, hit_n = per_request(args.seconds, lambda: local.hit(key))

    shared = ratelimit.RateLimiter(limit=LIMIT, window_seconds=60, store=store)
    key = secrets.token_hex(20)
    calls = 0
    original = store.add

    def counting_add(*a, **k):
        nonlocal calls
        calls += 1
        return original(*a, **k)

    store.add = counting_add
    check_us, check_n = per_request(args.seconds, lambda: shared.check(key))
    check_flushes = calls

    settings.API_RATE_LIMIT = LIMIT
    ratelimit.reset_limiter()
    key = secrets.token_hex(20)

    async def loop() -> tuple[float, int]:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < args.seconds:
            for _ in range(1000):
                await ratelimit.enforce_rate_limit(key, is_staff=False)
            count += 1000
        return (time.perf_counter() - start) / count * 1e6, count

    dep_us, dep_n = asyncio.run(loop())

    print(f"{'figure':<28} {'us/request':>10} {'requests':>10}  store round trips")
    print(f"{'hit (local only)':<28} {hit_us:>10.2f} {hit_n:>10,}  0")
    print(f"{'check + ' + store_name:<28} {check_us:>10.2f} {check_n:>10,}  {check_flushes}")
    print(f"{'dependency + ' + store_name:<28} {dep_us:>10.2f} {dep_n:>10,}  (on the flush thread)")
    worst = max(hit_us, check_us, dep_us)
    print(f"target <= 10 us amortised: {'PASS' if worst <= 10 else 'FAIL'} (worst {worst:.2f} us)")


if __name__ == "__main__":
    main()
