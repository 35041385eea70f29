"""Quotes of the constructive-feedback report: what customers said about an aspect, in their words.

For each aspect the report shows up to QUOTES_PER_ASPECT sentences of the polarity that explains its verdict
(an issue: criticism; a strength: praise; otherwise both, alternating). Candidates are the most confident
mentions, read in the order of the aspect_quotes index and bounded (QUOTE_CANDIDATES), so the cost does not
grow with the table; an issue's mentions are mostly negative and a strength's mostly positive, so the
candidates hold enough of the polarity wanted. From them the report keeps

- distinct wordings (analytics.wording.normalised: "Lovely atmosphere." once, however many said it),
- one sentence per review, tidied (no leading punctuation) and trimmed to QUOTE_MAX_CHARS,
- none with profanity or someone else's words (a cleaner candidate stands in), none another aspect of the
  report already quotes, shorter ones (up to SHORT_QUOTE_CHARS) first,
- a spread of businesses: round-robin over businesses, each in its own confidence order, so one restaurant's
  reviews do not fill every slot.
"""

from __future__ import annotations

from collections.abc import Sequence

from analytics import verdicts
from analytics.wording import normalised, quote_problem, tidy, trimmed
from reviews.models import ReviewAspect

QUOTES_PER_ASPECT = 3
QUOTE_CANDIDATES = 90
SHORT_QUOTE_CHARS = 120  # shorter candidates come first: a quote is read at a glance


def polarities_for(verdict: str) -> tuple[str, ...]:
    if verdict == verdicts.ISSUE:
        return ("negative",)
    if verdict == verdicts.STRENGTH:
        return ("positive",)
    return ("negative", "positive")


def _round_robin(rows: list[dict], business: str) -> list[dict]:
    """Rows reordered: each business's best, then each business's second best, and so on."""
    queues: dict[str, list[dict]] = {}
    for row in rows:
        queues.setdefault(row[business], []).append(row)
    ordered: list[dict] = []
    while queues:
        for key in list(queues):
            ordered.append(queues[key].pop(0))
            if not queues[key]:
                del queues[key]
    return ordered


def _candidates(rows, category: str, start, end, columns, rating_filtered: bool) -> list[dict]:
    """The aspect's QUOTE_CANDIDATES most confident mentions, both polarities: one bounded read in the order
    of the aspect_quotes index (a polarity filter is no key of it and would visit the table row by row)."""
    at = columns.effective_at
    order = ("-confidence", f"-{at}", "-id")
    candidates = rows.filter(category=category, **{f"{at}__gte": start, f"{at}__lt": end}).order_by(*order)
    if rating_filtered:
        # The rating is no key of the aspect_quotes index: the ids first, from the index (rating included).
        ids = candidates.values("id")[:QUOTE_CANDIDATES]
        candidates = ReviewAspect.objects.filter(id__in=ids).order_by(*order)
    fields = ("review_id", "sentence", "polarity", "confidence", at, columns.business)
    return list(candidates.values(*fields)[:QUOTE_CANDIDATES])


def _short_first(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda row: len(row["sentence"] or "") > SHORT_QUOTE_CHARS)  # stable: confidence order


def aspect_quotes(
    rows,
    category: str,
    start,
    end,
    columns,
    *,
    polarities: Sequence[str],
    rating_filtered: bool = False,
    used: set[str] | None = None,
) -> list[dict]:
    """Up to QUOTES_PER_ASPECT quotes of this aspect in [start, end), newest first; `used`: wordings other
    aspects of the report already quote (one sentence often names several aspects), updated."""
    at = columns.effective_at
    candidates = _short_first(_candidates(rows, category, start, end, columns, rating_filtered))
    per_polarity = [
        _round_robin([row for row in candidates if row["polarity"] == polarity], columns.business)
        for polarity in polarities
    ]
    picked: list[dict] = []
    reviews: set[int] = set()
    wordings: set[str] = used if used is not None else set()
    while len(picked) < QUOTES_PER_ASPECT and any(per_polarity):
        for queue in per_polarity:
            while queue:
                row = queue.pop(0)
                text = trimmed(tidy(row["sentence"]))
                key = normalised(text)
                if not key or row["review_id"] in reviews or key in wordings or quote_problem(text):
                    continue
                reviews.add(row["review_id"])
                wordings.add(key)
                picked.append({**row, "sentence": text})
                break
            if len(picked) == QUOTES_PER_ASPECT:
                break
    picked.sort(key=lambda r: (r[at], r["review_id"]), reverse=True)
    return [
        {
            "review_id": r["review_id"],
            "sentence": r["sentence"],
            "polarity": r["polarity"],
            "confidence": round(r["confidence"], 4),
            "effective_date": r[at],
            "business": r[columns.business] or "",
        }
        for r in picked
    ]
