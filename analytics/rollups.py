"""Pre-aggregated review counts for the unscoped dashboard charts.

Two tables (analytics.models): DailyReviewRollup (local day, source, rating, predicted label, human
label -> n) and MonthlyBusinessRollup (local month, business, source, predicted label -> n). The
charts read whole days (months) before RollupState.covered_until and before today from the rollup,
and everything else -- today, partial days at the edges of a date range, days the rollup has not
reached yet -- from the reviews table, so they are exact for new reviews. Changes to older reviews
(relabels, rescoring, deletes, backdated imports) show up once their days are rebuilt:
`analytics.refresh_rollups` rebuilds yesterday and today every few minutes, and `rebuild_rollups`
(nightly, and by hand after bulk changes) rebuilds everything.

Days are in TIME_ZONE; a request in another active time zone, a business filter, or
settings.ANALYTICS_ROLLUPS = False reads the reviews table only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, DateField, Q, Sum
from django.db.models.functions import TruncDate, TruncMonth
from django.utils import timezone

from analytics.models import DailyReviewRollup, MonthlyBusinessRollup, RollupState
from reviews.models import Review

# ---------------------------------------------------------------- building


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
    """Rebuild the given local days (and the months holding them), in one transaction.

    Advances nothing: RollupState.covered_until only moves in rollup_refresh / rollup_rebuild_all."""
    if not days:
        return
    with transaction.atomic():
        _locked_state()
        _rebuild_runs(_runs(set(days)))


def rollup_rebuild_all() -> RollupState:
    """Rebuild both rollups from every review, in one transaction; days before today are covered."""
    today = timezone.localdate(timezone=_tz())
    with transaction.atomic():
        state = _locked_state()
        DailyReviewRollup.objects.all().delete()
        MonthlyBusinessRollup.objects.all().delete()
        _insert(DailyReviewRollup, *_daily_select(Review.objects.all()))
        _insert(MonthlyBusinessRollup, *_monthly_select(Review.objects.all()))
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
    """Rebuild yesterday and today (and any days since the last refresh) and cover up to today.

    Without a full build yet (or after a TIME_ZONE change) this is a full rebuild."""
    today = timezone.localdate(timezone=_tz())
    state = RollupState.objects.filter(pk=1).first()
    if state is None or state.covered_until is None or state.time_zone != str(_tz()):
        return rollup_rebuild_all()
    with transaction.atomic():
        state = _locked_state()
        first = min(state.covered_until, today - dt.timedelta(days=1))
        _rebuild_runs([(first, today)])
        state.covered_until = max(state.covered_until, today)
        state.built_at = timezone.now()
        state.save()
    return state


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Plan:
    """Which part of a time range the rollup answers: periods [lo, hi) (lo None: from the
    beginning), and `base` (a Q on effective_at) for the rest, read from the reviews table."""

    lo: dt.date | None
    hi: dt.date
    base: Q | None


def covered_until() -> dt.date | None:
    """Days before this are in the rollup and may be read from it; None: do not use the rollup."""
    if not getattr(settings, "ANALYTICS_ROLLUPS", True):
        return None
    tz = timezone.get_current_timezone()
    state = RollupState.objects.filter(pk=1).values("covered_until", "time_zone").first()
    if not state or state["covered_until"] is None or state["time_zone"] != str(tz):
        return None
    return min(state["covered_until"], timezone.localdate(timezone=tz))


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
    parts = []
    if start is not None and start < day_start(lo, tz):
        parts.append(Q(effective_at__gte=start, effective_at__lt=day_start(lo, tz)))
    tail = Q(effective_at__gte=day_start(hi, tz))
    if end is not None:
        tail &= Q(effective_at__lte=end) if end_inclusive else Q(effective_at__lt=end)
    parts.append(tail)
    base = parts[0]
    for part in parts[1:]:
        base |= part
    return Plan(lo=lo, hi=hi, base=base)


def daily(plan_: Plan, source: str | None):
    rows = DailyReviewRollup.objects.filter(day__lt=plan_.hi)
    if plan_.lo is not None:
        rows = rows.filter(day__gte=plan_.lo)
    return rows.filter(source=source) if source else rows


def monthly(plan_: Plan, source: str | None):
    rows = MonthlyBusinessRollup.objects.filter(month__lt=plan_.hi)
    if plan_.lo is not None:
        rows = rows.filter(month__gte=plan_.lo)
    return rows.filter(source=source) if source else rows


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
