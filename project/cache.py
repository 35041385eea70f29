"""The shared cache on request paths: an optimisation that may be down, never a reason to fail.

Predictions and the API token check read and write the cache on every call. With Redis
stopped, Django's RedisCache raises redis.exceptions.ConnectionError; these helpers log
it (once per outage, see project.circuit), treat it as a miss and let the request go on
to the model or the database. A circuit breaker skips the cache for CACHE_RETRY_SECONDS
after a failure, so a dead or hanging Redis costs one short timeout per period
(CACHE_SOCKET_TIMEOUT_SECONDS in CACHES OPTIONS) rather than one per request.

Deletes are invalidations (a revoked token): one that fails is remembered and retried
before anything else once the cache answers again, so a token revoked during an outage
cannot come back from a cache that returns with its old entries (a network split rather
than a restart). Entries expire on their own anyway (API_TOKEN_CACHE_SECONDS).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed

from project.circuit import CircuitBreaker

logger = logging.getLogger(__name__)

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a dependency, but the file cache does not need it
    CACHE_ERRORS: tuple[type[BaseException], ...] = (OSError,)
else:
    CACHE_ERRORS = (RedisError, OSError)


class ProcessCache:
    """The default cache backend, one per process.

    django.core.cache.cache is a separate backend object per async context, and FastAPI runs
    each request's sync code in a fresh copy of the context: every request built a new
    RedisCache with its own connection pool, so every cache call paid a TCP connect (a quarter
    of a single-text prediction's CPU, measured with py-spy). One backend per process instead:
    redis-py's connection pool is thread-safe, and so is the file cache.
    """

    def __init__(self) -> None:
        self._backend = None
        self._lock = threading.Lock()

    def backend(self):
        backend = self._backend
        if backend is None:
            with self._lock:
                if self._backend is None:
                    self._backend = caches.create_connection(DEFAULT_CACHE_ALIAS)
                backend = self._backend
        return backend

    def reset(self) -> None:
        with self._lock:
            self._backend = None

    def __getattr__(self, name: str):
        return getattr(self.backend(), name)


cache = ProcessCache()


def _settings_changed(*, setting: str, **kwargs) -> None:
    if setting == "CACHES":  # tests that swap the cache backend
        cache.reset()


setting_changed.connect(_settings_changed)

breaker = CircuitBreaker("Cache", open_seconds=settings.CACHE_RETRY_SECONDS)

_MAX_PENDING_DELETES = 10_000
_pending_deletes: set[str] = set()
_pending_lock = threading.Lock()


def _flush_pending_deletes() -> None:
    if not _pending_deletes:
        return
    with _pending_lock:
        keys = list(_pending_deletes)
    cache.delete_many(keys)
    with _pending_lock:
        _pending_deletes.difference_update(keys)
    logger.warning("Cache: %d invalidation(s) missed during the outage applied", len(keys))


def _call(operation, *args, fallback=None):
    if not breaker.allow():
        return fallback
    try:
        _flush_pending_deletes()
        result = operation(*args)
    except CACHE_ERRORS as exc:
        breaker.record_failure(exc)
        return fallback
    breaker.record_success()
    return result


def cache_get(key: str, default: Any = None) -> Any:
    return _call(cache.get, key, default, fallback=default)


def cache_get_many(keys: Iterable[str]) -> dict[str, Any]:
    return _call(cache.get_many, list(keys), fallback={})


def cache_set(key: str, value: Any, timeout: float | None) -> None:
    _call(cache.set, key, value, timeout)


def cache_set_many(values: Mapping[str, Any], timeout: float | None) -> None:
    _call(cache.set_many, dict(values), timeout)


def cache_delete(key: str) -> None:
    """Delete now, or as soon as the cache is reachable again."""
    if breaker.allow():
        try:
            _flush_pending_deletes()
            cache.delete(key)
        except CACHE_ERRORS as exc:
            breaker.record_failure(exc)
        else:
            breaker.record_success()
            return
    with _pending_lock:
        if len(_pending_deletes) >= _MAX_PENDING_DELETES:
            logger.error("Cache: more than %d invalidations pending; dropping one", _MAX_PENDING_DELETES)
            _pending_deletes.pop()
        _pending_deletes.add(key)
