"""Constructive feedback v2: what to fix and what to keep, from the stored review aspects.

Counts come from the aspect rollups (analytics.aspect_rollups: per local day, or per month with a
business filter) for whole days of the periods, and from reviews.ReviewAspect for the rest (today,
partial days at the period edges, days changed since the last rollup refresh), exactly like the
dashboard charts; the answer equals the one over ReviewAspect alone (tests/analytics/test_aspect_rollups.py).
The review's effective date, source, business and rating are copied onto each aspect row
(review_effective_at, review_source, review_business, review_rating) and covered by the report's
indexes, so no query joins the reviews. Quotes and suggestion groups read a bounded number of rows in
index order (bench/aspects_scale.py: p95 at 1,000,000 reviews). The period is [date_from, date_to]
(default: the 90 days up to now), half-open as reviews.filters defines it; the previous period is the
equally long one before it.

- verdict: each aspect is an issue, a strength, mixed, too few or general (analytics.verdicts: the Wilson
  interval of its negative share among polar mentions against one half), so never both.
- issues_to_fix: the issues, ranked by negative mentions weighted by recency (a mention in the
  newer half of the period counts twice) and by trend (times 1 + the rise of the negative
  share versus the previous period, when it rose).
- strengths: the strengths, ranked by positive mentions weighted the same way.
- emerging_issues: the negative share rose versus the previous period, with at least
  EMERGING_MIN_MENTIONS mentions now and a two-sided two-proportion z-test p < EMERGING_ALPHA
  (general-like categories excepted).
- quotes: clean, distinct, short sentences from several businesses (analytics.quotes).
- suggestions, top_suggestions: clean requests grouped by theme and meaning, ranked by how many customers
  ask, recency and rating (analytics.suggestions).
- peers: each business's theme shares next to the other businesses' in the scope (analytics.peers).

Suggestion rows (is_suggestion) are counted as suggestions only, never as mentions of any polarity.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import operator
from dataclasses import dataclass

from django.db.models import Count, Sum, Value
from django.utils import timezone

from analytics import aspect_rollups, peers, verdicts
from analytics.aspect_rollups import Split
from analytics.quotes import aspect_quotes, polarities_for
from analytics.suggestions import normalise_suggestion, suggestion_report
from analytics.taxonomy import is_general
from reviews.filters import ReviewFilters
from reviews.models import ReviewAspect

DEFAULT_PERIOD_DAYS = 90
EMERGING_MIN_MENTIONS = 10
EMERGING_ALPHA = 0.05

__all__ = ["aspect_report", "normalise_suggestion", "two_proportion_p_value"]


# A period reaching back to year 1 has no earlier period of the same length: the comparison period
# then starts here instead of overflowing Python's calendar (a day's margin for time-zone shifts).
EARLIEST = dt.datetime(1, 1, 2, tzinfo=dt.UTC)


def _minus(moment: dt.datetime, span: dt.timedelta) -> dt.datetime:
    return moment - span if moment - EARLIEST > span else min(moment, EARLIEST)


def _period(filters: ReviewFilters, now: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    """(start of the comparison period, start, end): the period is [start, end) (reviews.filters'
    range); the comparison period is as long and ends where it starts."""
    end = filters.end or now
    start = filters.start or _minus(end, dt.timedelta(days=DEFAULT_PERIOD_DAYS))
    start = max(min(start, end), min(EARLIEST, end))
    return _minus(start, end - start), start, end


@dataclass(frozen=True)
class _Columns:
    """Where the report reads a review's filter columns: the copies on the aspect row (default), or
    the review itself through the join (BASE_TABLE: the previous answer, which tests compare with)."""

    effective_at: str
    source: str
    business: str
    rating: str


COPIES = _Columns("review_effective_at", "review_source", "review_business", "review_rating")
BASE_TABLE = _Columns("review__effective_at", "review__source", "review__business", "review__rating")


def _scoped(filters: ReviewFilters, columns: _Columns = COPIES):
    lookups = filters.column_lookups(source=columns.source, business=columns.business, rating=columns.rating)
    return ReviewAspect.objects.filter(**lookups)


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float | None:
    """Two-sided p-value of H0: x1/n1 == x2/n2 (pooled z-test); None when undefined."""
    if n1 == 0 or n2 == 0:
        return None
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (x1 / n1 - x2 / n2) / se
    return math.erfc(abs(z) / math.sqrt(2))


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def aspect_report(*, filters: ReviewFilters, now: dt.datetime | None = None, with_peers: bool | None = None) -> dict:
    """with_peers: None (default) compares the filtered business with its peers and lists no businesses
    without a business filter; True lists the busiest businesses then too (slower at scale); False: none."""
    return _report(filters, now or timezone.now(), COPIES, rollup=True, with_peers=with_peers)


POLARITY_COLUMNS = ("positive", "negative", "neutral", "conflict")
SUGGESTION_POLARITY = "suggestion"


def _counts(filters: ReviewFilters, buckets: dict[str, Split], cover, columns: _Columns) -> dict[tuple, dict]:
    """Mentions per (category, polarity, is_suggestion) in each bucket (a time range split into
    rollup runs and live rows): {key: {bucket: n}}."""
    counts: dict[tuple, dict] = {}

    def add(rows, names) -> None:
        for row in rows:
            key = (row["category"], row["polarity"], row["is_suggestion"])
            slot = counts.setdefault(key, dict.fromkeys(buckets, 0))
            for name in names:
                slot[name] += row[name] or 0

    # One index range scan per live range (partial days, changed days), in one UNION ALL: is_suggestion
    # IN (false, true) names the report indexes' leading column, so PostgreSQL reads each range from a
    # covering index alone instead of ORing bitmaps and visiting the table.
    arms = [
        _scoped(filters, columns)
        .filter(condition, is_suggestion__in=[False, True])
        .order_by()
        .values("category", "polarity", "is_suggestion")
        .annotate(**{bucket: Count("id") if bucket == name else Value(0) for bucket in buckets})
        for name, part in buckets.items()
        for condition in part.live
    ]
    if arms:
        add(arms[0].union(*arms[1:], all=True) if len(arms) > 1 else arms[0], buckets)
    runs = {name: aspect_rollups.runs_q(cover, part.runs) for name, part in buckets.items() if part.runs}
    if runs:
        any_source = not (filters.source or filters.business)
        rows = _rollup_scoped(aspect_rollups.tables(cover, any_source=any_source)[0], filters).filter(
            functools.reduce(operator.or_, runs.values())
        )
        add(
            rows.values("category", "polarity", "is_suggestion").annotate(
                **{name: Sum("n", filter=condition) for name, condition in runs.items()}
            ),
            runs,
        )
    return counts


def _rollup_scoped(model, filters: ReviewFilters):
    return model.objects.filter(**filters.column_lookups())


def _aspect_reviews(filters: ReviewFilters, part: Split, cover, columns: _Columns) -> int:
    """Distinct reviews with a mention in the period: a review has one effective date, so the live
    part and the rollup's per-period review counts add up."""
    total = 0
    arms = [
        _scoped(filters, columns).filter(condition, is_suggestion=False).order_by().values("review_id").distinct()
        for condition in part.live
    ]
    if arms:
        total += (arms[0].union(*arms[1:], all=True) if len(arms) > 1 else arms[0]).count()
    if part.runs:
        rows = _rollup_scoped(aspect_rollups.tables(cover)[1], filters).filter(aspect_rollups.runs_q(cover, part.runs))
        total += rows.aggregate(n=Sum("n"))["n"] or 0
    return total


