"""A pure ASGI guard: a query parameter given twice is a 422.

No API endpoint takes a list in its query string, and FastAPI reads a repeated scalar parameter as its
last value, so `?predicted_label=positive&predicted_label=negative` silently listed the negative reviews
only. A client that meant "either" learns it at once instead. Requests without a query string, such as
every create, pass without any parsing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from urllib.parse import parse_qsl

from django.utils import timezone
from starlette.types import ASGIApp, Receive, Scope, Send


class RepeatedQueryParameters:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if query:
            counts = Counter(key for key, _ in parse_qsl(query.decode("latin-1"), keep_blank_values=True))
            repeated = sorted(key for key, count in counts.items() if count > 1)
            if repeated:
                errors = [
                    {"field": f"query.{key}", "message": "given more than once; send it once"} for key in repeated
                ]
                body = json.dumps(
                    {"detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors), "errors": errors}
                ).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 422, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


# --- The one date parser of the query strings ---------------------------------------------

# Years a date filter is held within. To a user 0001-01-01 or 9999-12-31 means "no bound"; taken literally they
# overflow the date arithmetic done on a bound (the day after 9999-12-31, 90 days before 0001-01-01).
FILTER_DATE_FLOOR = dt.date(1000, 1, 1)
FILTER_DATE_CEILING = dt.date(9000, 1, 1)
DATE_FILTER_MESSAGE = "Input should be a date (YYYY-MM-DD) or an ISO 8601 date-time"


def parse_date(value: str | None) -> dt.date | dt.datetime | None:
    """A date filter from a query string, the one parser behind the API and the staff pages.

    Blank is None (no bound). "YYYY-MM-DD" is a calendar day (a `date`: what it covers is decided by the
    filter that uses it, see reviews.filters); any other ISO 8601 text is an instant (an aware `datetime`,
    in UTC; without an offset it is read in the site time zone). Both are held within years 1000-9000.
    Anything else raises ValueError: each caller words it (DATE_FILTER_MESSAGE for the API)."""
    text = (value or "").strip()
    if not text:
        return None
    if len(text) == 10:
        return min(max(dt.date.fromisoformat(text), FILTER_DATE_FLOOR), FILTER_DATE_CEILING)
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    floor = dt.datetime.combine(FILTER_DATE_FLOOR, dt.time.min, tzinfo=moment.tzinfo)
    ceiling = dt.datetime.combine(FILTER_DATE_CEILING, dt.time.min, tzinfo=moment.tzinfo)
    moment = min(max(moment, floor), ceiling)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    # UTC: PostgreSQL refuses offsets beyond 15:59, which ISO 8601 allows up to 23:59.
    return moment.astimezone(dt.UTC)
