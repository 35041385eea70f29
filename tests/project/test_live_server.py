"""End to end over HTTP: the real ASGI server (uvicorn under project/serve.py) and a real Celery worker."""

from __future__ import annotations

import os
import random
import socket
import threading
import time

import httpx
import psutil
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from reviews.roles import MANAGER
from tests.factories import TokenFactory, UserFactory
from tests.live import process_socket, running_server, running_worker, server_workers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PRAISE = ["Delicious food", "Friendly staff", "Lovely atmosphere", "Great value", "Perfect pasta", "Amazing desserts"]
COMPLAINTS = ["Cold food", "Rude waiter", "Dirty tables", "Terrible service", "Overpriced and bland", "Awful smell"]
SHRUGS = ["It was fine", "Nothing special", "Average meal", "Okay portions", "Decent enough", "Standard menu"]


def rated_reviews(count: int) -> list[dict]:
    rng = random.Random(7)
    reviews = []
    for i in range(count):
        rating, phrases = [(5, PRAISE), (1, COMPLAINTS), (3, SHRUGS)][i % 3]
        text = ". ".join(rng.sample(phrases, 3)) + "."
        reviews.append({"text": text, "rating": rating, "source": "e2e", "external_id": f"e2e-{i}"})
    return reviews


@pytest.fixture
def manager_token() -> str:
    return TokenFactory(user=UserFactory(role=MANAGER)).key


def test_a_review_travels_from_ingest_to_a_trained_model(manager_token):
    headers = {"Authorization": f"Token {manager_token}"}
    with (
        running_server() as base_url,
        running_worker() as worker_log,
        httpx.Client(base_url=base_url, headers=headers, timeout=30) as client,
    ):
        # The seed's client posts without the /api prefix and follows the redirect.
        created = client.post(
            "/reviews/", json={"text": "Great food, lovely staff!", "source": "google"}, follow_redirects=True
        )
        assert created.status_code == 201, created.text
        review = created.json()
        assert review["prediction"]["label"] == "positive"
        assert 0 < review["prediction"]["confidence"] <= 1

        bulk = client.post("/api/reviews/bulk", json={"reviews": rated_reviews(90)})
        assert bulk.json()["created"] == 90

        labelled = client.post(f"/api/reviews/{review['id']}/label", json={"label": "positive"})
        assert labelled.json()["human_label"] == "positive"

        started = client.post("/api/training/start", json={"min_samples": 20})
        assert started.status_code == 202, started.text
        job_id = started.json()["job_id"]

        deadline = time.monotonic() + 120
        status = started.json()["status"]
        while status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.3)
            status = client.get(f"/api/training/status/{job_id}").json()["status"]
        final = client.get(f"/api/training/status/{job_id}").json()
        assert final["status"] == "succeeded", (final, worker_log.read_text()[-3000:])
        assert final["progress"] == 1.0
        assert final["metrics"]["train_size"] > 0

        # The worker's promotion reaches the web process without a restart.
        if final["metrics"]["promoted"]:
            time.sleep(1.5)
            prediction = client.post("/api/reviews/predict", json={"text": "Rude waiter and cold food."}).json()
            assert prediction["model_version"] == final["metrics"]["model_version"]


