"""An APIRouter for endpoints that use the Django ORM."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from project.db import releases_db_connection


class DjangoAPIRouter(APIRouter):
    """Wraps every plain `def` endpoint so it releases its database connection in
    the pool thread that ran it (see project.db). Async endpoints must not touch
    the ORM and are left alone."""

    def add_api_route(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if not inspect.iscoroutinefunction(endpoint):
            endpoint = releases_db_connection(endpoint)
        super().add_api_route(path, endpoint, **kwargs)
