"""Per-review aspects: extraction by the aspect model (Celery, after ingest) and staff corrections.

Staff corrections are authoritative: once staff save a review's aspects (even none), its aspect
mentions are exactly the staff rows. Saving deletes the model's mentions of the review, and extraction
leaves the review's mentions alone from then on (it still refreshes the review's suggestion rows,
which staff do not edit). Every write marks the changed days for the aspect rollups
(analytics.aspect_rollups.aspect_rollup_mark_dirty) in its own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from analytics.aspect_rollups import aspect_rollup_mark_dirty, aspect_rollup_mark_reviews_dirty
from reviews.models import REVIEW_FILTER_COPIES, Review, ReviewAspect
from training.ml.text import is_suggestion, split_sentences

STAFF_ANNOTATION_SOURCE = "staff"
AT_COPY = REVIEW_FILTER_COPIES["effective_at"]

GENERAL = "general"
POLARITIES = ("positive", "negative", "neutral", "conflict")
# A suggestion is about what should change, so a non-positive aspect of its sentence names it best.
_SUGGESTION_PREFERENCE = {"negative": 0, "conflict": 1, "neutral": 2, "positive": 3}


def _suggestion_aspect(aspects: Sequence[tuple[str, str, float]]) -> tuple[str, str, float]:
    """The sentence's most confident non-positive aspect (negative first); without one, "general"."""
    candidates = [a for a in aspects if a[1] != "positive"]
    if not candidates:
        return (GENERAL, "neutral", 1.0)
    return min(candidates, key=lambda a: (_SUGGESTION_PREFERENCE.get(a[1], 4), -a[2]))


def _predict_distinct(model, sentences: Sequence[str]) -> list[list[tuple[str, str, float]]]:
    """model.predict on each distinct sentence once ("Great food." recurs across reviews); same result
    per sentence as predicting them all, since the models score every sentence on its own."""
    distinct = list(dict.fromkeys(sentences))
    by_sentence = dict(zip(distinct, model.predict(distinct), strict=True)) if distinct else {}
    return [by_sentence[s] for s in sentences]


def _review_copies(review_ids: Sequence[int], *, lock: bool) -> dict[int, dict]:
    rows = Review.objects.filter(pk__in=list(review_ids)).order_by("pk")  # one lock order for every caller
    if lock:
        rows = rows.select_for_update()
    return {
        row[0]: {copy: value for copy, value in zip(REVIEW_FILTER_COPIES.values(), row[1:], strict=True)}
        for row in rows.values_list("pk", *REVIEW_FILTER_COPIES)
    }


def staff_corrected(review_ids: Sequence[int]) -> set[int]:
    """The reviews whose aspects staff have saved (a staff row, or a staff annotation: saving none)."""
    from training.models import AspectAnnotation

    ids = list(review_ids)
    with_rows = ReviewAspect.objects.filter(review_id__in=ids, source=ReviewAspect.Source.STAFF)
    annotated = AspectAnnotation.objects.filter(review_id__in=ids, source=STAFF_ANNOTATION_SOURCE)
    return set(with_rows.values_list("review_id", flat=True)) | set(annotated.values_list("review_id", flat=True))


