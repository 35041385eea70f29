"""Start the real ASGI server, Celery workers and beat against the test database.

These are the process roles of docker-compose.yml (web, the api sidecar, worker, training-worker,
beat), started without Docker: tests/project/test_compose.py checks that the commands built here match
the compose services' commands.
"""

from __future__ import annotations

import ctypes
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
    """The web server as deployed: uvicorn's command line under project/serve.py (a socket per worker)."""
    return [
        str(BIN / "python"), "-m", "project.serve", app, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning",
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


# --- a server's workers and the connections each accepted, read from /proc (Linux) ----------------


def child_pids(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children


def socket_inodes(pid: int) -> dict[int, int]:
    """The process's sockets: inode -> file descriptor."""
    inodes = {}
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes[int(target[8:-1])] = int(fd.name)
    return inodes


def tcp_sockets(port: int) -> dict[int, str]:
    """The TCP sockets whose local port is `port`: inode -> state ("0A" listening, "01" established)."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                found[int(fields[9])] = fields[3]
    return found


def server_workers(pid: int, port: int) -> dict[int, dict[str, list[int]]]:
    """The worker processes of the server `pid` (its children with a socket on `port`), each with the
    inodes of its listening sockets and of the connections it accepted."""
    workers = {}
    for child in child_pids(pid):
        try:
            inodes = socket_inodes(child)
        except OSError:
            continue  # gone meanwhile
        states = tcp_sockets(port)
        mine = {inode: states[inode] for inode in inodes if inode in states}
        if mine:
            workers[child] = {
                "listening": sorted(inode for inode, state in mine.items() if state == "0A"),
                "connections": sorted(inode for inode, state in mine.items() if state == "01"),
            }
    return workers


def process_socket(pid: int, inode: int) -> socket.socket:
    """A copy of another process's socket (pidfd_getfd, Linux 5.6; as root or its ptracer), to read its options."""
    fd = socket_inodes(pid)[inode]
    pidfd = os.pidfd_open(pid)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        copy = libc.syscall(438, pidfd, fd, 0)  # SYS_pidfd_getfd, one number on every architecture
        if copy < 0:
            raise OSError(ctypes.get_errno(), "pidfd_getfd")
    finally:
        os.close(pidfd)
    return socket.socket(fileno=copy)
