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
import functools
import operator
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateField, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from analytics.models import DailyReviewRollup, MonthlyBusinessRollup, RollupDirtyDay, RollupState
from project.outbox.services import outbox_enqueue
from reviews.models import Review

# Past this many separate marked runs in one range the charts read the whole range from the reviews
# table: one index range scan beats a query with hundreds of OR'ed ranges.
MAX_LIVE_RUNS = 40
FULL_REBUILD_MONTHS = 6  # a refresh with marked days in more months rebuilds everything


def _tz():
    return timezone.get_default_timezone()


def day_start(day: dt.date, tz=None) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz or _tz())


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _runs(days: set[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Contiguous [first, last] runs of days."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(days):
        if runs and day == runs[-1][1] + dt.timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


# ---------------------------------------------------------------- marking changed days


def any_of(conditions: Iterable[Q]) -> Q:
    """OR of one or more conditions."""
    return functools.reduce(operator.or_, conditions)


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment, _tz()).date()


def mark_days(model, moments: Iterable[dt.datetime | None], *, before_today: bool = False) -> list[dt.date]:
    """Mark the local days of these moments in `model` (a dirty-day table: day unique, token).

    Sorted, so two writers lock the rows in one order; a new token keeps a mark that a running
    refresh has already read. before_today: skip today and later, which are never read from a
    rollup (the hot create path then writes nothing for today's reviews)."""
    days = {local_day(moment) for moment in moments if moment is not None}
    if days and before_today:
        today = timezone.localdate(timezone=_tz())
        days = {day for day in days if day < today}
    if not days:
        return []
    token = uuid.uuid4().hex
    model.objects.bulk_create(
        [model(day=day, token=token) for day in sorted(days)],
        update_conflicts=True,
        unique_fields=["day"],
        update_fields=["token"],
    )
    return sorted(days)


def read_marks(model, days: set[dt.date] | None = None) -> list[tuple[dt.date, str]]:
    rows = model.objects.order_by("day")
    if days is not None:
        rows = rows.filter(day__in=days)
    return list(rows.values_list("day", "token"))


def clear_marks(model, marks: list[tuple[dt.date, str]]) -> None:
    """Delete the marks read before a rebuild; one re-marked since (new token) stays for next time."""
    for start in range(0, len(marks), 200):
        model.objects.filter(any_of(Q(day=day, token=token) for day, token in marks[start : start + 200])).delete()


def month_runs(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """[first, last] day runs of the whole months holding these days, adjoining months merged: a
    backdated import marks scattered days, and one range scan per run of months rebuilds them."""
    runs: list[tuple[dt.date, dt.date]] = []
    for month in sorted({_month(day) for day in days}):
        last = _next_month(month) - dt.timedelta(days=1)
        if runs and runs[-1][1] + dt.timedelta(days=1) == month:
            runs[-1] = (runs[-1][0], last)
        else:
            runs.append((month, last))
    return runs


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


def _insert(model, queryset, columns: list[str]) -> None:
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) {sql}", params
        )


def _daily_select(reviews):
    columns = ["day", "source", "rating", "predicted_label", "human_label", "n"]
    queryset = (
        reviews.order_by()
        .annotate(day=TruncDate("effective_at", tzinfo=_tz()))
        .values("day", "source", "rating", "predicted_label", "human_label")
        .annotate(n=Count("id"))
    )
    return queryset, columns


def _monthly_select(reviews):
    columns = ["month", "business", "source", "predicted_label", "n"]
    queryset = (
        reviews.order_by()
        .annotate(month=TruncMonth("effective_at", tzinfo=_tz(), output_field=DateField()))
        .values("month", "business", "source", "predicted_label")
        .annotate(n=Count("id"))
    )
    return queryset, columns


def _locked_state() -> RollupState:
    RollupState.objects.get_or_create(pk=1)
    return RollupState.objects.select_for_update().get(pk=1)


