"""Constructive feedback v2: what to fix and what to keep, from the stored review aspects.

Every count is an SQL aggregate over reviews.ReviewAspect alone: the review's effective date,
source, business and rating are copied onto each aspect row (review_effective_at, review_source,
review_business, review_rating) and covered by the report's indexes, so no query joins the
reviews (bench/aspects_scale.py: p95 at 1,000,000 reviews). The period is [date_from, date_to]
(default: the 90 days up to now); the previous period is the equally long one before it.

- issues_to_fix: aspects ranked by negative mentions weighted by recency (a mention in the
  newer half of the period counts twice) and by trend (times 1 + the rise of the negative
  share versus the previous period, when it rose).
- strengths: aspects mostly praised, ranked by positive mentions weighted the same way.
- emerging_issues: the negative share rose versus the previous period, with at least
  EMERGING_MIN_MENTIONS mentions now and a two-sided two-proportion z-test p < EMERGING_ALPHA.
- suggestions: suggestion sentences grouped by aspect, then by normalised text.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from reviews.models import ReviewAspect

DEFAULT_PERIOD_DAYS = 90
EMERGING_MIN_MENTIONS = 10
EMERGING_ALPHA = 0.05
QUOTES_PER_ASPECT = 3
SUGGESTION_GROUPS_PER_ASPECT = 5
SUGGESTION_SAMPLE = 5000  # newest suggestion sentences grouped into near-duplicates (counts are exact)


@dataclass(frozen=True)
class AspectFilters:
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    source: str | None = None
    business: str | None = None
    rating_min: float | None = None
    rating_max: float | None = None


def _period(filters: AspectFilters, now: dt.datetime) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
    end = filters.date_to or now
    start = filters.date_from or (end - dt.timedelta(days=DEFAULT_PERIOD_DAYS))
    if start > end:
        start = end
    return start - (end - start), start, end


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


def _scoped(filters: AspectFilters, columns: _Columns = COPIES):
    rows = ReviewAspect.objects.all()
    if filters.source:
        rows = rows.filter(**{columns.source: filters.source})
    if filters.business:
        rows = rows.filter(**{columns.business: filters.business})
    if filters.rating_min is not None:
        rows = rows.filter(**{f"{columns.rating}__gte": filters.rating_min})
    if filters.rating_max is not None:
        rows = rows.filter(**{f"{columns.rating}__lte": filters.rating_max})
    return rows


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


def normalise_suggestion(text: str) -> str:
    """Near-duplicate key: case, accents, punctuation, filler and spacing do not matter."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    words = re.findall(r"[a-z0-9]+", text)
    filler = {"the", "a", "an", "they", "you", "really", "please", "just", "some", "maybe", "definitely", "very"}
    return " ".join(w for w in words if w not in filler)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _quotes(rows, category: str, start, end, columns: _Columns = COPIES) -> list[dict]:
    # Bounded: the most confident QUOTES_PER_ASPECT * 10 mentions, read in the order of the aspect_quotes
    # index (category, is_suggestion, -confidence, -effective date, -id).
    at = columns.effective_at
    candidates = (
        rows.filter(category=category, **{f"{at}__gte": start, f"{at}__lte": end})
        .order_by("-confidence", f"-{at}", "-id")
        .values("review_id", "sentence", "polarity", "confidence", at)[: QUOTES_PER_ASPECT * 10]
    )
    picked, seen = [], set()
    for row in candidates:
        if row["review_id"] in seen or not row["sentence"]:
            continue
        seen.add(row["review_id"])
        picked.append(row)
        if len(picked) == QUOTES_PER_ASPECT:
            break
    picked.sort(key=lambda r: r[at], reverse=True)
    return [
        {
            "review_id": r["review_id"],
            "sentence": r["sentence"],
            "polarity": r["polarity"],
            "confidence": round(r["confidence"], 4),
            "effective_date": r[at],
        }
        for r in picked
    ]


def aspect_report(*, filters: AspectFilters, now: dt.datetime | None = None) -> dict:
    return _report(filters, now or timezone.now(), COPIES)


