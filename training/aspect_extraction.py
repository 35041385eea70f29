"""The aspect model over stored reviews: extraction after ingest (Celery) and re-extraction after a
promotion. Staff corrections are authoritative: a review staff saved keeps its mentions (only its
suggestion rows are refreshed), and staff saves become training annotations (training.receivers)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from reviews import events
from reviews.aspects import AT_COPY, review_filter_copies
from reviews.models import Review, ReviewAspect
from training.aspects import get_aspect_model
from training.ml.aspect_schemes import THEMES
from training.ml.text import is_suggestion, split_sentences
from training.models import AspectAnnotation
from training.registry import current_aspect_champion

STAFF_ANNOTATION_SOURCE = "staff"
GENERAL = "general"
# A suggestion is about what should change, so a non-positive aspect of its sentence names it best.
_SUGGESTION_PREFERENCE = {"negative": 0, "conflict": 1, "neutral": 2, "positive": 3}


def suggestion_aspect(aspects: Sequence[tuple[str, str, float]]) -> tuple[str, str, float]:
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


def staff_corrected(review_ids: Sequence[int]) -> set[int]:
    """The reviews whose aspects staff have saved (a staff row, or a staff annotation: saving none)."""
    ids = list(review_ids)
    with_rows = ReviewAspect.objects.filter(review_id__in=ids, source=ReviewAspect.Source.STAFF)
    annotated = AspectAnnotation.objects.filter(review_id__in=ids, source=STAFF_ANNOTATION_SOURCE)
    return set(with_rows.values_list("review_id", flat=True)) | set(annotated.values_list("review_id", flat=True))


def review_extract_aspects(review_ids: Sequence[int]) -> int:
    """Split each review into sentences, predict aspects in one batch and replace the
    reviews' model-made aspects. Reviews corrected by staff keep their (staff) mentions and only
    get their suggestion rows replaced. Returns the rows stored."""
    reviews = list(Review.objects.filter(pk__in=list(review_ids)).values_list("id", "text"))
    if not reviews:
        return 0
    champion = current_aspect_champion()
    model = get_aspect_model(THEMES)  # the product themes are what managers see
    version_id = champion.pk if champion else None
    sentences: list[tuple[int, str]] = [(pk, s) for pk, text in reviews for s in split_sentences(text)]
    predicted = _predict_distinct(model, [s for _, s in sentences])
    with transaction.atomic():
        # The filter columns are read under the review's row lock (PostgreSQL) or inside the write
        # transaction (SQLite serialises writers), so an edit racing this batch cannot leave stale copies.
        copies = review_filter_copies([pk for pk, _ in reviews], lock=True)
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
                category, polarity, confidence = suggestion_aspect(aspects)
                rows.append(
                    ReviewAspect(
                        category=category, polarity=polarity, confidence=float(confidence), is_suggestion=True, **common
                    )
                )
        ReviewAspect.objects.filter(review_id__in=[pk for pk, _ in reviews], source=ReviewAspect.Source.MODEL).delete()
        ReviewAspect.objects.bulk_create(rows, batch_size=2000)
        events.aspect_days_changed_at(values[AT_COPY] for values in copies.values())
    return len(rows)


def review_reextract_batch(*, after_id: int, size: int) -> int | None:
    """Re-extract the next `size` reviews by id; the last id handled, or None when done."""
    ids = list(Review.objects.filter(id__gt=after_id).order_by("id").values_list("id", flat=True)[:size])
    if not ids:
        return None
    review_extract_aspects(ids)
    return ids[-1]
