"""Faults: the real web server and Celery worker while their PostgreSQL and Redis fail.

The servers that fail are private: a PostgreSQL cluster (initdb into a temporary folder, run
as the `postgres` user when the tests run as root) and a redis-server, each on a spare
loopback port, started, stopped and restarted here. The machine's shared servers are never
touched. The web server (2 uvicorn workers) and the workers come from tests/live.py.

Select them with `-m faults`. Without the PostgreSQL binaries (/usr/lib/postgresql/*/bin) or
redis-server they are skipped with the reason; under CI=true that is a failure instead.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from project.auth import _cache_key as auth_cache_key
from tests import live

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

PG_BINARIES = ("initdb", "pg_ctl", "postgres")


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with every binary these tests run (or PG_BIN_DIR)."""
    candidates = [os.environ["PG_BIN_DIR"]] if os.environ.get("PG_BIN_DIR") else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name), reverse=True
    )
    for candidate in candidates:
        if all((Path(candidate) / name).is_file() for name in PG_BINARIES):
            return Path(candidate)
    return None


def missing_reason() -> str | None:
    if postgres_bin_dir() is None:
        return f"no PostgreSQL server binaries ({', '.join(PG_BINARIES)}) in /usr/lib/postgresql/*/bin"
    if shutil.which("redis-server") is None:
        return "redis-server is not on the PATH"
    if os.geteuid() == 0 and (shutil.which("runuser") is None or not _user_exists("postgres")):
        return "running as root, and PostgreSQL refuses root: needs runuser and a postgres user"
    return None


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def wait_until(condition: Callable[[], object], what: str, timeout: float, log: Callable[[], str] = str) -> float:
    """Seconds until `condition()` is true; fails with `what` (and the log) after `timeout`."""
    started = time.monotonic()
    while True:
        try:
            if condition():
                return time.monotonic() - started
        except (psycopg.OperationalError, httpx.HTTPError, redis.RedisError):
            pass
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{log()[-4000:]}")
        time.sleep(0.1)


class PrivatePostgres:
    """A throwaway PostgreSQL cluster with trust authentication on 127.0.0.1:<spare port>."""

    def __init__(self, bin_dir: Path, folder: Path) -> None:
        self.bin_dir = bin_dir
        self.folder = folder
        self.data = folder / "pgdata"
        self.log = folder / "postgres.log"
        self.port = live.free_port()
        # initdb and postgres refuse to run as root.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _pg(self, *args: str, timeout: float = 60) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, text=True, timeout=timeout)

    def init(self) -> None:
        self._pg(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def _ctl(self, action: str, *options: str) -> None:
        server_options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=100"
        self._pg(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            server_options,
            *options,
            action,
        )

    def start(self) -> None:
        self._ctl("start")

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("restart", "-m", "fast")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "revsent") -> psycopg.Connection:
        return psycopg.connect(self.url(database).replace("postgres://", "postgresql://", 1), autocommit=True)

    def query(self, sql: str, params: tuple | list | dict = ()) -> list[tuple]:
        with self.connect() as conn:
            return conn.execute(sql, params).fetchall()


class PrivateRedis:
    """A redis-server without persistence on 127.0.0.1:<spare port>; stopping it loses its data, like a crash."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = live.free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.folder / "redis.log", "a") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self.client().ping, "redis-server to answer", 15, lambda: (self.folder / "redis.log").read_text())

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @contextmanager
    def restarted_afterwards(self):
        """However a test ends, the next one finds Redis running."""
        try:
            yield
        finally:
            if self.process is None:
                self.start()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)


SETUP = """
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from rest_framework.authtoken.models import Token

