"""Pre-aggregated review counts for the unscoped dashboard charts.

Two tables (analytics.models): DailyReviewRollup (local day, source, rating, predicted label, human
label -> n) and MonthlyBusinessRollup (local month, business, source, predicted label -> n). The
charts read whole days (months) before RollupState.covered_until and before today from the rollup,
and everything else -- today, partial days at the edges of a date range, days the rollup has not
reached yet, and days changed since they were built -- from the reviews table, so every answer equals
the reviews table at once, whatever the reviews' dates.

Every write of reviews (creates and imports of backdated reviews, labels, re-scoring, deletes) marks
the local days it touched in RollupDirtyDay in its own transaction (rollup_mark_dirty); the charts
read marked days live; an import rebuilds the days it marked when it ends (rollup_rebuild_marked);
`analytics.refresh_rollups` (every few minutes) rebuilds marked days with yesterday and today; and
`rebuild_rollups` (nightly, and by hand) rebuilds everything. The aspect rollups
(analytics.aspect_rollups) share this marking engine.

Days are in TIME_ZONE; a request in another active time zone, a business filter, or
settings.ANALYTICS_ROLLUPS = False reads the reviews table only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, DateField, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from analytics.models import DailyReviewRollup, MonthlyBusinessRollup, RollupDirtyDay, RollupState
from analytics.rollup_engine import (
    RollupFamily,
    any_of,
    day_start,
    mark_days,
    period_after,
    period_of,
    site_tz,
)
from project.outbox.services import outbox_enqueue
from reviews.models import Review

# Past this many separate marked runs in one range the charts read the whole range from the reviews
# table: one index range scan beats a query with hundreds of OR'ed ranges.
MAX_LIVE_RUNS = 40


# ---------------------------------------------------------------- marking changed days


REBUILD_MARKED_TASK = "analytics.rebuild_marked_rollup_days"


def rollup_mark_dirty(moments: Iterable[dt.datetime | None]) -> None:
    """Mark the local days of these effective dates as changed for the dashboard rollups; call it in
    the transaction that changed reviews with those dates (a review moved to another day: both).

    The marked days are read live until rebuilt, which costs each chart a few index range scans: an
    outbox row, committed with the write and sent by the relay a few seconds later (the relay merges
    the rows of many writes into one task), has a worker rebuild them then, not at the next refresh."""
    days = mark_days(RollupDirtyDay, moments, before_today=True)
    if days:
        outbox_enqueue(REBUILD_MARKED_TASK, args=[[day.isoformat() for day in days]], publish_after_commit=False)


def rollup_mark_reviews_dirty(review_ids: Iterable[int]) -> None:
    """Mark the days of these stored reviews (before they change or go)."""
    ids = list(review_ids)
    for start in range(0, len(ids), 5000):
        rollup_mark_dirty(
            Review.objects.filter(pk__in=ids[start : start + 5000])
            .order_by()
            .values_list("effective_at", flat=True)
            .distinct()
        )


# ---------------------------------------------------------------- building


def _daily_select(reviews):
    columns = ["day", "source", "rating", "predicted_label", "human_label", "n"]
    queryset = (
        reviews.order_by()
        .annotate(day=TruncDate("effective_at", tzinfo=site_tz()))
        .values("day", "source", "rating", "predicted_label", "human_label")
        .annotate(n=Count("id"))
    )
    return queryset, columns


def _monthly_select(reviews):
    columns = ["month", "business", "source", "predicted_label", "n"]
    queryset = (
        reviews.order_by()
        .annotate(month=TruncMonth("effective_at", tzinfo=site_tz(), output_field=DateField()))
        .values("month", "business", "source", "predicted_label")
        .annotate(n=Count("id"))
    )
    return queryset, columns


REVIEWS = RollupFamily(
    state=RollupState,
    dirty=RollupDirtyDay,
    source=Review.objects.all,
    at="effective_at",
    daily=(DailyReviewRollup,),
    monthly=(MonthlyBusinessRollup,),
    selects=lambda reviews, grain: [
        (DailyReviewRollup, *_daily_select(reviews))
        if grain == "day"
        else (MonthlyBusinessRollup, *_monthly_select(reviews))
    ],
)


def rollup_rebuild_days(days: set[dt.date]) -> None:
    """Rebuild the given local days (and the months holding them) and clear their marks."""
    REVIEWS.rebuild_days(days)


def rollup_rebuild_marked(days: Iterable[dt.date] | None = None) -> int:
    """Rebuild the marked days by whole months (rollup_engine.RollupFamily.rebuild_marked): what an import
    runs when it ends, so the rollups hold its reviews at once, and what the task a marking write queues
    runs (a day an import already rebuilt is no longer marked: nothing is rebuilt twice)."""
    return REVIEWS.rebuild_marked(days)


def rollup_rebuild_all() -> RollupState:
    """Rebuild both rollups from every review, in one transaction; days before today are covered."""
    return REVIEWS.rebuild_all()


def rollup_refresh() -> RollupState:
    """Rebuild yesterday, today, any days since the last refresh and every marked day; cover up to today."""
    return REVIEWS.refresh()


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Plan:
    """Which part of a time range the rollup answers: periods [lo, hi) (lo None: from the
    beginning) except the `dirty` runs of periods [first, after) changed since they were built, and
    `base` (a Q on effective_at) for the rest -- the edges and the dirty runs -- read from the
    reviews table."""

    lo: dt.date | None
    hi: dt.date
    base: Q | None
    grain: str = "day"
    dirty: tuple[tuple[dt.date, dt.date], ...] = ()

    def rows(self, model, source: str | None):
        field = "day" if self.grain == "day" else "month"
        rows = model.objects.filter(**{f"{field}__lt": self.hi})
        if self.lo is not None:
            rows = rows.filter(**{f"{field}__gte": self.lo})
        if self.dirty:
            rows = rows.exclude(any_of(Q(**{f"{field}__gte": a, f"{field}__lt": b}) for a, b in self.dirty))
        return rows.filter(source=source) if source else rows


def covered_until() -> dt.date | None:
    """Days before this are in the rollup and may be read from it; None: do not use the rollup."""
    return REVIEWS.covered_until()


def _dirty_runs(lo: dt.date | None, hi: dt.date, floor, step) -> list[tuple[dt.date, dt.date]]:
    """Runs [first, after) of marked periods between lo and hi."""
    marked = RollupDirtyDay.objects.filter(day__lt=hi)
    if lo is not None:
        marked = marked.filter(day__gte=lo)
    runs: list[tuple[dt.date, dt.date]] = []
    for period in sorted({floor(day) for day in marked.values_list("day", flat=True)}):
        if runs and runs[-1][1] == period:
            runs[-1] = (runs[-1][0], step(period))
        else:
            runs.append((period, step(period)))
    return runs


def plan(
    start: dt.datetime | None, end: dt.datetime | None, *, end_inclusive: bool = False, grain: str = "day"
) -> Plan | None:
    """Split [start, end) (or [start, end]) into whole periods for the rollup and the rest for the
    reviews table; None when the rollup cannot answer any of it."""
    cover = covered_until()
    if cover is None:
        return None
    tz = timezone.get_current_timezone()

    def floor(day: dt.date) -> dt.date:
        return period_of(day, grain)

    def step(period: dt.date) -> dt.date:
        return period_after(period, grain)

    hi = floor(cover)
    if end is not None:
        hi = min(hi, floor(timezone.localtime(end, tz).date()))
    lo = None
    if start is not None:
        lo = floor(timezone.localtime(start, tz).date())
        if day_start(lo, tz) < start:
            lo = step(lo)
        if hi <= lo:
            return None
    dirty = _dirty_runs(lo, hi, floor, step)
    if len(dirty) > MAX_LIVE_RUNS:
        return None
    parts = []
    if start is not None and start < day_start(lo, tz):
        parts.append(Q(effective_at__gte=start, effective_at__lt=day_start(lo, tz)))
    parts += [Q(effective_at__gte=day_start(a, tz), effective_at__lt=day_start(b, tz)) for a, b in dirty]
    tail = Q(effective_at__gte=day_start(hi, tz))
    if end is not None:
        tail &= Q(effective_at__lte=end) if end_inclusive else Q(effective_at__lt=end)
    parts.append(tail)
    return Plan(lo=lo, hi=hi, base=any_of(parts), grain=grain, dirty=tuple(dirty))


def daily(plan_: Plan, source: str | None):
    return plan_.rows(DailyReviewRollup, source)


def monthly(plan_: Plan, source: str | None):
    return plan_.rows(MonthlyBusinessRollup, source)


def n(**filter_) -> Sum:
    return Sum("n", filter=Q(**filter_)) if filter_ else Sum("n")


def union_grouped(parts, keys: list[str], sums: list[str], order: list[str], limit: int | None = None) -> list[dict]:
    """GROUP BY `keys` over UNION ALL of grouped querysets whose values() are keys + sums in that
    order, summing `sums`; ordered in the database (same collation and NULL order as the base query).
    `order` items are column names, "-name" for descending."""
    quote = connection.ops.quote_name
    selects, params = [], []
    for index, queryset in enumerate(parts):
        sql, part_params = queryset.order_by().query.get_compiler(using=queryset.db).as_sql()
        selects.append(f"SELECT * FROM ({sql}) AS part{index}")
        params.extend(part_params)
    columns = [quote(key) for key in keys] + [f"COALESCE(SUM({quote(s)}), 0) AS {quote(s)}" for s in sums]
    order_sql = ", ".join(f"{quote(o.lstrip('-'))}{' DESC' if o.startswith('-') else ''}" for o in order)
    sql = (
        f"SELECT {', '.join(columns)} FROM ({' UNION ALL '.join(selects)}) AS u "
        f"GROUP BY {', '.join(quote(k) for k in keys)} ORDER BY {order_sql}"
    )
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
    for row in rows:  # PostgreSQL sums bigints as numeric
        row.update({name: int(row[name]) for name in sums})
    return rows
