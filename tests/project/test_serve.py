"""project/serve.py: uvicorn's command line, a listening socket per worker.

Run on a tiny ASGI app (tests/project/pid_app.py: answers its worker's pid) so that a server starts in
about a second; tests/project/test_live_server.py runs the real application under it. The sockets
are read from /proc (Linux, which SO_REUSEPORT balancing needs anyway).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.live import free_port, process_socket, server_workers

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.project.pid_app:app"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")


def wait_for(condition, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return result


@contextmanager
def serving(tmp_path: Path, *, workers: int = 2):
    port = free_port()
    log_path = tmp_path / "serve.log"
    starts = tmp_path / "starts"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "project.serve", APP, "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "PID_APP_STARTS": str(starts)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # Started: every worker's socket listens (a worker calls listen() once its lifespan started).
        wait_for(lambda: process.poll() is None and ready(process.pid, port, workers), f"{workers} listening workers")
        yield process, port, starts
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        print(log_path.read_text())


def ready(pid: int, port: int, workers: int) -> bool:
    if workers == 1:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0
    found = server_workers(pid, port)
    return len(found) == workers and all(w["listening"] and listening(p, w["listening"][0]) for p, w in found.items())


def listening(pid: int, inode: int) -> bool:
    with process_socket(pid, inode) as sock:
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1


def test_each_worker_listens_on_its_own_socket_and_both_take_connections_without_delayed_acks(tmp_path):
    with serving(tmp_path) as (process, port, starts):
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) for _ in range(16)]
        try:
            answered = Counter(int(client.get("/").text) for client in clients)  # keep-alive: one connection each
            workers = server_workers(process.pid, port)
            # Each accepted connection as the event loop sets TCP connections up (a Unix socket to the
            # loop, as with --fd, leaves Nagle on: 40 ms waits for the client's delayed ACK).
            nodelay = [
                process_socket(pid, inode).getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
                for pid, worker in workers.items()
                for inode in worker["connections"]
            ]
        finally:
            for client in clients:
                client.close()

        assert nodelay == [1] * 16
        assert len(workers) == 2
        sockets = [inode for worker in workers.values() for inode in worker["listening"]]
        assert len(sockets) == len(set(sockets)) == 2  # one each, not one shared
        for pid, worker in workers.items():
            with process_socket(pid, worker["listening"][0]) as sock:
                assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
                assert sock.family == socket.AF_INET and sock.getsockname() == ("127.0.0.1", port)
        # The kernel hashes each connection to a socket: all 16 on one of two has odds 2 in 65,536.
        assert set(answered) == set(workers) and min(answered.values()) >= 1, answered
        assert {pid: len(worker["connections"]) for pid, worker in workers.items()} == answered
        # The application (lifespan) started once in each worker, not in the supervisor.
        assert sorted(int(pid) for pid in starts.read_text().split()) == sorted(workers)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_stops_every_worker_and_exits_0(tmp_path, signum):
    with serving(tmp_path) as (process, port, _):
        workers = server_workers(process.pid, port)
        process.send_signal(signum)

        assert process.wait(timeout=30) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0  # nothing listens any more


def test_a_worker_that_dies_is_replaced_on_its_socket(tmp_path):
    with serving(tmp_path) as (process, port, starts):
        before = server_workers(process.pid, port)
        dead = min(before)
        socket_of_dead = before[dead]["listening"]
        os.kill(dead, signal.SIGKILL)

        after = wait_for(
            lambda: (now := server_workers(process.pid, port)) and dead not in now and len(now) == 2 and now,
            "a replacement worker",
        )
        (new,) = set(after) - set(before)
        assert after[new]["listening"] == socket_of_dead  # the socket outlived its worker: the supervisor holds it
        wait_for(lambda: str(new) in starts.read_text().split(), "the replacement's application start")


def test_one_worker_is_plain_uvicorn(tmp_path):
    with serving(tmp_path, workers=1) as (process, port, starts):
        # No supervisor: the server runs in the process itself.
        assert server_workers(process.pid, port) == {}
        assert httpx.get(f"http://127.0.0.1:{port}/").text == str(process.pid)
