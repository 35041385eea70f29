"""The period the analytics pages and APIs open on, in one place.

A restaurant importing its Yelp history (reviews from 2005 to 2013) must not open on "the last 90 days
before today", which holds nothing. With no dates given, the dashboard and insights pages, the trends and
the constructive-feedback API open on the window of DEFAULT_PERIOD days that ends at the newest review in
scope (its local day), and say so when that window lies before today's. The window is written into the
query as `date_from` / `date_to` dates, exactly as a person picking them would, so every reader parses
and applies it the one way it parses a person's dates (both days inclusive).

"All time" spans the oldest to the newest review. A trend's bucket follows the span: days up to about
three months, weeks up to two years, months beyond.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from django.db.models import Max, Min
from django.utils import timezone

from reviews.filters import ReviewFilters, scoped

PERIOD_DAYS = (30, 90, 365)
ALL_TIME = "all"
DEFAULT_PERIOD = "90"
PERIOD_CHOICES = (*(str(days) for days in PERIOD_DAYS), ALL_TIME)
BUCKETS = ("day", "week", "month")
DAY_BUCKET_MAX_DAYS = 92
WEEK_BUCKET_MAX_DAYS = 731


@dataclass(frozen=True)
class Period:
    """The dates a page or response uses (None: unbounded), how they were chosen ("30", "90", "365",
    "all", or "custom" when the person gave dates), and whether the window was moved back to end at
    the newest review because the window ending today held none of it."""

    date_from: dt.date | None
    date_to: dt.date | None
    choice: str
    newest: dt.date | None = None
    follows_data: bool = False

    @property
    def days(self) -> int | None:
        if self.date_from is None or self.date_to is None:
            return None
        return (self.date_to - self.date_from).days + 1

    def query(self, data: Mapping[str, str]) -> dict[str, str]:
        """`data` (a query string) with this period's dates filled in where it gave none."""
        query = {key: data.get(key) for key in data}
        if self.choice != "custom":
            query["date_from"] = self.date_from.isoformat() if self.date_from else ""
            query["date_to"] = self.date_to.isoformat() if self.date_to else ""
        return query


def _reviews(business: str | None, source: str | None):
    return scoped(ReviewFilters(business=business, source=source))


def _edge_day(reviews, edge) -> dt.date | None:
    """The local day of the oldest (Min) or newest (Max) review: one index lookup."""
    moment = reviews.aggregate(at=edge("effective_at"))["at"]
    return timezone.localtime(moment, timezone.get_current_timezone()).date() if moment else None


def resolve_period(
    data: Mapping[str, str], *, default: str = DEFAULT_PERIOD, business: str | None = None, source: str | None = None
) -> Period:
    """The period for a query string: the person's dates if they gave any ("custom"), else `period`
    (30/90/365/all, else `default`) ending at the newest review in scope."""
    if (data.get("date_from") or "").strip() or (data.get("date_to") or "").strip():
        return Period(None, None, "custom")
    choice = data.get("period") if data.get("period") in PERIOD_CHOICES else default
    reviews = _reviews(business, source)
    newest = _edge_day(reviews, Max)
    today = timezone.localdate()
    if choice == ALL_TIME:
        oldest = _edge_day(reviews, Min) if newest else None
        return Period(oldest, newest, ALL_TIME, newest=newest)
    days = int(choice)
    if newest is None:  # nothing yet: the window ending today, which the empty state explains
        return Period(today - dt.timedelta(days=days - 1), today, choice)
    return Period(
        newest - dt.timedelta(days=days - 1),
        newest,
        choice,
        newest=newest,
        follows_data=newest < today - dt.timedelta(days=days - 1),
    )


def bucket_for(date_from: dt.date | None, date_to: dt.date | None) -> str:
    """A trend bucket that gives a readable number of points for the span: day, week or month."""
    if date_from is None or date_to is None:
        return "month"
    days = (date_to - date_from).days + 1
    if days <= DAY_BUCKET_MAX_DAYS:
        return "day"
    return "week" if days <= WEEK_BUCKET_MAX_DAYS else "month"
