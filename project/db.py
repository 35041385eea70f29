"""Database connection hygiene for code that runs outside Django's request cycle.

FastAPI runs plain `def` endpoints and dependencies on a thread pool, and Django
connections belong to the thread that opened them. Nothing closes them there
(Django's request_finished signal never fires), so each function that touches the
ORM releases its connection in its own thread when it returns. With
CONN_MAX_AGE=0 `close_old_connections()` closes the connection, which with the
psycopg pool means: hand it back to the pool.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import close_old_connections

P = ParamSpec("P")
R = TypeVar("R")


def releases_db_connection(func: Callable[P, R]) -> Callable[P, R]:
    if inspect.iscoroutinefunction(func):
        raise TypeError(f"{func.__qualname__} is async: the ORM belongs in plain def functions")

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return wrapper
