"""Pre-aggregated aspect counts for the constructive-feedback report (analytics.aspect_report).

The same design as the dashboard's rollups (analytics.rollups), over reviews.ReviewAspect:

- DailyAspectRollup: local day (TIME_ZONE), category, polarity, suggestion flag, source, rating -> mentions;
  DailyAspectReviewRollup: local day, source, rating -> reviews with at least one mention. Read when the
  report has no business filter.
- MonthlyBusinessAspectRollup and MonthlyBusinessAspectReviewRollup: the same by local month and business,
  read with a business filter (a daily grain by business would be nearly as large as ReviewAspect).

The report reads whole days (months) before AspectRollupState.covered_until and before today from the
rollups, and everything else -- today, partial days at the edges of its periods, days the rollup has not
reached yet -- from ReviewAspect. Unlike the dashboard's rollups, changes to older days are exact at once:
every write of aspect rows (extraction, staff corrections, a review moved to another day or deleted) marks
its local days in AspectRollupDirtyDay in the same transaction (aspect_rollup_mark_dirty), the report reads
marked days (months) from ReviewAspect, and `analytics.refresh_aspect_rollups` (every 5 minutes) rebuilds
them with yesterday and today and clears the marks. `rebuild_rollups` (nightly, and by hand) rebuilds
everything.

Days are in TIME_ZONE; a request in another active time zone, or settings.ANALYTICS_ROLLUPS = False,
reads ReviewAspect only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, DateField, Q
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from analytics.models import (
    AspectRollupDirtyDay,
    AspectRollupState,
    DailyAspectRatingRollup,
    DailyAspectReviewRollup,
    DailyAspectRollup,
    MonthlyBusinessAspectReviewRollup,
    MonthlyBusinessAspectRollup,
)
from analytics.rollup_engine import (
    RollupFamily,
    any_of,
    day_start,
    mark_days,
    period_after,
    period_of,
    site_tz,
)
from reviews.models import ReviewAspect

AT = "review_effective_at"
MENTION_KEYS = ["category", "polarity", "is_suggestion"]
DAILY_TABLES = (DailyAspectRollup, DailyAspectReviewRollup, DailyAspectRatingRollup)
MONTHLY_TABLES = (MonthlyBusinessAspectRollup, MonthlyBusinessAspectReviewRollup)

# ---------------------------------------------------------------- marking changed days


def aspect_rollup_mark_dirty(moments: Iterable[dt.datetime | None]) -> None:
    """Mark the local days of these effective dates as changed; call it in the transaction that
    changed the aspect rows of reviews with those dates (a review moved to another day: both)."""
    mark_days(AspectRollupDirtyDay, moments)


def aspect_rollup_mark_reviews_dirty(review_ids: Iterable[int]) -> None:
    """Mark the days of these reviews' stored aspect rows (their copied effective dates)."""
    ids = list(review_ids)
    if ids:
        aspect_rollup_mark_dirty(
            ReviewAspect.objects.filter(review_id__in=ids).order_by().values_list(AT, flat=True).distinct()
        )


# ---------------------------------------------------------------- building


def _selects(aspects, grain: str):
    """(model, queryset, columns) of the four INSERT ... SELECTs for these aspect rows."""
    tz = site_tz()
    if grain == "day":
        period, by = TruncDate(AT, tzinfo=tz), []
        mentions_model, reviews_model = DAILY_TABLES[:2]
    else:
        period, by = TruncMonth(AT, tzinfo=tz, output_field=DateField()), ["review_business"]
        mentions_model, reviews_model = MONTHLY_TABLES
    column = grain if grain == "day" else "month"
    names = [column, *(["business"] if by else []), *MENTION_KEYS, "source", "rating", "n"]
    mentions = (
        aspects.order_by()
        .annotate(period=period)
        .values("period", *by, *MENTION_KEYS, "review_source", "review_rating")
        .annotate(n=Count("id"))
    )
    review_names = [column, *(["business"] if by else []), "source", "rating", "n"]
    reviews = (
        aspects.filter(is_suggestion=False)
        .order_by()
        .annotate(period=period)
        .values("period", *by, "review_source", "review_rating")
        .annotate(n=Count("review_id", distinct=True))
    )
    selects = [(mentions_model, mentions, names), (reviews_model, reviews, review_names)]
    if grain == "day":
        by_rating = (
            aspects.order_by()
            .annotate(period=period)
            .values("period", *MENTION_KEYS, "review_rating")
            .annotate(n=Count("id"))
        )
        selects.append((DailyAspectRatingRollup, by_rating, ["day", *MENTION_KEYS, "rating", "n"]))
    return selects


