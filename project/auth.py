"""API authentication: `Authorization: Token <key>` with DRF's token model.

The check runs on every call, so it must not cost a database query each time: the
resolved principal (user id, name, permissions) is kept in the shared cache for
API_TOKEN_CACHE_SECONDS and, in front of it, in a small per-process dictionary for
a few seconds. Deleting a token or changing a user's roles drops the shared entry
at once; the per-process copy expires within LOCAL_CACHE_SECONDS.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Annotated

from django.conf import settings
from fastapi import Depends, Header, HTTPException
from starlette.concurrency import run_in_threadpool

from project.cache import cache_delete, cache_get, cache_set
from project.db import releases_db_connection
from project.ratelimit import enforce_rate_limit

LOCAL_CACHE_SECONDS = 5.0
_LOCAL_CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    is_superuser: bool
    is_staff: bool
    permissions: frozenset[str]

    def has_perm(self, permission: str) -> bool:
        # Staff and superusers can do everything; others need the permission via a role.
        return self.is_superuser or self.is_staff or permission in self.permissions


_local_cache: dict[str, tuple[float, Principal]] = {}
_local_lock = threading.Lock()


def _cache_key(token_key: str) -> str:
    # Hash so the raw secret never sits in the cache under its own name.
    return "apitoken:" + hashlib.sha256(token_key.encode()).hexdigest()[:40]


@releases_db_connection
def _load_principal(token_key: str) -> Principal | None:
    from rest_framework.authtoken.models import Token

    try:
        token = Token.objects.select_related("user").get(key=token_key)
    except Token.DoesNotExist:
        return None
    user = token.user
    if not user.is_active:
        return None
    return Principal(
        user_id=user.pk,
        username=user.get_username(),
        is_superuser=user.is_superuser,
        is_staff=user.is_staff,
        permissions=frozenset(user.get_all_permissions()),
    )


def _remember_locally(cache_key: str, principal: Principal) -> None:
    with _local_lock:
        if len(_local_cache) >= _LOCAL_CACHE_MAX_ENTRIES:
            _local_cache.clear()
        _local_cache[cache_key] = (time.monotonic() + LOCAL_CACHE_SECONDS, principal)


def resolve_token_sync(token_key: str) -> Principal | None:
    cache_key = _cache_key(token_key)
    # With the cache down this is a miss (project/cache.py): the token is checked in the database.
    principal = cache_get(cache_key)
    if principal is None:
        principal = _load_principal(token_key)
        if principal is None:
            return None
        cache_set(cache_key, principal, settings.API_TOKEN_CACHE_SECONDS)
    _remember_locally(cache_key, principal)
    return principal


def forget_cached_token(token_key: str) -> None:
    cache_key = _cache_key(token_key)
    cache_delete(cache_key)  # with the cache down: retried as soon as it answers again
    with _local_lock:
        _local_cache.pop(cache_key, None)


def forget_cached_tokens_of_user(user_id: int | None) -> None:
    from rest_framework.authtoken.models import Token

    if user_id is None:
        return
    for key in Token.objects.filter(user_id=user_id).values_list("key", flat=True):
        forget_cached_token(key)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(status_code=401, detail=message, headers={"WWW-Authenticate": "Token"})


async def current_principal(
    authorization: Annotated[
        str | None, Header(description="`Token <key>`: a key from the admin or `manage.py create_api_token`")
    ] = None,
) -> Principal:
    if not authorization:
        raise _unauthorized("Authentication required: send the header 'Authorization: Token <key>'")
    scheme, _, token_key = authorization.strip().partition(" ")
    token_key = token_key.strip()
    if scheme.lower() not in {"token", "bearer"} or not token_key:
        raise _unauthorized("Malformed Authorization header: expected 'Token <key>'")
    if len(token_key) > 128:
        raise _unauthorized("Invalid token")
    # Fast path without leaving the event loop: a principal seen seconds ago.
    cache_key = _cache_key(token_key)
    cached = _local_cache.get(cache_key)
    if cached is not None and cached[0] > time.monotonic():
        principal = cached[1]
    else:
        principal = await run_in_threadpool(resolve_token_sync, token_key)
        if principal is None:
            raise _unauthorized("Invalid token")
    # Counted per token (by its hash) after it is known to be valid: 429 over API_RATE_LIMIT.
    await enforce_rate_limit(cache_key, is_staff=principal.is_staff or principal.is_superuser)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require(permission: str):
    """A dependency that lets through only principals holding `permission`."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_perm(permission):
            raise HTTPException(
                status_code=403, detail=f"Your role does not allow this (needs permission {permission!r})"
            )
        return principal

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    return Depends(dependency)


def login_attempt_username(request, credentials: dict | None = None) -> str | None:
    """The username django-axes records for a login attempt (AXES_USERNAME_CALLABLE): what was typed, as axes
    reads it by default, cut to its column's 255 characters and without NUL (PostgreSQL refuses it in text).
    Django's login form does not enforce a length, so a 300-character name reached the INSERT and failed it."""
    value = credentials.get("username") if credentials else request.POST.get("username")
    return None if value is None else str(value).replace("\x00", "")[:255]
