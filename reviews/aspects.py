"""Per-review aspect rows as stored: staff corrections, the copied filter columns, forgetting deleted reviews.
The aspect model's extraction (training.aspect_extraction) writes the model's rows.

Staff corrections are authoritative: once staff save a review's aspects (even none), its aspect
mentions are exactly the staff rows. Saving deletes the model's mentions of the review, and extraction
leaves the review's mentions alone from then on (it still refreshes the review's suggestion rows,
which staff do not edit). Every write marks the changed days for the aspect rollups
(reviews.events, which analytics receives) in its own transaction.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from reviews import events
from reviews.models import REVIEW_FILTER_COPIES, Review, ReviewAspect
from training.ml.aspect_data import THEMES
from training.ml.text import split_sentences

AT_COPY = REVIEW_FILTER_COPIES["effective_at"]
# An aspect's name as the reports show it: letters (any script), digits, spaces and & / ' - ("price/value",
# "wait time/speed"); no emoji, markup or formula characters.
ASPECT_CATEGORY_NAME = re.compile(r"[^\W_][\w &/'-]*")


def category_name(value: str) -> str:
    value = " ".join(value.lower().split())
    if not ASPECT_CATEGORY_NAME.fullmatch(value):
        raise ValueError("may hold letters, digits, spaces and & / ' - only, starting with a letter or digit")
    return value


# A suggestion row's polarity: a suggestion is its own type, neither a positive nor a negative mention.
SUGGESTION_POLARITY = "suggestion"
SUGGESTION_THEMES = THEMES


def review_filter_copies(review_ids: Sequence[int], *, lock: bool) -> dict[int, dict]:
    rows = Review.objects.filter(pk__in=list(review_ids)).order_by("pk")  # one lock order for every caller
    if lock:
        rows = rows.select_for_update()
    return {
        row[0]: {copy: value for copy, value in zip(REVIEW_FILTER_COPIES.values(), row[1:], strict=True)}
        for row in rows.values_list("pk", *REVIEW_FILTER_COPIES)
    }


def review_aspects_sync_filters(*, review_ids: Sequence[int]) -> int:
    """Rewrite the copied filter columns (effective date, source, business, rating) of these
    reviews' aspect rows; call it in the transaction that changed any of those review fields."""
    updated = 0
    with transaction.atomic():
        copies = review_filter_copies(review_ids, lock=True)
        # The rows leave their old day (the copies they carry) for the review's current one: mark both,
        # in one sorted write (two writers marking in different orders could deadlock).
        old = ReviewAspect.objects.filter(review_id__in=list(copies)).order_by().values_list(AT_COPY, flat=True)
        days = {*old.distinct(), *(values[AT_COPY] for values in copies.values())}
        for review_id, values in copies.items():
            updated += ReviewAspect.objects.filter(review_id=review_id).update(**values)
        events.aspect_days_changed_at(days)
    return updated


def review_aspects_forget(*, review_ids: Sequence[int]) -> None:
    """Before these reviews are deleted (their aspect rows go with them), in the same transaction:
    mark their days for the aspect rollups."""
    events.aspect_reviews_leaving(review_ids)


@dataclass(frozen=True, slots=True)
class StaffAspect:
    category: str
    polarity: str
    sentence: str = ""


def review_set_staff_aspects(*, review: Review, aspects: Sequence[StaffAspect]) -> list[ReviewAspect]:
    """Make these the review's aspect mentions (replacing the staff's earlier ones and the model's, so
    the report counts the review by its staff rows only) and keep them as a training annotation for
    the aspect model. Suggestion rows stay: staff correct those with review_set_staff_suggestions."""
    rows = [
        ReviewAspect(
            review=review,
            sentence=a.sentence,
            category=a.category,
            polarity=a.polarity,
            confidence=1.0,
            source=ReviewAspect.Source.STAFF,
        )
        for a in aspects
    ]
    scheme = "themes" if all(a.category in THEMES for a in aspects) else "staff"
    with transaction.atomic():
        # Under the review's row lock, like extraction, so a batch running now cannot put model
        # mentions back after this deletes them (it reads the staff annotation under the same lock).
        copies = review_filter_copies([review.pk], lock=True).get(review.pk)
        ReviewAspect.objects.filter(review=review, is_suggestion=False).delete()
        ReviewAspect.objects.bulk_create(rows)
        if copies is not None:
            events.aspect_days_changed_at([copies[AT_COPY]])
        events.staff_aspects_saved.send(
            sender=review_set_staff_aspects, review=review, aspects=list(aspects), scheme=scheme
        )
    return rows


def review_sentences(review: Review) -> list[str]:
    """The review's sentences as the models read them (a review without sentence breaks is one sentence)."""
    return split_sentences(review.text) or [review.text.strip()]


@dataclass(frozen=True, slots=True)
class StaffSuggestion:
    sentence: str
    category: str


def review_set_staff_suggestions(
    *, review: Review, suggestions: Sequence[StaffSuggestion], sentences: Sequence[str]
) -> list[ReviewAspect]:
    """Make these the review's suggestions (replacing the model's and the staff's earlier ones; extraction
    keeps them from then on) and keep the judgement as training annotations for the suggestion detector:
    each of `sentences` (the review's sentences staff saw) is a suggestion exactly when it is listed here."""
    rows = [
        ReviewAspect(
            review=review,
            sentence=s.sentence,
            category=s.category,
            polarity=SUGGESTION_POLARITY,
            confidence=1.0,
            is_suggestion=True,
            source=ReviewAspect.Source.STAFF,
        )
        for s in suggestions
    ]
    with transaction.atomic():
        copies = review_filter_copies([review.pk], lock=True).get(review.pk)
        ReviewAspect.objects.filter(review=review, is_suggestion=True).delete()
        ReviewAspect.objects.bulk_create(rows)
        if copies is not None:
            events.aspect_days_changed_at([copies[AT_COPY]])
        chosen = {s.sentence for s in suggestions}
        events.staff_suggestions_saved.send(
            sender=review_set_staff_suggestions,
            review=review,
            judged=[(sentence, sentence in chosen) for sentence in dict.fromkeys([*sentences, *chosen])],
        )
    return rows
