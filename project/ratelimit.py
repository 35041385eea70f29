"""Per-token rate limiting of the API: API_RATE_LIMIT requests per API_RATE_LIMIT_WINDOW_SECONDS.

Fixed windows, numbered from the Unix epoch so every process agrees on them, counted per token
(by the hash the token cache already uses, never the key itself).

A Redis round trip per request would cost more than the prediction it guards (issue 7 needs
>= 1,000 req/s on two cores), so each process counts locally and flushes its pending count with
one INCRBY (+ EXPIRE) at most every FLUSH_INTERVAL_SECONDS, or sooner once the pending count
reaches 1 % of the limit, reading back the window's total over all processes. A request is
allowed when the last total seen plus this process's unflushed count stays within the limit.
The count is therefore approximate: another process's requests reach this one's view at most one
flush (100 ms of its traffic, or 1 % of the limit) late, so with N processes a token can exceed
the limit by at most that much per other process. Small limits (< 200) flush on every request,
which is exact as long as a token's requests do not overlap (while one flush is under way, the
token's other requests are judged locally). A request that carries a flush is judged by the fresh
total, so a refusal may be counted once; a refused request that carries no flush is not counted.
Measured with 2 uvicorn workers at ~2,100 req/s on one token and a limit of 5,000: 5,042 allowed.

Without Redis the shared count lives in the Django cache (the file cache of the embedded default):
its increments are a read and a write, so two processes flushing at the same instant can lose one
flush's count. If the shared store fails, each process goes on limiting with its own count (the
limit then applies per process) and retries the store after STORE_RETRY_SECONDS.

Staff and superuser tokens are not limited unless API_RATE_LIMIT_STAFF is true.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from fastapi import HTTPException

logger = logging.getLogger("project.ratelimit")

FLUSH_INTERVAL_SECONDS = 0.1
FLUSH_SHARE_OF_LIMIT = 0.01
STORE_RETRY_SECONDS = 5.0
_MAX_TRACKED_TOKENS = 10_000


class CountStore(Protocol):
    def add(self, key: str, window: int, count: int, ttl: int) -> int:
        """Add `count` to the window's shared counter and return its new total."""


class RedisCountStore:
    """INCRBY + EXPIRE in one round trip. Short timeouts: the limiter must never stall a request."""

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.prefix = prefix

    def add(self, key: str, window: int, count: int, ttl: int) -> int:
        name = f"{self.prefix}:ratelimit:{key}:{window}"
        pipe = self.client.pipeline(transaction=False)
        pipe.incrby(name, count)
        pipe.expire(name, ttl)
        total, _ = pipe.execute()
        return int(total)


class DjangoCacheCountStore:
    """The Django cache (file cache by default): add() then incr(), which is not atomic across processes."""

    def __init__(self, alias: str = "default") -> None:
        from django.core.cache import caches

        self.cache = caches[alias]

    def add(self, key: str, window: int, count: int, ttl: int) -> int:
        name = f"ratelimit:{key}:{window}"
        self.cache.add(name, 0, ttl)
        try:
            return int(self.cache.incr(name, count))
        except ValueError:  # expired between add and incr
            self.cache.set(name, count, ttl)
            return count


def default_store() -> CountStore:
    if settings.REDIS_URL:
        return RedisCountStore(settings.REDIS_URL, settings.CACHES["default"].get("KEY_PREFIX", "") or "revsent")
    return DjangoCacheCountStore()


@dataclass(slots=True)
class _Window:
    number: int
    seen_total: int = 0  # the shared total as last read back (includes our flushed hits)
    pending: int = 0  # allowed here, not flushed yet
    in_flight: int = 0  # being flushed
    last_flush: float = 0.0
    flushing: bool = False


ALLOWED = 0
FLUSH = -1
"""hit() answers ALLOWED, FLUSH (allowed for now; call flush() for the verdict) or the seconds to wait."""