def _report(filters: AspectFilters, now: dt.datetime, columns: _Columns) -> dict:
    previous_start, start, end = _period(filters, now)
    middle = start + (end - start) / 2
    at = columns.effective_at
    rows = _scoped(filters, columns)
    mentions = rows.filter(is_suggestion=False)
    current = Q(**{f"{at}__gte": start})
    previous = Q(**{f"{at}__lt": start})
    recent = Q(**{f"{at}__gte": middle})
    negative, positive = Q(polarity="negative"), Q(polarity="positive")
    table = (
        mentions.filter(**{f"{at}__gte": previous_start, f"{at}__lte": end})
        .values("category")
        .annotate(
            mentions=Count("id", filter=current),
            positive=Count("id", filter=current & positive),
            negative=Count("id", filter=current & negative),
            neutral=Count("id", filter=current & Q(polarity="neutral")),
            conflict=Count("id", filter=current & Q(polarity="conflict")),
            recent_negative=Count("id", filter=recent & negative),
            recent_positive=Count("id", filter=recent & positive),
            previous_mentions=Count("id", filter=previous),
            previous_positive=Count("id", filter=previous & positive),
            previous_negative=Count("id", filter=previous & negative),
        )
        .order_by("-mentions", "category")
    )
    aspects = []
    for row in table:
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
            }
        )
    for aspect in aspects:
        aspect["quotes"] = _quotes(mentions, aspect["category"], start, end, columns) if aspect["mentions"] else []
    issues = sorted(
        (a for a in aspects if a["negative"]), key=lambda a: (-a["issue_score"], -a["negative"], a["category"])
    )
    strengths = sorted(
        (a for a in aspects if a["positive"] and a["positive_share"] > a["negative_share"]),
        key=lambda a: (-a["strength_score"], -a["positive_share"], a["category"]),
    )
    emerging = sorted(
        (
            a
            for a in aspects
            if a["mentions"] >= EMERGING_MIN_MENTIONS
            and a["negative_share_change"] is not None
            and a["negative_share_change"] > 0
            and a["negative_p_value"] is not None
            and a["negative_p_value"] < EMERGING_ALPHA
        ),
        key=lambda a: (a["negative_p_value"], a["category"]),
    )
    return {
        "period": {"date_from": start, "date_to": end, "previous_from": previous_start, "previous_to": start},
        "aspect_reviews": mentions.filter(**{f"{at}__gte": start, f"{at}__lte": end})
        .values("review_id")
        .distinct()
        .count(),
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
        "suggestions": _suggestions(rows, start, end, columns),
    }


def _ranked(aspect: dict, score: str) -> dict:
    return {
        "category": aspect["category"],
        "score": aspect[score],
        "mentions": aspect["mentions"],
        "positive_share": aspect["positive_share"],
        "negative_share": aspect["negative_share"],
        "negative_share_change": aspect["negative_share_change"],
        "quotes": aspect["quotes"],
    }


def _suggestions(rows, start, end, columns: _Columns = COPIES) -> list[dict]:
    at = columns.effective_at
    scoped = rows.filter(is_suggestion=True, **{f"{at}__gte": start, f"{at}__lte": end})
    counts = list(scoped.values("category").annotate(count=Count("id")).order_by("-count", "category"))
    sample = scoped.order_by(f"-{at}", "-id").values_list("category", "sentence")[:SUGGESTION_SAMPLE]
    groups: dict[str, dict[str, dict]] = {}
    keys: dict[str, str] = {}  # the same sentence recurs: normalise it once
    for category, sentence in sample:
        key = keys.get(sentence)
        if key is None:
            key = keys[sentence] = normalise_suggestion(sentence)
        if not key:
            continue
        group = groups.setdefault(category, {}).setdefault(key, {"text": sentence, "count": 0})
        group["count"] += 1
    return [
        {
            "category": row["category"],
            "count": row["count"],
            "groups": sorted(groups.get(row["category"], {}).values(), key=lambda g: (-g["count"], g["text"]))[
                :SUGGESTION_GROUPS_PER_ASPECT
            ],
        }
        for row in counts
    ]
