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
from django.core.cache import cache

from project.circuit import CircuitBreaker

logger = logging.getLogger(__name__)

try:
    from redis.exceptions import RedisError
except ImportError:  # pragma: no cover - redis is a dependency, but the file cache does not need it
    CACHE_ERRORS: tuple[type[BaseException], ...] = (OSError,)
else:
    CACHE_ERRORS = (RedisError, OSError)

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
