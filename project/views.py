"""Shared pieces of the staff pages: permission checks, filters from the query string, the dashboard."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone


def can(user, perm: str) -> bool:
    """Staff users may do everything on the staff pages; others need the permission (from their role)."""
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.has_perm(perm)))


def permission_required(perm: str) -> Callable:
    """Login first (redirect to the login form), then the permission (403)."""

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not can(request.user, perm):
                raise PermissionDenied(f"You need the permission {perm}")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def json_permission_required(perm: str) -> Callable:
    """For the small JSON views behind the pages: 401/403 as JSON instead of a redirect."""

    def decorator(view):
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated:
                return JsonResponse({"status": "login_required"}, status=401)
            if not can(request.user, perm):
                return JsonResponse({"status": "forbidden", "detail": f"You need the permission {perm}"}, status=403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def json_body(request: HttpRequest) -> dict:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def parse_date(value: str | None, *, end: bool = False) -> dt.datetime | None:
    """A yyyy-mm-dd from a form as an aware datetime; `end` gives the start of the next day."""
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
    if end:
        day += dt.timedelta(days=1)
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def clean_text(value: str | None, max_length: int = 200) -> str | None:
    """A free-text filter from a form: NUL dropped (PostgreSQL refuses it in text), trimmed, cut to
    max_length (the longest stored value); blank means no filter."""
    if not isinstance(value, str):  # from a JSON body
        value = "" if value is None else str(value)
    return value.replace("\x00", "").strip()[:max_length] or None


def clean_decimal(value: str | None, lowest: Decimal, highest: Decimal) -> Decimal | None:
    """A number from a form within [lowest, highest]; anything else (text, NaN, infinities) means no filter."""
    try:
        number = Decimal(value) if value not in (None, "") else None
    except (InvalidOperation, TypeError):
        return None
    if number is None or not number.is_finite() or not lowest <= number <= highest:
        return None
    return number


def clean_int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        return default


def clean_choice(value: str | None, choices) -> str | None:
    allowed = {choice[0] if isinstance(choice, tuple) else choice for choice in choices}
    # Only strings: a JSON body may send a list, which is not even hashable.
    return value if isinstance(value, str) and value in allowed else None


def home(request: HttpRequest) -> HttpResponse:
    from analytics.views import dashboard_page

    return dashboard_page(request)
