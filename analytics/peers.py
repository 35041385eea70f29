"""Each business against its peers: a theme's negative and positive share at one business next to the same
shares across the other businesses in the same scope ("service and staff: 52% negative vs 30% across your
other locations").

Peers are every other business with mentions of the theme in the same period, source and rating range (the
business filter picks whose figures are shown, not who the peers are). The peers' share is of their mentions
taken together (each mention weighs the same, so a busy location weighs more than a quiet one), and is None
when no other business mentions the theme. General-like themes are left out (analytics.taxonomy).

One grouped count per (business, category, polarity) over the period: whole clean months from the
by-business aspect rollups (MonthlyBusinessAspectRollup), the rest (partial months at the edges, months
changed since the last refresh) from the aspect rows' covering index -- two aggregate queries, whatever the
number of reviews.
"""

from __future__ import annotations

import dataclasses

from django.db.models import Count, Sum

from analytics import aspect_rollups
from analytics.models import MonthlyBusinessAspectRollup
from analytics.taxonomy import is_general
from reviews.filters import ReviewFilters
from reviews.models import ReviewAspect
from reviews.selectors import business_names

PEER_BUSINESSES = 20  # without a business filter: the busiest ones
MIN_THEME_MENTIONS = 1


def _counts(filters: ReviewFilters, start, end, columns, *, rollup: bool) -> dict[tuple[str, str, str], int]:
    """{(business, category, polarity): mentions} in [start, end), every business in the scope."""
    everyone = dataclasses.replace(filters, business=None)
    cover = aspect_rollups.coverage("month") if rollup else None
    part = aspect_rollups.split(cover, start, end, at=columns.effective_at)
    counts: dict[tuple[str, str, str], int] = {}

    def add(rows, business: str) -> None:
        for row in rows:
            key = (row[business] or "", row["category"], row["polarity"])
            counts[key] = counts.get(key, 0) + (row["n"] or 0)

    lookups = everyone.column_lookups(source=columns.source, business=columns.business, rating=columns.rating)
    arms = [
        ReviewAspect.objects.filter(condition, is_suggestion=False, **lookups)
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
                aspect_rollups.runs_q(cover, part.runs), is_suggestion=False, **everyone.column_lookups()
            )
            .values("business", "category", "polarity")
            .annotate(n=Sum("n"))
        )
        add(rows, "business")
    return counts


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def business_peers(filters: ReviewFilters, start, end, columns, *, rollup: bool = True) -> list[dict]:
    """Per business in scope (the filtered one, or the PEER_BUSINESSES with most mentions): per theme, its
    mentions and shares next to its peers'."""
    counts = _counts(filters, start, end, columns, rollup=rollup)
    # (business, theme) -> [mentions, negative, positive]; theme totals over every business.
    own: dict[tuple[str, str], list[int]] = {}
    totals: dict[str, list[int]] = {}
    businesses_of: dict[str, set[str]] = {}
    for (business, category, polarity), n in counts.items():
        if is_general(category) or polarity == "suggestion" or not business:
            continue
        for slot in (own.setdefault((business, category), [0, 0, 0]), totals.setdefault(category, [0, 0, 0])):
            slot[0] += n
            slot[1] += n if polarity == "negative" else 0
            slot[2] += n if polarity == "positive" else 0
        businesses_of.setdefault(category, set()).add(business)
    mentions_by_business: dict[str, int] = {}
    for (business, _), (n, _, _) in own.items():
        mentions_by_business[business] = mentions_by_business.get(business, 0) + n
    if filters.business:
        shown = [filters.business] if filters.business in mentions_by_business else []
    else:
        shown = sorted(mentions_by_business, key=lambda b: (-mentions_by_business[b], b))[:PEER_BUSINESSES]
    names = business_names(shown) if shown else {}
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
                    "peer_businesses": len(businesses_of[category] - {business}),
                    "peers_mentions": peers_n,
                    "peers_negative_share": _share(all_negative - negative, peers_n),
                    "peers_positive_share": _share(all_positive - positive, peers_n),
                }
            )
        themes.sort(key=lambda t: (-t["mentions"], t["category"]))
        result.append(
            {
                "business": business,
                "business_name": names.get(business, business),
                "mentions": mentions_by_business[business],
                "themes": themes,
            }
        )
    return result
