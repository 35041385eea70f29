"""Database connection hygiene for code that runs outside Django's request cycle.

FastAPI runs plain `def` endpoints and dependencies on a thread pool, and Django
connections belong to the thread that opened them. Nothing closes them there
(Django's request_finished signal never fires), so each function that touches the
ORM releases its connection in its own thread when it returns. With
CONN_MAX_AGE=0 `close_old_connections()` closes the connection, which with the
psycopg pool means: hand it back to the pool.

A database restart kills every pooled connection at once, and the pool only notices a
dead one when it comes back from a failed request. So when a request's connection turns
out dead, the idle connections of its pool are tested and the dead ones dropped at once
(psycopg_pool's `check()`): one failed request per process after a restart, instead of
one per pooled connection. (Checking every connection before each use, CONN_HEALTH_CHECKS,
costs a round trip per request and, with many dead connections, sleeps between them until
the pool times out.)
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, close_old_connections, connections

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def releases_db_connection(func: Callable[P, R]) -> Callable[P, R]:
    if inspect.iscoroutinefunction(func):
        raise TypeError(f"{func.__qualname__} is async: the ORM belongs in plain def functions")

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except DatabaseError:
            discard_dead_pooled_connections()
            raise
        finally:
            close_old_connections()

    return wrapper


def discard_dead_pooled_connections() -> None:
    """If this thread's connection died, drop the dead idle connections of its pool (see above)."""
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if raw is None or not getattr(raw, "closed", False):
            continue  # no connection, or a live one: a query failed, not the server
        pool = connection.pool if "pool" in connection.settings_dict.get("OPTIONS", {}) else None
        if pool is not None and not pool.closed:
            logger.warning("Database connection lost (%s): testing the idle connections of its pool", connection.alias)
            pool.check()
