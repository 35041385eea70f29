"""Shared pieces of the staff pages: permission checks, filters from the query string, the dashboard."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse

from project import queryparams


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


def parse_date(
    value: str | None, *, field: str = "date", problems: list[str] | None = None
) -> dt.date | dt.datetime | None:
    """A date filter from a form (project.queryparams.parse_date: a YYYY-MM-DD day, or an ISO instant).
    Anything else is no filter, and is reported in `problems` (when given) so the page can say it was
    left out. What the day covers is the filter's business (reviews.filters: inclusive local days)."""
    try:
        return queryparams.parse_date(None if value is None else str(value))
    except ValueError:
        report(problems, f"{field}: {str(value)[:40]!r} is not a date (YYYY-MM-DD); it was left out.")
        return None


def report(problems: list[str] | None, message: str) -> None:
    if problems is not None:
        problems.append(message)


def show_problems(request: HttpRequest, problems: list[str]) -> int:
    """Each filter problem as a message on the page; the status the page answers with."""
    from django.contrib import messages

    for problem in problems:
        messages.error(request, problem)
    return 400 if problems else 200


def check_range(low, high, problems: list[str] | None, what: str) -> None:
    """A reversed range matches nothing: say so instead of showing an empty list without a reason."""
    if low is not None and high is not None and low > high:
        report(problems, f"The {what} range is reversed (from after to): nothing can match.")


def clean_text(value: str | None, max_length: int = 200) -> str | None:
    """A free-text filter from a form: NUL dropped (PostgreSQL refuses it in text), trimmed, cut to
    max_length (the longest stored value); blank means no filter."""
    if not isinstance(value, str):  # from a JSON body
        value = "" if value is None else str(value)
    return value.replace("\x00", "").strip()[:max_length] or None


def clean_decimal(
    value: str | None, lowest: Decimal, highest: Decimal, *, field: str = "number", problems: list[str] | None = None
) -> Decimal | None:
    """A number from a form within [lowest, highest]; anything else (text, NaN, infinities) means no filter,
    reported in `problems` when given."""
    try:
        number = Decimal(value) if value not in (None, "") else None
    except (InvalidOperation, TypeError, ValueError):
        number = Decimal("NaN")
    if number is None:
        return None
    if not number.is_finite() or not lowest <= number <= highest:
        report(problems, f"{field}: {str(value)[:40]!r} is not a number from {lowest} to {highest}; it was left out.")
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


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the pages' small JSON views answer JSON like their other errors (their scripts read
    `detail`); the pages themselves keep Django's explanation page."""
    wants_json = request.path.endswith(".json") or request.content_type == "application/json"
    if wants_json:
        return JsonResponse(
            {"status": "csrf_failed", "detail": "The form's security token is missing or stale; reload the page."},
            status=403,
        )
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason=reason)


DIGITS = re.compile(r"[0-9]{1,19}")
MAX_ID = 2**63 - 1  # a larger number is no id, and SQLite cannot even bind it


def clean_ids(values, limit: int = 500) -> list[int]:
    """Review (or other row) ids from a form or a JSON body: positive whole numbers only, at most `limit`."""
    if not isinstance(values, (list, tuple)):  # from a JSON body: anything may come
        return []
    result = []
    for value in values[:limit]:
        # Whole numbers only, as JSON integers or digit strings: int() would read 1.9 and true as review 1.
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and DIGITS.fullmatch(value.strip()):
            number = int(value)
        else:
            continue
        if 0 < number <= MAX_ID:
            result.append(number)
    return result
