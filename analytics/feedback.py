"""Mixed reviews and suggestions per business, from the stored review aspects.

The `businesses` part of GET /api/analytics/constructive-feedback and the themes of the dashboard
(analytics.charts.themes). Nothing is scored here: the aspect model has already split each review into
sentences and given each a polarity (reviews.aspects, after ingest), and marked its suggestions. A review
is mixed when one of its sentences praises (a positive mention) and another criticises (a negative one);
a suggestion sentence is a suggestion only. Reads the newest `limit` reviews in scope and their aspect
rows: two bounded queries.
"""

from __future__ import annotations

from project.db_router import reads_from_replica
from reviews.filters import ReviewFilters, scoped
from reviews.models import ReviewAspect
from training.ml.text import split_clauses

QUOTES_PER_KIND = 3


def _quote(sentence: str) -> str:
    """The sentence without a leading contrast ("But the music was awful." -> "the music was awful.")."""
    clauses = split_clauses(sentence)
    return clauses[0] if len(clauses) == 1 else sentence


def _best(sentences: dict[str, float]) -> list[str]:
    """The most confident distinct quotes, first come first on ties."""
    ranked = sorted(sentences.items(), key=lambda item: -item[1])
    return list(dict.fromkeys(_quote(sentence) for sentence, _ in ranked))[:QUOTES_PER_KIND]


@reads_from_replica
def feedback_by_business(*, filters: ReviewFilters, limit: int = 500, per_business: int = 5) -> dict:
    """Reviews that mix praise and criticism or carry a suggestion, grouped by business (most feedback
    first), among the newest `limit` reviews in scope; `model_version` is the sentiment model that
    scored the newest of them."""
    reviews = list(
        scoped(filters)
        .order_by("-effective_at", "-id")
        .values_list("id", "business", "predicted_label", "predicted_by__name")[:limit]
    )
    rows = (
        ReviewAspect.objects.filter(review_id__in=[review[0] for review in reviews])
        .order_by("review_id", "id")
        .values_list("review_id", "sentence", "polarity", "confidence", "is_suggestion")
    )
    per_review: dict[int, dict] = {}
    for review_id, sentence, polarity, confidence, is_suggestion in rows:
        if not sentence:
            continue
        entry = per_review.setdefault(review_id, {"positive": {}, "negative": {}, "suggestions": {}})
        kind = "suggestions" if is_suggestion else polarity
        if kind in entry:
            entry[kind][sentence] = max(confidence, entry[kind].get(sentence, 0.0))
    businesses: dict[str, dict] = {}
    for review_id, business, predicted_label, _ in reviews:
        entry = per_review.get(review_id)
        if entry is None:
            continue
        suggestions = list(entry["suggestions"])
        praise = {s: c for s, c in entry["positive"].items() if s not in entry["suggestions"]}
        criticism = {s: c for s, c in entry["negative"].items() if s not in entry["suggestions"]}
        mixed = bool(praise) and bool(criticism)
        if not (mixed or suggestions):
            continue
        group = businesses.setdefault(
            business or "",
            {"business": business or "", "mixed_reviews": 0, "reviews_with_suggestions": 0, "items": []},
        )
        group["mixed_reviews"] += int(mixed)
        group["reviews_with_suggestions"] += int(bool(suggestions))
        group["items"].append(
            {
                "review_id": review_id,
                "predicted_label": predicted_label,
                "mixed": mixed,
                "praise": _best(praise),
                "criticism": _best(criticism),
                "suggestions": suggestions[:QUOTES_PER_KIND],
            }
        )
    groups = sorted(businesses.values(), key=lambda g: -(g["mixed_reviews"] + g["reviews_with_suggestions"]))
    for group in groups:
        group["reviews"] = len(group["items"])
        group["items"] = group["items"][:per_business]
    return {
        "analysed_reviews": len(reviews),
        "model_version": next((name for *_, name in reviews if name), None),
        "businesses": groups,
    }