call_command("migrate", verbosity=0, interactive=False)
user = get_user_model().objects.create_user("faults-manager")
user.groups.add(Group.objects.get(name="manager"))
print("TOKEN", Token.objects.create(user=user).key)
"""


@dataclass
class Stack:
    postgres: PrivatePostgres
    redis: PrivateRedis
    env: dict[str, str]
    token: str
    base_url: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}

    def manage(self, code: str, **env: str) -> str:
        """Run Python in a fresh Django process of the stack (the way an operator's shell would)."""
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code],
            cwd=live.ROOT,
            env=live.service_env(**{**self.env, **env}),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def new_token(self) -> str:
        """A new manager's token: no process has seen it yet, so its check cannot come from memory."""
        key = secrets.token_hex(20)
        self.postgres.query(
            """
            WITH new_user AS (
                INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                                       is_active, date_joined)
                VALUES ('!', false, %(name)s, '', '', '', false, true, now()) RETURNING id
            ), membership AS (
                INSERT INTO auth_user_groups (user_id, group_id)
                SELECT new_user.id, auth_group.id FROM new_user, auth_group WHERE auth_group.name = 'manager'
            )
            INSERT INTO authtoken_token (key, created, user_id) SELECT %(key)s, now(), id FROM new_user RETURNING key
            """,
            {"name": f"faults-{key[:12]}", "key": key},
        )
        return key

    def pending_outbox(self) -> list[tuple[str, list]]:
        return [tuple(row) for row in self.postgres.query("SELECT task, args FROM outbox_outboxmessage")]

    def aspect_count(self, review_ids: list[int]) -> int:
        rows = self.postgres.query(
            "SELECT count(DISTINCT review_id) FROM reviews_reviewaspect WHERE review_id = ANY(%s)", [review_ids]
        )
        return rows[0][0]


