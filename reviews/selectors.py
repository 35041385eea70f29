"""Reads for reviews: filtering, ordering, pagination, export."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import F, QuerySet

from reviews.filters import ReviewFilters, scoped
from reviews.models import Business, Review, ReviewAspect

# Public ordering names -> model fields; nothing else can reach ORDER BY.
ORDERINGS = {
    "newest": ("-effective_at", "-id"),
    "oldest": ("effective_at", "id"),
    "created": ("-created_at", "-id"),
    # Reviews without a rating or a prediction come last either way (PostgreSQL sorts NULL first when
    # descending, which put unrated reviews ahead of the five-star ones).
    "rating": (F("rating").asc(nulls_last=True), "id"),
    "-rating": (F("rating").desc(nulls_last=True), "-id"),
    "confidence": (F("predicted_confidence").asc(nulls_last=True), "id"),
    "-confidence": (F("predicted_confidence").desc(nulls_last=True), "-id"),
    "id": ("id",),
    "-id": ("-id",),
}


def review_list(*, filters: ReviewFilters, ordering: str = "newest") -> QuerySet[Review]:
    reviews = scoped(filters, Review.objects.select_related("predicted_by", "human_labelled_by"))
    return reviews.order_by(*ORDERINGS[ordering])


def review_get(*, review_id: int) -> Review | None:
    return Review.objects.select_related("predicted_by", "human_labelled_by").filter(pk=review_id).first()


def review_aspects(*, review_id: int) -> tuple[list[ReviewAspect], list[ReviewAspect]]:
    """A review's stored aspect mentions and suggestions, staff-made first, then in extraction order."""
    rows = ReviewAspect.objects.filter(review_id=review_id).select_related("model_version").order_by("-source", "id")
    aspects: list[ReviewAspect] = []
    suggestions: list[ReviewAspect] = []
    for row in rows:
        (suggestions if row.is_suggestion else aspects).append(row)
    return aspects, suggestions


# --- Business display names -------------------------------------------------------------

NAMES_PER_QUERY = 1000


def business_names_known(keys: Iterable[str]) -> dict[str, str]:
    """The stored display names of these businesses (by the id in Review.business); unknown ones are absent."""
    wanted = sorted({key for key in keys if key})
    names: dict[str, str] = {}
    for start in range(0, len(wanted), NAMES_PER_QUERY):
        chunk = wanted[start : start + NAMES_PER_QUERY]
        names.update(Business.objects.filter(key__in=chunk).values_list("key", "name"))
    return names


def business_names(keys: Iterable[str]) -> dict[str, str]:
    """key -> what to show for it: its display name, or the key itself where no name is known.
    One query per 1,000 distinct keys; filters and links keep using the key."""
    keys = set(keys)
    known = business_names_known(keys)
    return {key: known.get(key, key) for key in keys}


def business_label(key: str) -> str:
    """What to show for one business: its display name, or the key itself where none is known."""
    return business_names([key])[key] if key else key


def business_choices(*, limit: int = 500) -> list[tuple[str, str]]:
    """(key, label) of the businesses reviews name, by key, for the filters' suggestions."""
    keys = list(
        Review.objects.exclude(business="").order_by("business").values_list("business", flat=True).distinct()[:limit]
    )
    names = business_names(keys)
    return [(key, names[key]) for key in keys]


def review_sources(limit: int = 100) -> list[str]:
    """The sources reviews came from, for the pages' filter menus."""
    return list(Review.objects.order_by("source").values_list("source", flat=True).distinct()[:limit])


# A review is mixed when its stored aspects praise one thing and fault another ("great food, terrible service").
# Such reviews are most of the neutral class: the label alone hides what a manager or labeller needs to see.
_PRAISE, _FAULT = ("positive", "conflict"), ("negative", "conflict")


@dataclass(frozen=True)
class MixedVerdict:
    positive: tuple[str, ...]  # themes praised, in order of first mention
    negative: tuple[str, ...]  # themes faulted

    @property
    def praised(self) -> list[str]:
        """The praised themes as a manager reads them ("general" is the place overall)."""
        return _named(self.positive)

    @property
    def faulted(self) -> list[str]:
        return _named(self.negative)

    def describe(self) -> str:
        return f"positive about {_joined(self.praised)}; negative about {_joined(self.faulted)}"


def _named(themes: tuple[str, ...]) -> list[str]:
    return ["the place overall" if theme == "general" else theme for theme in themes]


def _joined(named: list[str]) -> str:
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def mixed_verdicts(review_ids: Iterable[int]) -> dict[int, MixedVerdict]:
    """The reviews among `review_ids` whose stored aspects carry both polarities, with the themes of each side
    (a `conflict` mention counts on both). One query."""
    ids = list(review_ids)
    if not ids:
        return {}
    sides: dict[int, tuple[dict[str, None], dict[str, None]]] = {}
    rows = (
        ReviewAspect.objects.filter(review_id__in=ids, polarity__in={*_PRAISE, *_FAULT})
        .order_by("review_id", "id")
        .values_list("review_id", "category", "polarity")
    )
    for review_id, category, polarity in rows:
        praised, faulted = sides.setdefault(review_id, ({}, {}))
        if polarity in _PRAISE:
            praised[category] = None
        if polarity in _FAULT:
            faulted[category] = None
    return {
        review_id: MixedVerdict(tuple(praised), tuple(faulted))
        for review_id, (praised, faulted) in sides.items()
        if praised and faulted
    }
