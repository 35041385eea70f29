"""Start the real ASGI server, Celery workers and beat against the test database.

These are the process roles of docker-compose.yml (web, the api sidecar, worker, training-worker,
beat), started without Docker: tests/project/test_compose.py checks that the commands built here match
the compose services' commands.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WEB_APP = "project.asgi:application"
SIDECAR_APP = "project.api:app"


def server_command(*, app: str = WEB_APP, port: int, workers: int = 1) -> list[str]:
    return [
        str(BIN / "uvicorn"), app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning",
    ]  # fmt: skip


def worker_command(*, queues: str | None = None, name: str | None = None) -> list[str]:
    """A solo-pool worker; `queues` is its -Q (default: every declared queue), `name` its -n."""
    options = (["-Q", queues] if queues else []) + (["-n", f"{name}@%h"] if name else [])
    return [
        str(BIN / "celery"), "-A", "project", "worker", "--pool", "solo", "--loglevel", "INFO",
        "--without-heartbeat", "--without-gossip", "--without-mingle", *options,
    ]  # fmt: skip


def beat_command(*, name: str) -> list[str]:
    """Beat as compose runs it: the database scheduler (settings) and a ping-able node `name`@%h."""
    return [str(BIN / "celery"), "-A", "project", "beat", "--enable-remote-control", "-n", f"{name}@%h",
            "--loglevel", "INFO"]  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_url() -> str:
    """The URL of the database this test run created (test_… on PostgreSQL)."""
    db = connection.settings_dict
    if settings.IS_POSTGRES:
        user = db["USER"] or "postgres"
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        return f"postgres://{user}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def service_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        DATABASE_URL=test_database_url(),
        VAR_DIR=str(settings.VAR_DIR),
        MODEL_REFRESH_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def _stop(process: subprocess.Popen, log_path: Path) -> str:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return log_path.read_text(errors="replace") if log_path.exists() else ""


@contextmanager
def running_server(*, workers: int = 1, app: str = WEB_APP, **env: str):
    port = free_port()
    log_path = settings.VAR_DIR / f"uvicorn-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            server_command(app=app, port=port, workers=workers),
            cwd=ROOT,
            env=service_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"uvicorn exited:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base_url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not become healthy:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base_url
    finally:
        output = _stop(process, log_path)
        if "Traceback" in output:
            print(output)


@dataclass
class Worker:
    process: subprocess.Popen
    log_path: Path

    def read_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def running_worker(*, queues: str | None = None, name: str | None = None, **env: str):
    """A solo-pool worker; `queues` is its -Q (default: every declared queue), `name` its -n."""
    log_path = settings.VAR_DIR / f"celery-{os.getpid()}-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            worker_command(queues=queues, name=name),
            cwd=ROOT,
            env=service_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Worker(process, log_path)
    finally:
        _stop(process, log_path)


@contextmanager
def running_beat(*, name: str = "celerybeat", **env: str):
    """Celery beat with django-celery-beat's database scheduler; its node answers `name`@<this host>."""
    log_path = settings.VAR_DIR / f"beat-{os.getpid()}-{time.monotonic_ns()}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            beat_command(name=name),
            cwd=ROOT,
            env=service_env(**env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield Worker(process, log_path)
    finally:
        _stop(process, log_path)
