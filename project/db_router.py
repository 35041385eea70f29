"""An optional read replica for analytics (DATABASE_REPLICA_URL).

With DATABASE_REPLICA_URL set, settings add a `replica` database alias. The analytics pages and
endpoints (dashboard, charts, constructive feedback, the insights report, monitoring) mark their work
with `reads_from_replica`, and ReplicaRouter sends the ORM reads made inside it to `replica`.
Everything else, every write, and any read inside a transaction on `default` (which must see its own
uncommitted rows) goes to `default`. Without the setting there is no `replica` alias and the router
answers None everywhere, which leaves Django's default routing unchanged.

A replica lags its primary by a little; the figures it serves are aggregates over many reviews and
are already minutes old where they come from rollups, so that lag is acceptable there and nowhere else.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA = "replica"
P = ParamSpec("P")
R = TypeVar("R")

# A ContextVar, not a thread-local: each FastAPI pool thread and each asyncio task sees its own value.
_analytics_reads: ContextVar[bool] = ContextVar("analytics_reads", default=False)


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


@contextmanager
def replica_reads() -> Iterator[None]:
    """ORM reads in this block go to the replica when one is configured."""
    token = _analytics_reads.set(True)
    try:
        yield
    finally:
        _analytics_reads.reset(token)


def reads_from_replica(func: Callable[P, R]) -> Callable[P, R]:
    """Run a read-only analytics function with its ORM reads on the replica (when configured)."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with replica_reads():
            return func(*args, **kwargs)

    return wrapper


def read_alias() -> str:
    """Where an ORM read made here would go (for callers that open a cursor themselves)."""
    return ReplicaRouter().db_for_read(None) or DEFAULT_DB_ALIAS


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str | None:
        if not (_analytics_reads.get() and replica_configured()):
            return None
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None  # read your own writes
        return REPLICA

    def db_for_write(self, model, **hints) -> str | None:
        return None  # always the primary

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The replica holds the same rows as the primary.
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        return False if db == REPLICA else None  # a replica follows its primary's schema
