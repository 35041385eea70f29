"""Soak: a bounded burst at the API benchmark's peak load against the server as deployed.

bench/api.py drives `uvicorn project.asgi:application --workers 2` with 16 keep-alive connections, each
sending its next request as soon as the last one is answered; this does the same (16 client threads)
with a mix of its endpoints plus the dashboard, in production mode on the test database and the
configured Redis: a warm-up, then two equal halves. It asserts zero errors, database connections
within the pools and all back in them afterwards, and flat memory in the worker processes.
Throughput and latency are bench/'s business: nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from urllib.parse import urlparse

import httpx
import psutil
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from project.celery import app as celery_app
from reviews.roles import MANAGER
from tests.factories import TokenFactory, UserFactory
from tests.live import running_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.IS_POSTGRES, reason="counts the server's connections in pg_stat_activity"),
]

CONCURRENCY = 16  # bench/api.py's --connections
WORKERS = 2  # as deployed (docker-compose.yml, Procfile)
POOL_MAX_SIZE = 16  # DB_POOL_MAX_SIZE's default, API_THREADS
WARM_UP_REQUESTS = 400
HALF_REQUESTS = 1_300  # 3,000 requests in all
BATCH_SIZE = 50
MEMORY_GROWTH_LIMIT = 30 * 2**20  # per worker process, from the end of the warm-up to the end of the burst
PRODUCTION = {
    "DJANGO_ENV": "production",
    "DEBUG": "false",
    "SECRET_KEY": "soak-test-only-0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
}
WORDS = {
    "positive": ["delicious", "friendly", "lovely", "perfect", "amazing", "great value"],
    "negative": ["cold", "rude", "dirty", "terrible", "overpriced", "bland"],
    "neutral": ["fine", "average", "okay", "standard", "decent", "ordinary"],
}


def review_text(rng: random.Random, tag: str) -> str:
    """A text no earlier request sent, so the prediction cache never answers (as in bench/wrk/*.lua)."""
    kind = rng.choice(list(WORDS))
    return f"The food was {rng.choice(WORDS[kind])} and the staff {rng.choice(WORDS[kind])}. Visit {tag}."


def next_request(number: int, rng: random.Random, run: str) -> tuple[str, str, dict | None]:
    """Half single predictions, a tenth batches, a quarter new reviews, the rest the dashboard."""
    slot = number % 20
    tag = f"{run}-{number}"
    if slot < 10:
        return "POST", "/api/reviews/predict", {"text": review_text(rng, tag)}
    if slot < 12:
        return "POST", "/api/reviews/predict", {"texts": [review_text(rng, f"{tag}-{i}") for i in range(BATCH_SIZE)]}
    if slot < 17:
        return "POST", "/api/reviews/", {"text": review_text(rng, tag), "source": "soak", "rating": rng.randint(1, 5)}
    return "GET", "/api/analytics/dashboard?trend_days=30", None


class Monitor:
    """Samples the server's PostgreSQL connections (by application_name) until stopped."""

    def __init__(self, application_name: str):
        db = connection.settings_dict
        self.application_name = application_name
        self.connection = psycopg.connect(
            host=db["HOST"] or "127.0.0.1",
            port=db["PORT"] or 5432,
            user=db["USER"] or "postgres",
            password=db["PASSWORD"] or None,
            dbname=db["NAME"],
            autocommit=True,
        )
        self.lock = threading.Lock()
        self.samples: dict[str, list[int]] = {}
        self.phase = "start"
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def states(self) -> list[str]:
        with self.lock:
            rows = self.connection.execute(
                "SELECT state FROM pg_stat_activity WHERE application_name = %s", (self.application_name,)
            ).fetchall()
        return [state for (state,) in rows]

    def _sample(self) -> None:
        while not self.stopped.is_set():
            self.samples.setdefault(self.phase, []).append(len(self.states()))
            time.sleep(0.05)

    def __enter__(self) -> Monitor:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.connection.close()


def burst(base_url: str, headers: dict, numbers: range, run: str) -> tuple[Counter, list[str]]:
    """Sends requests `numbers` from CONCURRENCY threads, each as soon as its previous one is answered."""
    pending = iter(numbers)
    take = threading.Lock()
    statuses: Counter = Counter()
    failures: list[str] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
            while True:
                with take:
                    number = next(pending, None)
                if number is None:
                    return
                method, path, body = next_request(number, rng, run)
                try:
                    response = http.request(method, path, json=body)
                except httpx.HTTPError as exc:
                    failures.append(f"{method} {path}: {type(exc).__name__}: {exc}")
                    continue
                statuses[response.status_code] += 1
                if not 200 <= response.status_code < 300:
                    failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(numbers.start + n,)) for n in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses, failures


def worker_processes(base_url: str) -> list[psutil.Process]:
    """uvicorn's worker processes: the children of the server (project/serve.py) started on this port."""
    port = str(urlparse(base_url).port)
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(part.endswith("uvicorn") or part == "project.serve" for part in cmdline[:3]) and port in cmdline:
            # Not multiprocessing's resource tracker, also a child.
            return [child for child in process.children() if "spawn_main" in " ".join(child.cmdline())]
    raise AssertionError(f"no uvicorn process on port {port}")


def rss(processes: list[psutil.Process]) -> list[int]:
    return [process.memory_info().rss for process in processes]


@pytest.fixture
def broker():
    """Created reviews enqueue aspect extraction that no worker runs here: leave the broker empty."""
    celery_app.control.purge()
    yield
    celery_app.control.purge()


def test_a_burst_at_the_benchmarks_peak_has_no_errors_no_leaked_connection_and_flat_memory(broker):
    headers = {"Authorization": f"Token {TokenFactory(user=UserFactory(role=MANAGER)).key}"}
    application_name = f"soak-{random.randrange(10**9)}"
    run = f"soak{random.randrange(10**9)}"
    warm_up = range(0, WARM_UP_REQUESTS)
    first = range(warm_up.stop, warm_up.stop + HALF_REQUESTS)
    second = range(first.stop, first.stop + HALF_REQUESTS)

    quiet = logging.getLogger("httpx")  # one INFO line per request otherwise
    level, quiet.level = quiet.level, logging.WARNING
    static_root = settings.VAR_DIR / "soak-static"  # the API serves no static files; WhiteNoise wants the folder
    static_root.mkdir(exist_ok=True)
    started = time.monotonic()
    with (
        running_server(
            workers=WORKERS, DB_APPLICATION_NAME=application_name, STATIC_ROOT=str(static_root), **PRODUCTION
        ) as base_url,
        Monitor(application_name) as monitor,
    ):
        workers = worker_processes(base_url)
        assert len(workers) == WORKERS

        monitor.phase = "warm-up"
        statuses, failures = burst(base_url, headers, warm_up, run)
        time.sleep(1)
        after_warm_up = rss(workers)
        monitor.phase = "first half"
        first_statuses, first_failures = burst(base_url, headers, first, run)
        after_first = rss(workers)
        monitor.phase = "second half"
        second_statuses, second_failures = burst(base_url, headers, second, run)
        after_second = rss(workers)
        monitor.phase = "after"
        # Every connection back in its pool: a leaked one never is, while the outbox relay's pass (which
        # publishes inside its transaction) may hold one for a moment a second or two after the burst.
        deadline = time.monotonic() + 15
        time.sleep(1)
        idle_states = monitor.states()
        while any(state != "idle" for state in idle_states) and time.monotonic() < deadline:
            time.sleep(0.2)
            idle_states = monitor.states()
        pool = httpx.get(f"{base_url}/api/health", timeout=10).json()["database_pool"]
    quiet.level = level
    elapsed = time.monotonic() - started

    statuses += first_statuses + second_statuses
    failures += first_failures + second_failures
    assert not failures, (len(failures), failures[:5])
    assert sum(statuses.values()) == second.stop
    assert set(statuses) <= {200, 201}, statuses

    # Connections: within the pools the whole time, no more in the second half than in the first,
    # and every one back in its pool (idle) once the burst is over.
    samples = monitor.samples
    peak = {phase: max(values) for phase, values in samples.items() if values}
    assert len(samples["first half"]) > 10 and len(samples["second half"]) > 10, samples
    # The pools open connections on demand, so how many each worker holds at its busiest depends on how
    # the clients' requests happened to bunch up (12 in one half, 15 in the next was seen on a loaded
    # machine): comparing the halves' peaks measures scheduling, not leaks. A leak shows below, as a
    # connection not back in its pool once the burst is over.
    assert max(peak.values()) <= POOL_MAX_SIZE * WORKERS, peak
    assert len(idle_states) <= POOL_MAX_SIZE * WORKERS
    assert all(state == "idle" for state in idle_states), idle_states
    assert pool["max_size"] == POOL_MAX_SIZE and pool["idle_in_pool"] == pool["open_connections"], pool

    # Memory: what the warm-up reached is what the burst ends with, give or take allocator noise.
    growth = [end - start for start, end in zip(after_warm_up, after_second)]
    mib = [round(value / 2**20, 1) for value in growth]
    assert all(value < MEMORY_GROWTH_LIMIT for value in growth), (
        f"RSS growth per worker {mib} MiB; after warm-up {after_warm_up}, first half {after_first}, "
        f"second half {after_second}"
    )
    print(f"soak: {dict(statuses)} in {elapsed:.0f} s, connection peaks {peak}, RSS growth per worker {mib} MiB")