class RateLimiter:
    """One process's side of the shared count. hit() is the per-request call (no I/O);
    flush() does the store round trip and may run on another thread."""

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: int,
        store: CountStore,
        flush_interval: float = FLUSH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if limit < 1 or window_seconds < 1:
            raise ValueError("limit and window_seconds must be at least 1")
        self.limit = limit
        self.window_seconds = window_seconds
        self.store = store
        self.flush_interval = flush_interval
        self.flush_threshold = max(1, int(limit * FLUSH_SHARE_OF_LIMIT))
        self.clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._store_down_until = 0.0

    def retry_after(self, now: float) -> int:
        """Whole seconds until the current window ends (at least 1)."""
        window_end = (int(now // self.window_seconds) + 1) * self.window_seconds
        return max(1, math.ceil(window_end - now))

    def hit(self, key: str) -> int:
        now = self.clock()
        number = int(now // self.window_seconds)
        with self._lock:
            state = self._windows.get(key)
            if state is None or state.number != number:
                if state is None and len(self._windows) >= _MAX_TRACKED_TOKENS:
                    self._forget_old_windows(number)
                # A new window starts from zero here; the first flush reads the other processes' count.
                state = self._windows[key] = _Window(number)
            if state.seen_total + state.in_flight + state.pending >= self.limit:
                return self.retry_after(now)
            state.pending += 1
            if state.flushing or now < self._store_down_until:
                return ALLOWED
            if state.pending >= self.flush_threshold or now - state.last_flush >= self.flush_interval:
                state.flushing = True
                return FLUSH
            return ALLOWED

    def flush(self, key: str) -> int:
        """Send the pending count to the store; the verdict of the request that asked for the flush."""
        with self._lock:
            state = self._windows.get(key)
            if state is None:
                return ALLOWED
            count, state.pending = state.pending, 0
            state.in_flight = count
            number = state.number
        try:
            total = self.store.add(key, number, count, ttl=self.window_seconds + 60)
        except Exception as exc:
            with self._lock:
                state.pending += count
                state.in_flight = 0
                state.flushing = False
                self._store_down_until = self.clock() + STORE_RETRY_SECONDS
            logger.warning(
                "Rate limit store unavailable (%s: %s); counting per process for %.0f s",
                type(exc).__name__,
                exc,
                STORE_RETRY_SECONDS,
            )
            return ALLOWED
        now = self.clock()
        with self._lock:
            state.in_flight = 0
            state.flushing = False
            state.last_flush = now
            if state.number == number:
                state.seen_total = max(state.seen_total, total)
        if total > self.limit and int(now // self.window_seconds) == number:
            return self.retry_after(now)
        return ALLOWED

    def check(self, key: str) -> int:
        """hit() and, when it asks for one, flush() on this thread: ALLOWED or seconds to wait."""
        verdict = self.hit(key)
        return self.flush(key) if verdict == FLUSH else verdict

    def _forget_old_windows(self, number: int) -> None:
        for key in [key for key, state in self._windows.items() if state.number != number and not state.flushing]:
            del self._windows[key]


# --- The process's limiter and the FastAPI side ------------------------------------------------

_limiter: RateLimiter | None = None
_limiter_config: tuple[int, int] | None = None
_limiter_lock = threading.Lock()
_flush_executor: ThreadPoolExecutor | None = None


def current_limiter() -> RateLimiter | None:
    """The limiter for the current settings (None when API_RATE_LIMIT is 0); built on first use,
    so each uvicorn worker builds its own after the fork."""
    global _limiter, _limiter_config
    config = (settings.API_RATE_LIMIT, settings.API_RATE_LIMIT_WINDOW_SECONDS)
    if config != _limiter_config:
        with _limiter_lock:
            if config != _limiter_config:
                limit, window = config
                _limiter = RateLimiter(limit=limit, window_seconds=window, store=default_store()) if limit > 0 else None
                _limiter_config = config
    return _limiter


def reset_limiter() -> None:
    """Forget this process's counts (tests)."""
    global _limiter, _limiter_config
    with _limiter_lock:
        _limiter, _limiter_config = None, None


def _executor() -> ThreadPoolExecutor:
    # Flushes get their own thread, so they never queue behind endpoints in FastAPI's pool.
    global _flush_executor
    if _flush_executor is None:
        with _limiter_lock:
            if _flush_executor is None:
                _flush_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ratelimit-flush")
    return _flush_executor


def too_many_requests(limiter: RateLimiter, retry_after: int) -> HTTPException:
    return HTTPException(
        status_code=429,
        detail=(
            f"Rate limit exceeded: this token may make {limiter.limit:,} requests per "
            f"{limiter.window_seconds} seconds; retry in {retry_after} seconds"
        ),
        headers={"Retry-After": str(retry_after)},
    )


async def enforce_rate_limit(key: str, *, is_staff: bool) -> None:
    """Count one request of the token hashed as `key`; raise 429 over the limit."""
    if is_staff and not settings.API_RATE_LIMIT_STAFF:
        return
    limiter = current_limiter()
    if limiter is None:
        return
    verdict = limiter.hit(key)
    if verdict == FLUSH:
        verdict = await asyncio.get_running_loop().run_in_executor(_executor(), limiter.flush, key)
    if verdict != ALLOWED:
        raise too_many_requests(limiter, verdict)