def review_extract_aspects(review_ids: Sequence[int]) -> int:
    """Split each review into sentences, predict aspects in one batch and replace the
    reviews' model-made aspects. Reviews corrected by staff keep their (staff) mentions and only
    get their suggestion rows replaced. Returns the rows stored."""
    from training.aspects import current_aspect_champion, get_aspect_model

    reviews = list(Review.objects.filter(pk__in=list(review_ids)).values_list("id", "text"))
    if not reviews:
        return 0
    champion = current_aspect_champion()
    model = get_aspect_model()
    version_id = champion.pk if champion else None
    sentences: list[tuple[int, str]] = [(pk, s) for pk, text in reviews for s in split_sentences(text)]
    predicted = _predict_distinct(model, [s for _, s in sentences])
    with transaction.atomic():
        # The filter columns are read under the review's row lock (PostgreSQL) or inside the write
        # transaction (SQLite serialises writers), so an edit racing this batch cannot leave stale copies.
        copies = _review_copies([pk for pk, _ in reviews], lock=True)
        # Read under the same locks: a staff save of one of these reviews either committed before
        # (and is seen here) or waits for this batch (and then deletes what it stores).
        corrected = staff_corrected(list(copies))
        rows: list[ReviewAspect] = []
        for (review_id, sentence), aspects in zip(sentences, predicted, strict=True):
            if review_id not in copies:  # deleted meanwhile
                continue
            common = dict(review_id=review_id, sentence=sentence, model_version_id=version_id, **copies[review_id])
            if review_id not in corrected:
                rows.extend(
                    ReviewAspect(category=category, polarity=polarity, confidence=float(confidence), **common)
                    for category, polarity, confidence in aspects
                )
            if is_suggestion(sentence):
                category, polarity, confidence = _suggestion_aspect(aspects)
                rows.append(
                    ReviewAspect(
                        category=category, polarity=polarity, confidence=float(confidence), is_suggestion=True, **common
                    )
                )
        ReviewAspect.objects.filter(review_id__in=[pk for pk, _ in reviews], source=ReviewAspect.Source.MODEL).delete()
        ReviewAspect.objects.bulk_create(rows, batch_size=2000)
        aspect_rollup_mark_dirty(values[AT_COPY] for values in copies.values())
    return len(rows)


def review_aspects_sync_filters(*, review_ids: Sequence[int]) -> int:
    """Rewrite the copied filter columns (effective date, source, business, rating) of these
    reviews' aspect rows; call it in the transaction that changed any of those review fields."""
    updated = 0
    with transaction.atomic():
        copies = _review_copies(review_ids, lock=True)
        # The rows leave their old day (the copies they carry) for the review's current one: mark both,
        # in one sorted write (two writers marking in different orders could deadlock).
        old = ReviewAspect.objects.filter(review_id__in=list(copies)).order_by().values_list(AT_COPY, flat=True)
        days = {*old.distinct(), *(values[AT_COPY] for values in copies.values())}
        for review_id, values in copies.items():
            updated += ReviewAspect.objects.filter(review_id=review_id).update(**values)
        aspect_rollup_mark_dirty(days)
    return updated


def review_aspects_forget(*, review_ids: Sequence[int]) -> None:
    """Before these reviews are deleted (their aspect rows go with them), in the same transaction:
    mark their days for the aspect rollups."""
    aspect_rollup_mark_reviews_dirty(review_ids)


def review_reextract_batch(*, after_id: int, size: int) -> int | None:
    """Re-extract the next `size` reviews by id; the last id handled, or None when done."""
    ids = list(Review.objects.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)[:size])
    if not ids:
        return None
    review_extract_aspects(ids)
    return ids[-1]


@dataclass(frozen=True, slots=True)
class StaffAspect:
    category: str
    polarity: str
    sentence: str = ""


def review_set_staff_aspects(*, review: Review, aspects: Sequence[StaffAspect]) -> list[ReviewAspect]:
    """Make these the review's aspect mentions (replacing the staff's earlier ones and the model's, so
    the report counts the review by its staff rows only) and keep them as a training annotation for
    the aspect model. The model's suggestion rows stay: staff do not edit suggestions here."""
    from training.ml.aspect_data import SEMEVAL14_CATEGORIES
    from training.models import AspectAnnotation

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
    scheme = "semeval2014" if all(a.category in SEMEVAL14_CATEGORIES for a in aspects) else "staff"
    with transaction.atomic():
        # Under the review's row lock, like extraction, so a batch running now cannot put model
        # mentions back after this deletes them (it reads the staff annotation under the same lock).
        copies = _review_copies([review.pk], lock=True).get(review.pk)
        ReviewAspect.objects.filter(review=review).exclude(
            source=ReviewAspect.Source.MODEL, is_suggestion=True
        ).delete()
        ReviewAspect.objects.bulk_create(rows)
        if copies is not None:
            aspect_rollup_mark_dirty([copies[AT_COPY]])
        AspectAnnotation.objects.update_or_create(
            source=STAFF_ANNOTATION_SOURCE,
            external_id=f"review-{review.pk}",
            defaults={
                "text": review.text,
                "aspects": [{"category": a.category, "polarity": a.polarity} for a in aspects],
                "scheme": scheme,
                "review": review,
            },
        )
    return rows