@pytest.fixture(scope="module")
def stack():
    reason = missing_reason()
    if reason is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true, so missing fault-test servers are a failure: {reason}")
        pytest.skip(f"fault tests skipped: {reason}")
    folder = Path(tempfile.mkdtemp(prefix="revsent-faults-"))
    folder.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    postgres = PrivatePostgres(postgres_bin_dir(), folder)
    private_redis = PrivateRedis(folder)
    try:
        postgres.init()
        postgres.start()
        with postgres.connect("postgres") as conn:
            conn.execute("CREATE DATABASE revsent")
        private_redis.start()
        env = {
            "DATABASE_URL": postgres.url("revsent"),
            "REDIS_URL": private_redis.url(0),
            "CELERY_BROKER_URL": "",  # the broker is the private Redis too
            "CACHE_KEY_PREFIX": "revsent",
            "DATABASE_REPLICA_URL": "",  # nothing of the stack may reach the machine's shared servers
            "MODEL_S3_BUCKET": "",
            "VAR_DIR": str(folder / "var"),
            "MLFLOW_ENABLED": "false",
            "DB_POOL_TIMEOUT_SECONDS": "5",
        }
        token = Stack(postgres, private_redis, env, "").manage(SETUP).split("TOKEN ")[-1].strip()
        with live.running_server(workers=2, **env) as base_url:
            yield Stack(postgres, private_redis, env, token, base_url)
    finally:
        private_redis.stop()
        try:
            postgres.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def worker_group(stack: Stack, *, queues: str | None = None, **env: str):
    """A prefork Celery worker (a parent and one child) in its own process group, so it can be killed whole."""
    log_path = Path(stack.env["VAR_DIR"]) / f"worker-{time.monotonic_ns()}.log"
    command = [
        str(live.BIN / "celery"),
        "-A",
        "project",
        "worker",
        "--concurrency",
        "1",
        "--loglevel",
        "INFO",
        "--without-heartbeat",
        "--without-gossip",
        "--without-mingle",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command + (["-Q", queues] if queues else []),
            cwd=live.ROOT,
            env=live.service_env(**{**stack.env, **env}),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    process.read_log = log_path.read_text  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# --- Redis stopped -------------------------------------------------------------------------------------


def test_with_redis_stopped_predictions_and_reviews_go_on_and_their_background_work_runs_when_it_returns(stack):
    complaint = "The food was cold and the waiter was rude, visit {}."
    with (
        stack.redis.restarted_afterwards(),
        worker_group(stack) as worker,
        httpx.Client(base_url=stack.base_url, headers=stack.headers, timeout=15) as client,
    ):
        before = client.post("/api/reviews/", json={"text": complaint.format("before"), "source": "faults"})
        assert before.status_code == 201, before.text
        wait_until(lambda: stack.aspect_count([before.json()["id"]]) == 1, "the first extraction", 90, worker.read_log)
        wait_until(lambda: not stack.pending_outbox(), "the outbox to empty", 30)

        stack.redis.stop()
        fresh_token = {"Authorization": f"Token {stack.new_token()}"}
        seconds: list[float] = []
        created: list[int] = []

        def timed(path: str, body: dict, headers: dict | None = None) -> httpx.Response:
            started = time.monotonic()
            response = client.post(path, json=body, headers=headers)
            seconds.append(time.monotonic() - started)
            return response

        for i in range(8):
            predicted = timed("/api/reviews/predict", {"text": f"Lovely staff {i}"}, fresh_token)
            assert predicted.status_code == 200, predicted.text
            review = timed("/api/reviews/", {"text": complaint.format(i), "source": "faults"})
            assert review.status_code == 201, review.text
            created.append(review.json()["id"])
        # Quick: no request waits for a Redis timeout (the bound leaves room for a loaded 2-core machine).
        slowest = max(seconds)
        assert slowest < 2.5, f"requests with Redis down took {[round(s, 2) for s in seconds]} s"
        # Each new review's aspect extraction waits in the outbox, committed with the review.
        pending = {
            review_id
            for task, args in stack.pending_outbox()
            if task == "reviews.extract_fresh_aspects"
            for review_id in args[0]
        }
        assert set(created) <= pending
        assert stack.aspect_count(created) == 0
        health = client.get("/api/health").json()
        assert health["status"] == "degraded"  # a 200: still serving
        assert health["checks"]["database"] == "ok"
        assert health["checks"]["cache"].startswith("error") and health["checks"]["broker"].startswith("error")

        stack.redis.start()  # empty, on the same port
        sent_after = wait_until(lambda: not stack.pending_outbox(), "the relay to send the outbox", 60)
        done_after = wait_until(
            lambda: stack.aspect_count(created) == len(created),
            "the worker to extract the aspects",
            90,
            worker.read_log,
        )

        # The cache is used again: a token checked now is stored there. (Predictions of the default model are
        # not cached at all, it is faster than a round trip; those of slow kinds go through the same wrapper.)
        fresh_key = stack.new_token()
        cache_key = f"revsent:1:{auth_cache_key(fresh_key)}"

        def cached_again() -> bool:
            response = client.post(
                "/api/reviews/predict", json={"text": "Great food"}, headers={"Authorization": f"Token {fresh_key}"}
            )
            response.raise_for_status()
            return stack.redis.client().exists(cache_key) == 1

        cache_after = wait_until(cached_again, "the token check to use the cache again", 30)
    print(
        f"\nRedis down: slowest request {slowest:.3f} s; after restart: outbox sent in {sent_after:.1f} s, "
        f"aspects extracted in {done_after:.1f} s, cache used again in {cache_after:.1f} s"
    )


# --- PostgreSQL restarted --------------------------------------------------------------------------------


def test_after_a_postgres_restart_the_api_recovers_within_seconds_and_no_acknowledged_write_is_lost(stack):
    results: list[tuple[float, float, object, int | None]] = []  # started, finished, status, review id
    stop = threading.Event()

    def write(writer: int) -> None:
        with httpx.Client(base_url=stack.base_url, headers=stack.headers, timeout=30) as client:
            i = 0
            while not stop.is_set():
                i += 1
                started = time.monotonic()
                body = {
                    "text": f"Decent pasta, writer {writer} visit {i}.",
                    "source": "pg-restart",
                    "external_id": f"{writer}-{i}",
                }
                try:
                    response = client.post("/api/reviews/", json=body)
                except httpx.HTTPError as exc:
                    results.append((started, time.monotonic(), type(exc).__name__, None))
                    continue
                review_id = response.json()["id"] if response.status_code == 201 else None
                results.append((started, time.monotonic(), response.status_code, review_id))

    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for thread in writers:
        thread.start()
    try:
        time.sleep(1.5)
        restart_began = time.monotonic()
        stack.postgres.restart()
        restarted = time.monotonic()

        def answered_after_restart() -> bool:
            return any(status == 201 and started > restarted for started, _, status, _ in results)

        recovered_after = wait_until(answered_after_restart, "a review stored after the restart", 30)
        time.sleep(1.5)
    finally:
        stop.set()
        for thread in writers:
            thread.join(timeout=60)

    statuses = [status for _, _, status, _ in results]
    assert set(statuses) <= {201, 503}, [r for r in results if r[2] not in (201, 503)]
    slowest = max(finished - started for started, finished, _, _ in results)
    assert slowest < 15, f"a request took {slowest:.1f} s"
    assert recovered_after < 10
    acknowledged = {review_id for *_, status, review_id in results if status == 201}
    stored = {row[0] for row in stack.postgres.query("SELECT id FROM reviews_review WHERE source = 'pg-restart'")}
    assert acknowledged <= stored, f"acknowledged but lost: {sorted(acknowledged - stored)}"
    # Writes made after the restart work, the pool's dead connections included.
    assert any(status == 201 and started > restarted for started, _, status, _ in results)

    # Restarted while the API is idle: every pooled connection of both web processes is dead. The first
    # request that meets one answers 503 and its process drops the other dead ones (project/db.py), so at
    # most one request per web process fails, however many connections the pools held.
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda _: httpx.get(f"{stack.base_url}/api/reviews/?page_size=1", headers=stack.headers), range(32)
            )
        )
    stack.postgres.restart()
    after_idle_restart = [
        httpx.get(f"{stack.base_url}/api/reviews/?page_size=1", headers=stack.headers, timeout=30).status_code
        for _ in range(20)
    ]
    assert set(after_idle_restart) <= {200, 503} and after_idle_restart.count(503) <= 2, after_idle_restart
    assert after_idle_restart[-10:] == [200] * 10, after_idle_restart
    print(
        f"\nPostgreSQL restart: pg_ctl restart took {restarted - restart_began:.2f} s; {statuses.count(201)} reviews "
        f"stored, {statuses.count(503)} answered 503; first 201 {recovered_after:.2f} s after the restart; "
        f"slowest request {slowest:.2f} s; after an idle restart {after_idle_restart.count(503)} of 20 requests "
        "answered 503"
    )