def _report(
    filters: ReviewFilters,
    now: dt.datetime,
    columns: _Columns,
    *,
    rollup: bool = False,
    with_peers: bool | None = None,
) -> dict:
    """The report; with `rollup`, whole clean days (months with a business filter) come from the
    aspect rollups (analytics.aspect_rollups) and the rest from the aspect rows. Equal either way."""
    previous_start, start, end = _period(filters, now)
    middle = start + (end - start) / 2
    at = columns.effective_at
    cover = aspect_rollups.coverage("month" if filters.business else "day") if rollup else None

    def part(lo, hi) -> Split:
        return aspect_rollups.split(cover, lo, hi, at=at)

    # The period [start, end) in two halves (the newer one is "recent") and the previous period [previous_start, start).
    buckets = {"older": part(start, middle), "recent": part(middle, end), "previous": part(previous_start, start)}
    counts = _counts(filters, buckets, cover, columns)
    table: dict[str, dict] = {}
    suggestion_counts: dict[str, int] = {}
    for (category, polarity, suggestion), n in counts.items():
        if suggestion:
            suggestion_counts[category] = suggestion_counts.get(category, 0) + n["older"] + n["recent"]
            continue
        if polarity == SUGGESTION_POLARITY:  # a suggestion is never a mention, whatever its flag says
            continue
        row = table.setdefault(category, {"category": category, "mentions": 0, "previous_mentions": 0})
        for name in (
            POLARITY_COLUMNS
            + tuple(f"recent_{p}" for p in POLARITY_COLUMNS)
            + tuple(f"previous_{p}" for p in POLARITY_COLUMNS)
        ):
            row.setdefault(name, 0)
        row["mentions"] += n["older"] + n["recent"]
        row["previous_mentions"] += n["previous"]
        if polarity in POLARITY_COLUMNS:
            row[polarity] += n["older"] + n["recent"]
            row[f"recent_{polarity}"] += n["recent"]
            row[f"previous_{polarity}"] += n["previous"]
    aspects = []
    for row in sorted(table.values(), key=lambda r: (-r["mentions"], r["category"])):
        if not (row["mentions"] or row["previous_mentions"]):
            continue
        n, n0 = row["mentions"], row["previous_mentions"]
        negative_share, previous_negative_share = _share(row["negative"], n), _share(row["previous_negative"], n0)
        positive_share, previous_positive_share = _share(row["positive"], n), _share(row["previous_positive"], n0)
        p_value = two_proportion_p_value(row["negative"], n, row["previous_negative"], n0)
        rise = max(0.0, negative_share - previous_negative_share) if n0 else 0.0
        aspects.append(
            {
                "category": row["category"],
                "mentions": n,
                "positive": row["positive"],
                "negative": row["negative"],
                "neutral": row["neutral"],
                "conflict": row["conflict"],
                "positive_share": positive_share,
                "negative_share": negative_share,
                "previous_mentions": n0,
                "previous_positive_share": previous_positive_share,
                "previous_negative_share": previous_negative_share,
                "mentions_change": n - n0,
                "positive_share_change": round(positive_share - previous_positive_share, 4) if n0 and n else None,
                "negative_share_change": round(negative_share - previous_negative_share, 4) if n0 and n else None,
                "negative_p_value": round(p_value, 6) if p_value is not None and n else None,
                "issue_score": round((row["negative"] + row["recent_negative"]) * (1 + rise), 4),
                "strength_score": float(row["positive"] + row["recent_positive"]),
                **verdicts.aspect_verdict(category=row["category"], positive=row["positive"], negative=row["negative"]),
            }
        )
    mentions = _scoped(filters, columns).filter(is_suggestion=False)
    rating_filtered = filters.rating_min is not None or filters.rating_max is not None
    quoted: set[str] = set()
    # Ranked aspects pick their quotes first: a sentence naming several aspects goes to the one it explains.
    for aspect in sorted(aspects, key=lambda a: is_general(a["category"])):
        aspect["quotes"] = (
            aspect_quotes(
                mentions,
                aspect["category"],
                start,
                end,
                columns,
                polarities=polarities_for(aspect["verdict"]),
                rating_filtered=rating_filtered,
                used=quoted,
            )
            if aspect["mentions"]
            else []
        )
    issues = sorted(
        (a for a in aspects if a["verdict"] == verdicts.ISSUE),
        key=lambda a: (-a["issue_score"], -a["negative"], a["category"]),
    )
    strengths = sorted(
        (a for a in aspects if a["verdict"] == verdicts.STRENGTH),
        key=lambda a: (-a["strength_score"], -a["positive_share"], a["category"]),
    )
    emerging = sorted(
        (
            a
            for a in aspects
            if not is_general(a["category"])
            and a["mentions"] >= EMERGING_MIN_MENTIONS
            and a["negative_share_change"] is not None
            and a["negative_share_change"] > 0
            and a["negative_p_value"] is not None
            and a["negative_p_value"] < EMERGING_ALPHA
        ),
        key=lambda a: (a["negative_p_value"], a["category"]),
    )
    suggestions, top_suggestions = suggestion_report(
        _scoped(filters, columns), start, end, suggestion_counts, columns, rating_filtered=rating_filtered
    )
    return {
        # date_to: the last instant of [start, end), as the API reports a period's last day.
        "period": {
            "date_from": start,
            "date_to": end - dt.timedelta(microseconds=1),
            "previous_from": previous_start,
            "previous_to": start,
        },
        "aspect_reviews": _aspect_reviews(filters, part(start, end), cover, columns),
        "aspects": aspects,
        "issues_to_fix": [_ranked(a, "issue_score") for a in issues],
        "strengths": [_ranked(a, "strength_score") for a in strengths],
        "emerging_issues": [
            {
                "category": a["category"],
                "mentions": a["mentions"],
                "negative_share": a["negative_share"],
                "previous_negative_share": a["previous_negative_share"],
                "p_value": a["negative_p_value"],
            }
            for a in emerging
        ],
        "suggestions": suggestions,
        "top_suggestions": top_suggestions,
        "peers": _peers(filters, start, end, counts, columns, rollup)
        if with_peers or (with_peers is None and filters.business)
        else [],
    }


