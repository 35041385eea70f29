"""A small circuit breaker for optional services (the cache, the broker) on request paths.

When Redis is down every call to it fails, and each failure can cost a connection
timeout. After one failure the breaker opens: callers skip the service for
`open_seconds` (a cache miss, an outbox row left for the relay) instead of paying the
timeout on every request. Then a single caller tries again (the others keep skipping
while it does); success closes the breaker, failure opens it for another period.

Logging is per outage, not per request: a warning when the breaker opens, a reminder
at most every `log_every_seconds` while it stays open, and one line when the service is
reachable again.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)


class CircuitBreaker:
    def __init__(self, name: str, *, open_seconds: float, log_every_seconds: float = 60.0) -> None:
        self.name = name
        self.open_seconds = open_seconds
        self.log_every_seconds = log_every_seconds
        self._lock = threading.Lock()
        self._retry_at: float | None = None  # None: closed
        self._down_since = 0.0
        self._failures = 0
        self._skipped = 0
        self._last_log = 0.0

    @property
    def is_open(self) -> bool:
        return self._retry_at is not None

    def allow(self) -> bool:
        """Whether to call the service now. While open, only the first caller after the
        open period gets True (it probes the service); the others skip."""
        if self._retry_at is None:
            return True
        with self._lock:
            if self._retry_at is None:
                return True
            now = time.monotonic()
            if now >= self._retry_at:
                self._retry_at = now + self.open_seconds  # the probe's slot: others keep skipping
                return True
            self._skipped += 1
            return False

    def record_success(self) -> bool:
        """Close the breaker; True if it was open (the service just came back)."""
        if self._retry_at is None:
            return False
        with self._lock:
            if self._retry_at is None:
                return False
            logger.warning(
                "%s reachable again after %.1f s (%d failed calls, %d skipped)",
                self.name,
                time.monotonic() - self._down_since,
                self._failures,
                self._skipped,
            )
            self._retry_at = None
            self._failures = self._skipped = 0
            return True

    def record_failure(self, exc: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            opening = self._retry_at is None
            if opening:
                self._down_since = now
            self._failures += 1
            self._retry_at = now + self.open_seconds
            if opening or now - self._last_log >= self.log_every_seconds:
                self._last_log = now
                logger.warning(
                    "%s unavailable (%s: %s); skipping it for %.1f s at a time (down for %.0f s, %d failed calls, "
                    "%d skipped)",
                    self.name,
                    type(exc).__name__,
                    str(exc)[:200],
                    self.open_seconds,
                    now - self._down_since,
                    self._failures,
                    self._skipped,
                )

    def reset(self) -> None:
        with self._lock:
            self._retry_at = None
            self._failures = self._skipped = 0
