"""Each business against its peers: a theme's negative and positive share at one business next to the same
shares across the other businesses in the same scope ("service and staff: 52% negative vs 30% across your
other locations").

Peers are every other business in the same period, source and rating range (the business filter picks whose
figures are shown, not who the peers are). The peers' share is of their mentions taken together (each
mention weighs the same, so a busy location weighs more than a quiet one): the scope's totals minus the
business's own, and None when no other business mentions the theme. General-like themes are left out
(analytics.taxonomy).

Cheap at any size: the scope's totals are the report's own aggregate (daily rollups plus partial days); the
shown businesses' counts come from the by-business monthly rollups for whole clean months and from the
aspect rows of only those businesses (their covering index) for the rest; without a business filter, the
busiest businesses (most reviews with a mention) are picked from the by-business review rollup's months that
the period touches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db.models import Count, Sum
from django.utils import timezone

from analytics import aspect_rollups
from analytics.models import MonthlyBusinessAspectReviewRollup, MonthlyBusinessAspectRollup
from analytics.rollup_engine import period_of
from analytics.taxonomy import is_general
from reviews.filters import ReviewFilters
from reviews.models import ReviewAspect
from reviews.selectors import business_names

PEER_BUSINESSES = 10  # without a business filter: the busiest ones
MIN_THEME_MENTIONS = 1


def _busiest(filters: ReviewFilters, start, end, columns, cover) -> list[str]:
    """The PEER_BUSINESSES businesses with most reviews with a mention: from the by-business review rollup's
    months that overlap the period when it is built (which businesses to show need not be exact; their
    figures are), else from the aspect rows."""
    if cover is not None:
        tz = timezone.get_current_timezone()
        first = period_of(timezone.localtime(start, tz).date(), "month")
        last = period_of(timezone.localtime(end - dt.timedelta(microseconds=1), tz).date(), "month")
        rows = MonthlyBusinessAspectReviewRollup.objects.filter(
            month__gte=first, month__lte=last, **filters.column_lookups()
        ).exclude(business="")
        ranked = rows.values("business").annotate(n=Sum("n")).order_by("-n", "business")
        return [row["business"] for row in ranked[:PEER_BUSINESSES]]
    at = columns.effective_at
    rows = ReviewAspect.objects.filter(
        is_suggestion=False,
        **{f"{at}__gte": start, f"{at}__lt": end},
        **filters.column_lookups(source=columns.source, business=columns.business, rating=columns.rating),
    ).exclude(**{columns.business: ""})
    ranked = (
        rows.values(columns.business).annotate(n=Count("review_id", distinct=True)).order_by("-n", columns.business)
    )
    return [row[columns.business] for row in ranked[:PEER_BUSINESSES]]


def _own_counts(filters: ReviewFilters, shown: list[str], start, end, columns, cover) -> dict[tuple, int]:
    """{(business, category, polarity): mentions} in [start, end) of the shown businesses."""
    part = aspect_rollups.split(cover, start, end, at=columns.effective_at)
    counts: dict[tuple[str, str, str], int] = {}

    def add(rows, business: str) -> None:
        for row in rows:
            key = (row[business] or "", row["category"], row["polarity"])
            counts[key] = counts.get(key, 0) + (row["n"] or 0)

    lookups = filters.column_lookups(source=columns.source, rating=columns.rating)
    arms = [
        ReviewAspect.objects.filter(condition, is_suggestion=False, **{f"{columns.business}__in": shown}, **lookups)
        .order_by()
        .values(columns.business, "category", "polarity")
        .annotate(n=Count("id"))
        for condition in part.live
    ]
    if arms:
        add(arms[0].union(*arms[1:], all=True) if len(arms) > 1 else arms[0], columns.business)
    if part.runs:
        rows = (
            MonthlyBusinessAspectRollup.objects.filter(
                aspect_rollups.runs_q(cover, part.runs),
                is_suggestion=False,
                business__in=shown,
                **filters.column_lookups(),
            )
            .values("business", "category", "polarity")
            .annotate(n=Sum("n"))
        )
        add(rows, "business")
    return counts


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def business_peers(
    filters: ReviewFilters,
    start,
    end,
    columns,
    *,
    scope_totals: dict[tuple[str, str], int],
    own_counts: dict[tuple[str, str, str], int] | None = None,
    rollup: bool = True,
) -> list[dict]:
    """Per business in scope (the filtered one, or the PEER_BUSINESSES with most mentions): per theme, its
    mentions and shares next to its peers'. `scope_totals`: {(category, polarity): mentions} in the period
    over every business of the scope; `own_counts`: {(business, category, polarity): mentions} of the shown
    businesses when the caller has them (the report's counts with a business filter)."""
    everyone = dataclasses.replace(filters, business=None)
    cover = aspect_rollups.coverage("month") if rollup and own_counts is None else None
    shown = [filters.business] if filters.business else _busiest(everyone, start, end, columns, cover)
    if not shown:
        return []
    counts = own_counts if own_counts is not None else _own_counts(everyone, shown, start, end, columns, cover)
    own: dict[tuple[str, str], list[int]] = {}
    for (business, category, polarity), n in counts.items():
        if not is_general(category) and polarity != "suggestion":
            _tally(own.setdefault((business, category), [0, 0, 0]), polarity, n)
    totals: dict[str, list[int]] = {}
    for (category, polarity), n in scope_totals.items():
        if not is_general(category) and polarity != "suggestion":
            _tally(totals.setdefault(category, [0, 0, 0]), polarity, n)
    names = business_names(shown)
    result = []
    for business in shown:
        themes = []
        for category in sorted(totals):
            n, negative, positive = own.get((business, category), (0, 0, 0))
            if n < MIN_THEME_MENTIONS:
                continue
            all_n, all_negative, all_positive = totals[category]
            peers_n = all_n - n
            themes.append(
                {
                    "category": category,
                    "mentions": n,
                    "negative_share": _share(negative, n),
                    "positive_share": _share(positive, n),
                    "peers_mentions": peers_n,
                    "peers_negative_share": _share(all_negative - negative, peers_n),
                    "peers_positive_share": _share(all_positive - positive, peers_n),
                }
            )
        if not themes:
            continue
        themes.sort(key=lambda t: (-t["mentions"], t["category"]))
        result.append(
            {
                "business": business,
                "business_name": names.get(business, business),
                "mentions": sum(t["mentions"] for t in themes),
                "themes": themes,
            }
        )
    return sorted(result, key=lambda b: (-b["mentions"], b["business"]))


def _tally(slot: list[int], polarity: str, n: int) -> None:
    slot[0] += n
    slot[1] += n if polarity == "negative" else 0
    slot[2] += n if polarity == "positive" else 0