def _mention_totals(counts: dict) -> dict[tuple[str, str], int]:
    totals: dict[tuple[str, str], int] = {}
    for (category, polarity, suggestion), n in counts.items():
        if not suggestion:
            totals[(category, polarity)] = totals.get((category, polarity), 0) + n["older"] + n.get("recent", 0)
    return totals


def _peers(filters: ReviewFilters, start, end, counts: dict, columns: _Columns, rollup: bool) -> list[dict]:
    """analytics.peers. With a business filter this report's counts are the business's own, and the scope's
    totals are the same aggregate over every business (daily rollups and partial days); without one, this
    report's counts are the scope's totals."""
    if not filters.business:
        return peers.business_peers(filters, start, end, columns, scope_totals=_mention_totals(counts), rollup=rollup)
    everyone = dataclasses.replace(filters, business=None)
    cover = aspect_rollups.coverage("day") if rollup else None
    period = {"older": aspect_rollups.split(cover, start, end, at=columns.effective_at)}
    totals = _mention_totals(_counts(everyone, period, cover, columns))
    own = {(filters.business, *key): n for key, n in _mention_totals(counts).items()}
    return peers.business_peers(filters, start, end, columns, scope_totals=totals, own_counts=own, rollup=rollup)


def _ranked(aspect: dict, score: str) -> dict:
    return {
        "category": aspect["category"],
        "score": aspect[score],
        "mentions": aspect["mentions"],
        "positive_share": aspect["positive_share"],
        "negative_share": aspect["negative_share"],
        "negative_share_change": aspect["negative_share_change"],
        "verdict": aspect["verdict"],
        "net_negative_low": aspect["net_negative_low"],
        "net_negative_high": aspect["net_negative_high"],
        "quotes": aspect["quotes"],
    }
