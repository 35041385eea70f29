"""The outbox relay inside each web process.

Why here and not only in Celery beat: beat itself talks to the broker, so while the
broker is down its `outbox.relay` task cannot be delivered either, and after the broker
returns the pending work would wait up to a minute for the next beat tick (or forever
in a deployment that runs no beat). The web processes are where nearly all outbox rows
are written, they already publish to the broker, and they run whenever the product is
up. So each one runs this thread: a pass at start-up (rows left by a crash or an outage
before a restart), a pass every OUTBOX_RELAY_SECONDS, and a pass at once when one of its
own publishes succeeds after a failure (the broker is back). Several web processes relay
the same table safely: a pass holds its rows (services._relay_batch_locked) so that another
relay skips them instead of waiting, and no write waits on it. The beat task stays as the fallback for rows
written where no web process runs.

The thread's database connection comes from the process's pool and goes back after
each pass; a database outage is logged once a minute, not once a pass.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections

from project.db import discard_dead_pooled_connections
from project.outbox import services

logger = logging.getLogger(__name__)


class RelayThread(threading.Thread):
    def __init__(self, interval_seconds: float) -> None:
        super().__init__(name="outbox-relay", daemon=True)
        self.interval_seconds = interval_seconds
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._last_error_log = 0.0

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            self.relay_once()
            self._wake.wait(self.interval_seconds)

    def relay_once(self) -> None:
        try:
            if services.broker.allow():
                services.outbox_relay()
        except DatabaseError as exc:  # the database is down or restarting: try again next pass
            discard_dead_pooled_connections()
            self._log_failure(f"{type(exc).__name__}: {exc}".strip(), traceback=False)
        except Exception as exc:
            self._log_failure(f"{type(exc).__name__}: {exc}", traceback=True)
        finally:
            close_old_connections()

    def _log_failure(self, message: str, *, traceback: bool) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= 60:
            self._last_error_log = now
            logger.warning(
                "Outbox relay pass failed (logged once a minute while it fails): %s", message, exc_info=traceback
            )

    def stop(self, timeout: float = 5.0) -> None:
        self._stopped.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout)


_thread: RelayThread | None = None


def start_relay() -> RelayThread | None:
    """Start this process's relay thread (once); None when OUTBOX_RELAY_SECONDS is 0."""
    global _thread
    if settings.OUTBOX_RELAY_SECONDS <= 0:
        return None
    if _thread is None or not _thread.is_alive():
        _thread = RelayThread(settings.OUTBOX_RELAY_SECONDS)
        services.on_broker_back.append(_thread.wake)
        _thread.start()
    return _thread


def stop_relay() -> None:
    global _thread
    if _thread is not None:
        if _thread.wake in services.on_broker_back:
            services.on_broker_back.remove(_thread.wake)
        _thread.stop()
        _thread = None
