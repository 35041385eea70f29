"""Number formats of the Insights page: shares as percentages, changes as signed percentage points."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(share) -> str:
    """0.4567 -> "46%"; nothing -> "–"."""
    if share is None or share == "":
        return "–"
    return f"{float(share) * 100:.0f}%"


@register.filter
def points(change) -> str:
    """A change of a share, in percentage points: 0.05 -> "+5 pp", -0.123 -> "−12 pp", None -> "–"."""
    if change is None or change == "":
        return "–"
    value = round(float(change) * 100)
    if value == 0:
        return "±0 pp"
    return f"{'+' if value > 0 else '−'}{abs(value)} pp"


@register.filter
def signed(number) -> str:
    """A change of a count: 3 -> "+3", -2 -> "−2", 0 -> "±0"."""
    if number is None or number == "":
        return "–"
    number = int(number)
    return f"+{number}" if number > 0 else (f"−{-number}" if number < 0 else "±0")


@register.filter
def p_value(value) -> str:
    """Significance as people read it: 0.0000123 -> "p < 0.001", 0.0213 -> "p = 0.021"."""
    if value is None or value == "":
        return "–"
    value = float(value)
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"
