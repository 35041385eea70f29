"""Durations in words for the pages ("15 minutes", "1 hour 30 minutes"), not "0:15:00"."""

from __future__ import annotations

import datetime as dt

from django import template

register = template.Library()


def _unit(count: int, name: str) -> str:
    return f"{count} {name}{'' if count == 1 else 's'}"


@register.filter
def duration_words(value: dt.timedelta | None) -> str:
    if not isinstance(value, dt.timedelta):
        return ""
    minutes = max(1, round(value.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [_unit(n, name) for n, name in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return " ".join(parts)