def _rebuild_runs(runs: list[tuple[dt.date, dt.date]]) -> None:
    months: set[dt.date] = set()
    for first, last in runs:
        DailyReviewRollup.objects.filter(day__gte=first, day__lte=last).delete()
        reviews = Review.objects.filter(
            effective_at__gte=day_start(first), effective_at__lt=day_start(last + dt.timedelta(days=1))
        )
        _insert(DailyReviewRollup, *_daily_select(reviews))
        month = _month(first)
        while month <= last:
            months.add(month)
            month = _next_month(month)
    for month in sorted(months):
        MonthlyBusinessRollup.objects.filter(month=month).delete()
        reviews = Review.objects.filter(
            effective_at__gte=day_start(month), effective_at__lt=day_start(_next_month(month))
        )
        _insert(MonthlyBusinessRollup, *_monthly_select(reviews))


def rollup_rebuild_days(days: set[dt.date]) -> None:
    """Rebuild the given local days (and the months holding them), in one transaction, and clear
    their marks. Advances nothing: RollupState.covered_until only moves in refresh / rebuild_all."""
    if not days:
        return
    with transaction.atomic():
        _locked_state()
        marks = read_marks(RollupDirtyDay, set(days))
        _rebuild_runs(_runs(set(days)))
        clear_marks(RollupDirtyDay, marks)


def rollup_rebuild_marked(days: Iterable[dt.date] | None = None) -> int:
    """Rebuild the marked days (all, or those of `days` still marked), by whole months, and clear their
    marks; returns how many marked days there were. What an import runs when it ends, so the rollups
    hold its reviews at once, and what the task a marking write queues runs (a day an import already
    rebuilt is no longer marked: nothing is rebuilt twice)."""
    with transaction.atomic():
        state = _locked_state()
        marks = read_marks(RollupDirtyDay, None if days is None else set(days))
        if marks and state.covered_until is not None:
            _rebuild_runs(month_runs(day for day, _ in marks))
        clear_marks(RollupDirtyDay, marks)
    return len(marks)


def rollup_rebuild_all() -> RollupState:
    """Rebuild both rollups from every review, in one transaction; days before today are covered."""
    today = timezone.localdate(timezone=_tz())
    with transaction.atomic():
        state = _locked_state()
        marks = read_marks(RollupDirtyDay)
        DailyReviewRollup.objects.all().delete()
        MonthlyBusinessRollup.objects.all().delete()
        _insert(DailyReviewRollup, *_daily_select(Review.objects.all()))
        _insert(MonthlyBusinessRollup, *_monthly_select(Review.objects.all()))
        clear_marks(RollupDirtyDay, marks)
        if connection.vendor == "postgresql":  # fresh planner statistics for the rebuilt tables
            with connection.cursor() as cursor:
                for model in (DailyReviewRollup, MonthlyBusinessRollup):
                    cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        state.covered_until = today
        state.time_zone = str(_tz())
        state.built_at = state.full_built_at = timezone.now()
        state.save()
    return state


def rollup_refresh() -> RollupState:
    """Rebuild yesterday, today, any days since the last refresh and every marked day; cover up to today.

    Without a full build yet (or after a TIME_ZONE change) this is a full rebuild."""
    today = timezone.localdate(timezone=_tz())
    state = RollupState.objects.filter(pk=1).first()
    if state is None or state.covered_until is None or state.time_zone != str(_tz()):
        return rollup_rebuild_all()
    if len({_month(day) for day in RollupDirtyDay.objects.values_list("day", flat=True)}) > FULL_REBUILD_MONTHS:
        return rollup_rebuild_all()
    with transaction.atomic():
        state = _locked_state()
        marks = read_marks(RollupDirtyDay)
        first = min(state.covered_until, today - dt.timedelta(days=1))
        days = {first + dt.timedelta(days=i) for i in range((today - first).days + 1)}
        _rebuild_runs(_runs(days | {day for day, _ in marks}))
        clear_marks(RollupDirtyDay, marks)
        state.covered_until = max(state.covered_until, today)
        state.built_at = timezone.now()
        state.save()
    return state


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
    if not getattr(settings, "ANALYTICS_ROLLUPS", True):
        return None
    tz = timezone.get_current_timezone()
    state = RollupState.objects.filter(pk=1).values("covered_until", "time_zone").first()
    if not state or state["covered_until"] is None or state["time_zone"] != str(tz):
        return None
    return min(state["covered_until"], timezone.localdate(timezone=tz))


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
    floor = _month if grain == "month" else (lambda day: day)
    step = _next_month if grain == "month" else (lambda day: day + dt.timedelta(days=1))
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