@pytest.mark.skipif(not settings.IS_POSTGRES, reason="the connection pool exists on PostgreSQL only")
def test_concurrent_api_calls_never_use_more_connections_than_the_pool(manager_token):
    # The pool is deliberately smaller than the API's 16 threads: calls succeed only
    # if every endpoint hands its connection back in the thread that used it (a
    # thread that kept one would starve the others into pool timeouts).
    pool_size = 4
    application_name = f"pool-test-{random.randrange(10**9)}"
    db = connection.settings_dict
    monitor = psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"] or "postgres",
        dbname=db["NAME"],
        autocommit=True,
    )

    def server_connections() -> list[str]:
        rows = monitor.execute(
            "SELECT state FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        ).fetchall()
        return [row[0] for row in rows]

    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(len(server_connections()))
            time.sleep(0.01)

    headers = {"Authorization": f"Token {manager_token}"}
    with running_server(
        API_THREADS=str(pool_size),
        DB_POOL_MAX_SIZE=str(pool_size),
        DB_POOL_MIN_SIZE="2",
        DB_APPLICATION_NAME=application_name,
    ) as base_url:
        review_id = httpx.post(f"{base_url}/api/reviews/", json={"text": "Nice"}, headers=headers).json()["id"]
        failures: list[str] = []

        def client_session(number: int) -> None:
            with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
                for call in range(100):
                    path = "/api/reviews/?page_size=5" if call % 2 else f"/api/reviews/{review_id}"
                    response = client.get(path)
                    if response.status_code != 200:
                        failures.append(f"{path}: {response.status_code} {response.text[:200]}")

        sampler = threading.Thread(target=sample)
        sampler.start()
        clients = [threading.Thread(target=client_session, args=(n,)) for n in range(16)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        time.sleep(0.5)
        stop.set()
        sampler.join()
        after = server_connections()
        pool = httpx.get(f"{base_url}/api/health").json()["database_pool"]

    monitor.close()
    assert not failures, failures[:5]
    assert samples and max(samples) <= pool_size, max(samples)
    assert max(samples) >= 2  # the sampler really saw the server's connections
    assert len(after) <= pool_size
    assert all(state == "idle" for state in after), after
    # Every connection is back in the pool: no thread kept one after its call.
    assert pool["max_size"] == pool_size
    assert pool["idle_in_pool"] == pool["open_connections"], pool


def test_a_worker_killed_mid_training_leaves_the_job_failed_by_the_sweep_and_the_champion_untouched(
    manager_token, settings
):
    import signal

    from training import jobs, registry
    from training.models import TrainingJob

    headers = {"Authorization": f"Token {manager_token}"}
    with (
        running_server(JOB_HEARTBEAT_SECONDS="0.5") as base_url,
        httpx.Client(base_url=base_url, headers=headers, timeout=30) as client,
    ):
        client.post("/api/reviews/bulk", json={"reviews": rated_reviews(300)})
        champion_before = registry.current_champion().name
        job_id = client.post("/api/training/start", json={"min_samples": 20}).json()["job_id"]
        with running_worker(JOB_HEARTBEAT_SECONDS="0.5") as worker:
            deadline = time.monotonic() + 60
            while TrainingJob.objects.get(pk=job_id).status == "queued" and time.monotonic() < deadline:
                time.sleep(0.05)
            assert TrainingJob.objects.get(pk=job_id).status == "running", worker.read_text()[-2000:]
            os.kill(worker.process.pid, signal.SIGKILL)  # --pool solo: the job runs in this very process
            worker.process.wait(timeout=10)
    settings.JOB_STUCK_AFTER_SECONDS = 2
    time.sleep(2.5)

    assert jobs.training_job_sweep_stuck() == [job_id]
    job = TrainingJob.objects.get(pk=job_id)
    assert job.status == "failed" and "Worker lost" in job.error
    assert registry.current_champion().name == champion_before


def test_the_fastapi_app_runs_on_its_own_as_a_sidecar(manager_token):
    with running_server(app="project.api:app") as base_url:
        response = httpx.post(
            f"{base_url}/api/reviews/predict",
            json={"text": "Lovely staff"},
            headers={"Authorization": f"Token {manager_token}"},
        )
        assert response.status_code == 200
        assert response.json()["label"] == "positive"
        assert httpx.get(f"{base_url}/api/docs").status_code == 200


def test_both_web_workers_take_connections_on_their_own_sockets_with_tcp_nodelay(manager_token):
    """The web server as deployed (project/serve.py, 2 workers): 16 keep-alive connections land on
    both workers (the kernel hashes each to one worker's SO_REUSEPORT socket; all on one has odds 2 in
    65,536), each accepted with TCP_NODELAY (no 40 ms waits for a delayed ACK)."""
    headers = {"Authorization": f"Token {manager_token}"}
    with running_server(workers=2) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        server = next(p for p in psutil.process_iter(["cmdline"]) if str(port) in (p.info["cmdline"] or [])
                      and "project.serve" in (p.info["cmdline"] or []))  # fmt: skip
        # Both workers started: each one's socket listens (a worker listens once its app has started).
        deadline = time.monotonic() + 60
        while not (len(workers := server_workers(server.pid, port)) == 2 and all(
            process_socket(pid, w["listening"][0]).getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            for pid, w in workers.items()
        )):  # fmt: skip
            assert time.monotonic() < deadline, workers
            time.sleep(0.2)
        clients = [httpx.Client(base_url=base_url, headers=headers, timeout=30) for _ in range(16)]
        try:
            for client in clients:
                assert client.post("/api/reviews/predict", json={"text": "Lovely staff"}).status_code == 200
            workers = server_workers(server.pid, port)
            nodelay = [
                process_socket(pid, inode).getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                for pid, worker in workers.items()
                for inode in worker["connections"]
            ]
        finally:
            for client in clients:
                client.close()

    assert sorted(len(w["connections"]) > 0 for w in workers.values()) == [True, True], workers
    assert len({inode for w in workers.values() for inode in w["listening"]}) == 2
    assert nodelay == [1] * 16
