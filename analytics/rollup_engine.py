"""The one rollup engine behind the dashboard rollups (analytics.rollups) and the aspect rollups
(analytics.aspect_rollups): the marking of changed local days, the rebuild of day runs and of the
months holding them, the rebuild of everything and the periodic refresh. Each family of rollup tables
declares its parts once (RollupFamily): its state and dirty-day tables, its daily and monthly tables,
and the INSERT ... SELECTs that fill them from its source rows.

Days are local days in TIME_ZONE (settings), the time zone the tables were built in.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

FULL_REBUILD_MONTHS = 6  # a refresh with marked days in more months rebuilds everything


def site_tz():
    return timezone.get_default_timezone()


def day_start(day: dt.date, tz=None) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz or site_tz())


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def period_of(day: dt.date, grain: str) -> dt.date:
    """The period holding `day`: the day itself, or with grain "month" the first of its month."""
    return month_of(day) if grain == "month" else day


def period_after(period: dt.date, grain: str) -> dt.date:
    return next_month(period) if grain == "month" else period + dt.timedelta(days=1)


def day_runs(days: set[dt.date]) -> list[tuple[dt.date, dt.date]]:
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
    return timezone.localtime(moment, site_tz()).date()


def mark_days(model, moments: Iterable[dt.datetime | None], *, before_today: bool = False) -> list[dt.date]:
    """Mark the local days of these moments in `model` (a dirty-day table: day unique, token).

    Sorted, so two writers lock the rows in one order; a new token keeps a mark that a running
    refresh has already read. before_today: skip today and later, which are never read from a
    rollup (the hot create path then writes nothing for today's reviews)."""
    days = {local_day(moment) for moment in moments if moment is not None}
    if days and before_today:
        today = timezone.localdate(timezone=site_tz())
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
    for month in sorted({month_of(day) for day in days}):
        last = next_month(month) - dt.timedelta(days=1)
        if runs and runs[-1][1] + dt.timedelta(days=1) == month:
            runs[-1] = (runs[-1][0], last)
        else:
            runs.append((month, last))
    return runs


# ---------------------------------------------------------------- building


def _insert(model, queryset, columns: list[str]) -> None:
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) {sql}", params
        )


Selects = Callable[[QuerySet, str], list[tuple[type[Model], QuerySet, list[str]]]]


@dataclass(frozen=True)
class RollupFamily:
    """One family of rollup tables: `source()` the rows it counts, `at` their effective-date field,
    `daily` tables keyed by `day` and `monthly` ones by `month`, `selects(rows, grain)` the
    (table, queryset, columns) INSERT ... SELECTs of a grain ("day" or "month"), and its state
    (covered_until, time_zone, built_at, full_built_at) and dirty-day tables."""

    state: type[Model]
    dirty: type[Model]
    source: Callable[[], QuerySet]
    at: str
    daily: tuple[type[Model], ...]
    monthly: tuple[type[Model], ...]
    selects: Selects

    def covered_until(self) -> dt.date | None:
        """Days before this are in the family's tables and may be read from them; None: do not use them
        (disabled by ANALYTICS_ROLLUPS, never built, or built in another time zone)."""
        if not getattr(settings, "ANALYTICS_ROLLUPS", True):
            return None
        tz = timezone.get_current_timezone()
        state = self.state.objects.filter(pk=1).values("covered_until", "time_zone").first()
        if not state or state["covered_until"] is None or state["time_zone"] != str(tz):
            return None
        return min(state["covered_until"], timezone.localdate(timezone=tz))

    def locked_state(self):
        self.state.objects.get_or_create(pk=1)
        return self.state.objects.select_for_update().get(pk=1)

    def _between(self, first: dt.date, after: dt.date) -> QuerySet:
        return self.source().filter(**{f"{self.at}__gte": day_start(first), f"{self.at}__lt": day_start(after)})

    def _fill(self, rows: QuerySet, grain: str) -> None:
        for model, queryset, columns in self.selects(rows, grain):
            _insert(model, queryset, columns)

    def rebuild_runs(self, runs: list[tuple[dt.date, dt.date]]) -> None:
        """Rebuild these [first, last] day runs and the months holding them."""
        months: set[dt.date] = set()
        for first, last in runs:
            for model in self.daily:
                model.objects.filter(day__gte=first, day__lte=last).delete()
            self._fill(self._between(first, last + dt.timedelta(days=1)), "day")
            month = month_of(first)
            while month <= last:
                months.add(month)
                month = next_month(month)
        for month in sorted(months):
            for model in self.monthly:
                model.objects.filter(month=month).delete()
            self._fill(self._between(month, next_month(month)), "month")

    def rebuild_days(self, days: set[dt.date]) -> None:
        """Rebuild the given local days (and the months holding them), in one transaction, and clear
        their marks. Advances nothing: covered_until only moves in refresh / rebuild_all."""
        if not days:
            return
        with transaction.atomic():
            self.locked_state()
            marks = read_marks(self.dirty, set(days))
            self.rebuild_runs(day_runs(set(days)))
            clear_marks(self.dirty, marks)

    def rebuild_marked(self, days: Iterable[dt.date] | None = None) -> int:
        """Rebuild the marked days (all, or those of `days` still marked), by whole months, and clear
        their marks; returns how many marked days there were."""
        with transaction.atomic():
            state = self.locked_state()
            marks = read_marks(self.dirty, None if days is None else set(days))
            if marks and state.covered_until is not None:
                self.rebuild_runs(month_runs(day for day, _ in marks))
            clear_marks(self.dirty, marks)
        return len(marks)

    def rebuild_all(self):
        """Rebuild every table from every source row, in one transaction; days before today are covered."""
        today = timezone.localdate(timezone=site_tz())
        tables = (*self.daily, *self.monthly)
        with transaction.atomic():
            state = self.locked_state()
            marks = read_marks(self.dirty)
            for model in tables:
                model.objects.all().delete()
            for grain in ("day", "month"):
                self._fill(self.source(), grain)
            clear_marks(self.dirty, marks)
            if connection.vendor == "postgresql":  # fresh planner statistics for the rebuilt tables
                with connection.cursor() as cursor:
                    for model in tables:
                        cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
            state.covered_until = today
            state.time_zone = str(site_tz())
            state.built_at = state.full_built_at = timezone.now()
            state.save()
        return state

    def refresh(self):
        """Rebuild yesterday, today, any days since the last refresh and every marked day; cover up to
        today. Without a full build yet (or after a TIME_ZONE change), or with marked days in more than
        FULL_REBUILD_MONTHS months (one pass over all rows is then cheaper), a full rebuild."""
        today = timezone.localdate(timezone=site_tz())
        state = self.state.objects.filter(pk=1).first()
        if state is None or state.covered_until is None or state.time_zone != str(site_tz()):
            return self.rebuild_all()
        if len({month_of(day) for day in self.dirty.objects.values_list("day", flat=True)}) > FULL_REBUILD_MONTHS:
            return self.rebuild_all()
        with transaction.atomic():
            state = self.locked_state()
            marks = read_marks(self.dirty)
            first = min(state.covered_until, today - dt.timedelta(days=1))
            days = {first + dt.timedelta(days=i) for i in range((today - first).days + 1)}
            self.rebuild_runs(day_runs(days | {day for day, _ in marks}))
            clear_marks(self.dirty, marks)
            state.covered_until = max(state.covered_until, today)
            state.built_at = timezone.now()
            state.save()
        return state
