"""The one filter over the Review queryset: the labelling queue, the explorer, the export, the reviews
API and every analytics read (dashboard, charts, themes, insights) scope reviews with ReviewFilters.

Date convention (the only one): `date_from` and `date_to` are inclusive calendar days in the site time
zone (settings.TIME_ZONE). ReviewFilters.start / .end turn them, here and nowhere else, into the
half-open datetime range [start of date_from, start of the day after date_to): a review at 23:30 local
time on date_to counts, one at 00:00 the next day does not. An instant may be given instead of a day
(the API takes ISO date-times): date_from is then the first instant included, date_to the last.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Q, QuerySet
from django.utils import timezone

from reviews.models import Review

DateBound = dt.date | dt.datetime | None


def day_start(day: dt.date, tz=None) -> dt.datetime:
    """Local midnight at the start of `day` (site time zone unless `tz`), as an aware datetime."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz or timezone.get_current_timezone())


def local_day(moment: dt.datetime, tz=None) -> dt.date:
    """The calendar day of `moment` in the site time zone (unless `tz`)."""
    return timezone.localtime(moment, tz or timezone.get_current_timezone()).date()


def range_start(bound: DateBound) -> dt.datetime | None:
    """The first instant of a date_from: a day's local midnight, or the instant itself."""
    if bound is None or isinstance(bound, dt.datetime):
        return bound
    return day_start(bound)


def range_end(bound: DateBound) -> dt.datetime | None:
    """The exclusive end of a date_to: the local midnight after the day, or just after the instant."""
    if bound is None:
        return None
    if isinstance(bound, dt.datetime):
        return bound + dt.timedelta(microseconds=1)
    return day_start(bound + dt.timedelta(days=1))


@dataclass(frozen=True)
class ReviewFilters:
    """What narrows a set of reviews; None (or blank) is no filter. Dates: see the module docstring."""

    business: str | None = None
    source: str | None = None
    date_from: DateBound = None
    date_to: DateBound = None
    rating_min: Decimal | float | None = None
    rating_max: Decimal | float | None = None
    predicted_label: str | None = None
    human_label: str | None = None
    labelled: bool | None = None
    confidence_min: float | None = None
    confidence_max: float | None = None
    q: str | None = None

    @property
    def start(self) -> dt.datetime | None:
        """Inclusive start of the effective-date range."""
        return range_start(self.date_from)

    @property
    def end(self) -> dt.datetime | None:
        """Exclusive end of the effective-date range."""
        return range_end(self.date_to)

    @property
    def last(self) -> dt.datetime | None:
        """The last instant the range includes (end minus a microsecond), for display and range checks."""
        end = self.end
        return end - dt.timedelta(microseconds=1) if end is not None else None

    def days(self) -> tuple[dt.date | None, dt.date | None]:
        """The first and last local day the range covers (None: unbounded)."""
        start, last = self.start, self.last
        return (local_day(start) if start else None), (local_day(last) if last else None)

    @property
    def is_reversed(self) -> bool:
        start, end = self.start, self.end
        return start is not None and end is not None and start >= end

    def column_lookups(self, *, source: str = "source", business: str = "business", rating: str = "rating") -> dict:
        """The source, business and rating filters as ORM lookups on these columns: the reviews' own, or those
        of a table that copies them (the rollups, the aspect rows)."""
        lookups: dict = {}
        if self.source:
            lookups[source] = self.source
        if self.business:
            lookups[business] = self.business
        if self.rating_min is not None:
            lookups[f"{rating}__gte"] = self.rating_min
        if self.rating_max is not None:
            lookups[f"{rating}__lte"] = self.rating_max
        return lookups


def scoped(filters: ReviewFilters, reviews: QuerySet[Review] | None = None) -> QuerySet[Review]:
    """`reviews` (default: all) narrowed by `filters`."""
    reviews = Review.objects.all() if reviews is None else reviews
    if filters.predicted_label:
        reviews = reviews.filter(predicted_label=filters.predicted_label)
    if filters.human_label:
        reviews = reviews.filter(human_label=filters.human_label)
    if filters.labelled is not None:
        reviews = reviews.filter(human_label__isnull=not filters.labelled)
    reviews = reviews.filter(**filters.column_lookups())
    start, end = filters.start, filters.end
    if start is not None:
        reviews = reviews.filter(effective_at__gte=start)
    if end is not None:
        reviews = reviews.filter(effective_at__lt=end)
    if filters.confidence_min is not None:
        reviews = reviews.filter(predicted_confidence__gte=filters.confidence_min)
    if filters.confidence_max is not None:
        reviews = reviews.filter(predicted_confidence__lte=filters.confidence_max)
    if filters.q:
        reviews = reviews.filter(
            Q(text__icontains=filters.q) | Q(business__icontains=filters.q) | Q(author__icontains=filters.q)
        )
    return reviews
