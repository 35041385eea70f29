"""uvicorn with one listening socket per worker process: `python -m project.serve APP --workers N ...`.

The command line is uvicorn's own (every option and `UVICORN_*` variable works the same); what
differs is how the workers listen. `uvicorn APP --workers N` binds one socket and hands it to every
worker: they all wait on it and the kernel wakes whichever it likes, so the accept()s are not shared
fairly. With 16 keep-alive connections (bench/api.py) one worker took all 16 in about 1 run of 18
while the other sat idle (1,273 req/s, against 1,537-1,648 when split). Here each worker gets its own
socket bound with SO_REUSEPORT to the same address, and the kernel spreads new connections over the
listening sockets of the group (by a hash of the client's address and port).

- The sockets are bound by this supervisor and passed to the workers as uvicorn passes its one socket
  (as TCP sockets: uvicorn's `--fd` would make them Unix sockets to the event loop, which then leaves
  TCP_NODELAY off and a response waits up to 40 ms for a delayed ACK). A worker calls listen() when its
  application has started (uvicorn's lifespan: the model warm-up, the outbox relay thread, once per
  worker as before), so no connection is queued for a worker that is still starting.
- Each socket belongs to a slot: a worker that dies is replaced on the same socket (connections the
  kernel queued for it wait for the replacement instead of being reset), SIGHUP's rolling restart
  starts each new worker on the socket of the one it replaces, SIGTTIN adds a slot, SIGTTOU closes one.
- Everything else is uvicorn's supervisor (`uvicorn.supervisors.Multiprocess`): SIGINT or SIGTERM
  stops every worker and exits 0; a worker that fails to start stops the whole server.
- With one worker, a Unix socket (`--uds`, `--fd`) or no SO_REUSEPORT (not Linux or BSD), this is
  plain uvicorn: one socket, shared.

Without Django: this process only starts the server; the workers import the application.
"""

from __future__ import annotations

import importlib
import logging
import socket
import sys

from uvicorn.config import STARTUP_FAILURE, Config
from uvicorn.supervisors.multiprocess import Multiprocess, Process

logger = logging.getLogger("uvicorn.error")
# The module (the package's attribute `uvicorn.main` is its function main()).
uvicorn_main = importlib.import_module("uvicorn.main")


def reuse_port_socket(family: int, address: tuple) -> socket.socket:
    """A TCP socket bound to `address` with SO_REUSEPORT (and SO_REUSEADDR, as uvicorn binds), not listening."""
    sock = socket.socket(family=family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ReusePortMultiprocess(Multiprocess):
    """uvicorn's worker supervisor, each worker on its own SO_REUSEPORT socket (see the module docstring).

    `self.sockets[i]` is the socket of `self.processes[i]`."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.reuse_port = False
        (shared,) = sockets  # what uvicorn bound: Config.bind_socket(), not listening yet
        if not hasattr(socket, "SO_REUSEPORT") or shared.family not in (socket.AF_INET, socket.AF_INET6):
            return  # uvicorn's own: one socket for every worker
        self.family, self.address = shared.family, shared.getsockname()  # the real port if --port 0
        shared.close()  # nobody listened on it: rebinding the address at once is allowed
        try:
            self.sockets = [self.new_socket() for _ in range(self.processes_num)]
        except OSError as exc:
            logger.error("Cannot bind %s with SO_REUSEPORT: %s", self.address, exc)
            sys.exit(STARTUP_FAILURE)
        self.reuse_port = True

    def new_socket(self) -> socket.socket:
        return reuse_port_socket(self.family, self.address)

    def socket_of(self, index: int) -> list[socket.socket]:
        return [self.sockets[index]] if self.reuse_port else self.sockets

    def start_process(self, index: int) -> Process:
        process = Process(self.config, self.socket_of(index))
        process.start()
        return process

    def init_processes(self) -> None:
        for index in range(self.processes_num):
            self.processes.append(self.start_process(index))

    def run(self) -> None:
        try:
            super().run()
        finally:
            if self.reuse_port:
                for sock in self.sockets:
                    sock.close()

    # uvicorn's own methods, each worker started with socket_of() its slot instead of the shared list.

    def restart_all(self) -> None:
        """Replaces each worker, bringing its replacement into service before retiring the old worker."""
        for index, old_process in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new_process = self.start_process(index)
            if not new_process.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new_process.kill()
                new_process.join()
                if not self.should_exit.is_set():
                    logger.error(
                        f"New child process [{new_process.pid}] was not ready in time; "
                        f"keeping worker [{old_process.pid}] and aborting the restart."
                    )
                return
            old_process.terminate()
            old_process.join()
            self.processes[index] = new_process

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error(f"Child process [{process.pid}] failed to start, stopping the parent process.")
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info(f"Child process [{process.pid}] died")
            self.processes[index] = self.start_process(index)

    def handle_ttin(self) -> None:
        logger.info("Received SIGTTIN, increasing the number of processes.")
        if self.reuse_port:
            try:
                self.sockets.append(self.new_socket())
            except OSError as exc:
                logger.error("Cannot bind %s with SO_REUSEPORT: %s", self.address, exc)
                return
        self.processes_num += 1
        self.processes.append(self.start_process(len(self.processes)))

    def handle_ttou(self) -> None:
        logger.info("Received SIGTTOU, decreasing number of processes.")
        if self.processes_num <= 1:
            logger.info("Already reached one process, cannot decrease the number of processes anymore.")
            return
        self.processes_num -= 1
        process = self.processes.pop()
        process.terminate()
        process.join()
        if self.reuse_port:
            # Closed, or the kernel would go on queueing connections for a worker that is gone.
            self.sockets.pop().close()


def main(argv: list[str] | None = None) -> None:
    # uvicorn.main.run() starts `Multiprocess(config, sockets=[config.bind_socket()])` when --workers > 1.
    if getattr(uvicorn_main, "Multiprocess", None) is not Multiprocess:
        raise RuntimeError("uvicorn.main.run() no longer starts uvicorn.supervisors.Multiprocess: see project/serve.py")
    uvicorn_main.Multiprocess = ReusePortMultiprocess
    uvicorn_main.main.main(args=argv, prog_name="python -m project.serve")


if __name__ == "__main__":
    main()