ASPECTS = RollupFamily(
    state=AspectRollupState,
    dirty=AspectRollupDirtyDay,
    source=ReviewAspect.objects.all,
    at=AT,
    daily=DAILY_TABLES,
    monthly=MONTHLY_TABLES,
    selects=_selects,
)


def aspect_rollup_rebuild_days(days: set[dt.date]) -> None:
    """Rebuild the given local days (and the months holding them) and clear their marks."""
    ASPECTS.rebuild_days(days)


def aspect_rollup_rebuild_all() -> AspectRollupState:
    """Rebuild the aspect rollups from every aspect row, in one transaction; days before today are covered."""
    return ASPECTS.rebuild_all()


def aspect_rollup_refresh() -> AspectRollupState:
    """Rebuild yesterday, today, any days since the last refresh and every marked day; cover up to today.
    (E.g. re-extraction by a new aspect model marks every day: that is a full rebuild.)"""
    return ASPECTS.refresh()


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Coverage:
    """What the rollups of one grain ("day", or "month" for the by-business tables) may answer:
    whole periods before `until`, except the `dirty` ones."""

    grain: str
    until: dt.date
    dirty: frozenset[dt.date]

    def floor(self, day: dt.date) -> dt.date:
        return period_of(day, self.grain)

    def step(self, period: dt.date) -> dt.date:
        return period_after(period, self.grain)


def coverage(grain: str) -> Coverage | None:
    """None: do not use the rollups (disabled, not built, or built in another time zone)."""
    until = ASPECTS.covered_until()
    if until is None:
        return None
    dirty = frozenset(period_of(day, grain) for day in AspectRollupDirtyDay.objects.values_list("day", flat=True))
    return Coverage(grain, period_of(until, grain), dirty)


@dataclass(frozen=True)
class Split:
    """One time range of the report: `runs` of whole clean periods [lo, hi) for the rollups, and
    `live`, disjoint contiguous ranges (Qs on the aspect rows' effective date) for the rest."""

    runs: tuple[tuple[dt.date, dt.date], ...]
    live: tuple[Q, ...]


def split(
    cover: Coverage | None, start: dt.datetime, end: dt.datetime, *, end_inclusive: bool = False, at: str = AT
) -> Split:
    """[start, end) (with end_inclusive: [start, end]) as rollup runs of whole clean periods and live
    ranges for the rest."""
    if end_inclusive:
        end += dt.timedelta(microseconds=1)
    if start >= end:
        return Split((), ())
    ranges: list[tuple[dt.datetime, dt.datetime]] = []  # [lo, hi)

    def live(lo: dt.datetime, hi: dt.datetime) -> None:
        if ranges and ranges[-1][1] == lo:
            lo = ranges.pop()[0]  # adjoining: one range, one index scan
        ranges.append((lo, hi))

    def done(runs: list) -> Split:
        return Split(tuple(runs), tuple(Q(**{f"{at}__gte": lo, f"{at}__lt": hi}) for lo, hi in ranges))

    tz = timezone.get_current_timezone()
    lo = hi = None
    if cover is not None:
        lo = cover.floor(timezone.localtime(start, tz).date())
        if day_start(lo, tz) < start:
            lo = cover.step(lo)
        hi = min(cover.until, cover.floor(timezone.localtime(end, tz).date()))
    if cover is None or hi <= lo:
        live(start, end)
        return done([])
    runs: list[tuple[dt.date, dt.date]] = []
    if start < day_start(lo, tz):
        live(start, day_start(lo, tz))
    period = lo
    while period < hi:
        following = cover.step(period)
        if period in cover.dirty:
            live(day_start(period, tz), day_start(following, tz))
        elif runs and runs[-1][1] == period:
            runs[-1] = (runs[-1][0], following)
        else:
            runs.append((period, following))
        period = following
    if day_start(hi, tz) < end:
        live(day_start(hi, tz), end)
    return done(runs)


def runs_q(cover: Coverage, runs: Iterable[tuple[dt.date, dt.date]]) -> Q:
    """The rollup rows of these runs (at least one)."""
    field = "day" if cover.grain == "day" else "month"
    return any_of(Q(**{f"{field}__gte": lo, f"{field}__lt": hi}) for lo, hi in runs)


def tables(cover: Coverage, *, any_source: bool = False):
    """(mention rollup, review rollup) models of this coverage's grain; `any_source` (no source or
    business filter): the mentions summed over sources."""
    if cover.grain == "day":
        return (DailyAspectRatingRollup if any_source else DailyAspectRollup), DailyAspectReviewRollup
    return MONTHLY_TABLES
