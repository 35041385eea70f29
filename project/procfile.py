"""`honcho start` that stops cleanly: `make run` runs `python -m project.procfile start -f Procfile`.

Arguments are honcho's own (`start -f Procfile`, process names, `-e` ...). What differs is the stop.
honcho 2.0 answers Ctrl-C (or SIGTERM) with SIGTERM to every process group, SIGKILLs whatever still
runs 5 s later (a constant), and exits 130 (143) even when every process stopped by itself. An idle
Celery worker on the filesystem broker needs about 7 s for its warm shutdown (it finishes its 2 s poll,
then joins its pool), so every Ctrl-C killed it; and the SIGTERM to its group killed the pool's
children, so a task in progress died even in a warm shutdown. Here:

- SIGTERM goes to each process only (each Procfile line execs its program), which stops its own children;
- processes get STOP_TIMEOUT_SECONDS to stop by themselves; a second Ctrl-C (or SIGTERM) kills them
  (their groups) at once;
- the exit status is 0 when a stop was asked for and every process exited 0 (or of that SIGTERM);
  otherwise it is the status of the first process that stopped with another (128 + N for signal N), as
  with honcho when a process stops by itself.

Without Django: the supervisor only starts processes.
"""

from __future__ import annotations

import datetime
import os
import queue
import signal
import sys

import honcho.command
import honcho.manager

# A warm Celery shutdown waits for running tasks; past this, what still runs is killed (and said so).
STOP_TIMEOUT_SECONDS = float(os.environ.get("STOP_TIMEOUT_SECONDS") or 60)


def exit_status(returncode: int) -> int:
    """A process killed by signal N (Popen's -N) as a shell reports it: 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


class CleanStopManager(honcho.manager.Manager):
    stop_timeout = STOP_TIMEOUT_SECONDS

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._signals: list[int] = []
        self._stop_requested = False
        self._killed = False
        self._stopped_order: list[str] = []

    def loop(self) -> None:
        # The handler only records the signal: the loop prints and acts (a print inside a signal
        # handler could interrupt a print of the loop on the same stream).
        def record(signum, frame) -> None:
            self._signals.append(signum)

        signal.signal(signal.SIGTERM, record)
        signal.signal(signal.SIGINT, record)

        self._start()
        deadline: datetime.datetime | None = None
        while True:
            try:
                msg = self.events.get(timeout=0.1)
            except queue.Empty:
                msg = None
            if msg is not None:
                self._handle(msg)

            while self._signals:
                name = signal.Signals(self._signals.pop(0)).name
                if not self._stop_requested:
                    self._stop_requested = True
                    self._system_print(
                        f"{name} received: stopping (up to {self.stop_timeout:.0f} s; Ctrl-C again to stop at once)\n"
                    )
                elif self._all_started() and not self._all_stopped():
                    self._system_print(f"{name} received again: not waiting any longer\n")
                    self._kill_remaining()

            if not self._all_started():
                continue  # honcho signals processes by their pid: wait for every pid
            if self._all_stopped():
                if msg is None:  # every line read
                    break
                continue
            if deadline is None and (self._stop_requested or self._any_stopped()):
                deadline = self._clock.now() + datetime.timedelta(seconds=self.stop_timeout)
                self.terminate()
            if deadline is not None and self._clock.now() > deadline:
                self._system_print(f"still running after {self.stop_timeout:.0f} s\n")
                self._kill_remaining()
                deadline = datetime.datetime.max

        self.returncode = self._returncode()

    def _handle(self, msg) -> None:
        if msg.type == "line":
            self._printer.write(msg)
        elif msg.type == "start":
            self._processes[msg.name]["pid"] = msg.data["pid"]
            self._system_print(f"{msg.name} started (pid={msg.data['pid']})\n")
        elif msg.type == "stop":
            self._processes[msg.name]["returncode"] = msg.data["returncode"]
            self._stopped_order.append(msg.name)
            self._system_print(f"{msg.name} stopped (rc={msg.data['returncode']})\n")

    def terminate(self) -> None:
        """SIGTERM to each process itself, not to its process group as honcho does: the Celery worker's
        pool children would die mid-task while the worker waits for them (its warm shutdown), and
        uvicorn stops its own workers."""
        if self._terminating:
            return
        self._terminating = True
        for name, process in self._processes.items():
            if "returncode" not in process:
                self._system_print(f"sending SIGTERM to {name} (pid {process['pid']})\n")
                try:
                    os.kill(process["pid"], signal.SIGTERM)
                except ProcessLookupError:
                    pass

    def _kill_remaining(self) -> None:
        if not self._killed:
            self._killed = True
            self.kill()

    def _returncode(self) -> int:
        codes = [exit_status(self._processes[name]["returncode"]) for name in self._stopped_order]
        if self._stop_requested:
            # As systemd counts them: ended by the SIGTERM it was sent is a clean stop too (uvicorn with
            # one worker re-raises the signal once it has shut down).
            failed = [code for code in codes if code not in (0, 128 + signal.SIGTERM)]
            return failed[0] if failed else (1 if self._killed else 0)
        # A process stopped by itself and took the others down: its status, as honcho reports it.
        return codes[0] if codes else 1


def main(argv: list[str] | None = None) -> None:
    # honcho's `start` builds its Manager by this name.
    honcho.command.Manager = CleanStopManager
    honcho.command.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