# --- A worker killed mid-training --------------------------------------------------------------------


def rated_reviews(count: int, offset: int) -> list[dict]:
    phrases = [
        (5, "Delicious food, friendly staff and a lovely terrace"),
        (1, "Cold food, a rude waiter and dirty tables"),
        (3, "It was fine, nothing special, average portions"),
    ]
    return [
        {
            "text": f"{phrases[i % 3][1]}. Visit {offset + i}.",
            "rating": phrases[i % 3][0],
            "source": "kill",
            "external_id": f"kill-{offset + i}",
        }
        for i in range(count)
    ]


def test_a_worker_killed_mid_training_leaves_the_job_failed_by_the_sweep_and_the_champion_unchanged(stack):
    def job_row(job_id: int) -> tuple:
        return stack.postgres.query(
            "SELECT status, error, heartbeat_at IS NOT NULL FROM training_trainingjob WHERE id = %s", [job_id]
        )[0]

    def champion() -> str:
        return stack.postgres.query(
            "SELECT name FROM training_modelversion WHERE kind = 'sentiment' AND stage = 'champion'"
        )[0][0]

    with httpx.Client(base_url=stack.base_url, headers=stack.headers, timeout=60) as client:
        for offset in (0, 1000):
            response = client.post("/api/reviews/bulk", json={"reviews": rated_reviews(1000, offset)})
            assert response.status_code == 200, response.text
        champion_before = champion()
        with worker_group(stack, queues="training", JOB_HEARTBEAT_SECONDS="0.5") as worker:
            started = client.post("/api/training/start", json={"min_samples": 20, "kind": "accurate"})
            assert started.status_code == 202, started.text
            job_id = started.json()["job_id"]
            wait_until(
                lambda: job_row(job_id)[0] == "running" and job_row(job_id)[2], "training to run", 90, worker.read_log
            )
            time.sleep(1.0)  # well inside the fit
            assert job_row(job_id)[0] == "running", worker.read_log()[-3000:]
            os.killpg(worker.pid, signal.SIGKILL)  # the parent and the child running the job
            worker.wait(timeout=10)
            killed_at = time.monotonic()
    assert job_row(job_id)[0] == "running"  # nobody could record anything

    time.sleep(2.5)
    swept = stack.manage(
        "from training.jobs import training_job_sweep_stuck; print('SWEPT', training_job_sweep_stuck())",
        JOB_STUCK_AFTER_SECONDS="2",
    )
    assert f"SWEPT [{job_id}]" in swept, swept
    status, error, _ = job_row(job_id)
    assert status == "failed" and "Worker lost" in error, error
    assert champion() == champion_before
    # Any candidate the killed job registered is rejected, never deployed.
    stages = {
        row[0]
        for row in stack.postgres.query("SELECT stage FROM training_modelversion WHERE training_job_id = %s", [job_id])
    }
    assert stages <= {"rejected"}
    print(f"\nWorker killed mid-training: job {job_id} failed by the sweep {time.monotonic() - killed_at:.1f} s later")
