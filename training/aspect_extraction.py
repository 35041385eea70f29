"""The aspect model over stored reviews: extraction after ingest (Celery) and re-extraction after a
promotion. Staff corrections are authoritative: a review staff saved keeps its mentions (only its
suggestion rows are refreshed), a review whose suggestions staff saved keeps those, and staff saves become
training annotations (training.receivers).

A sentence the suggestion detector (training.suggestions) flags is stored as one suggestion row of its
theme, polarity "suggestion": it is neither a positive nor a negative mention ("Please add more staff on
Fridays." says nothing good or bad about the service yet)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction

from reviews import events
from reviews.aspects import AT_COPY, SUGGESTION_POLARITY, review_filter_copies
from reviews.models import Review, ReviewAspect
from training.aspects import get_aspect_model
from training.ml.aspect_data import GENERAL, GENERAL_CATEGORIES
from training.ml.aspect_schemes import THEMES
from training.ml.text import split_clauses, split_sentences
from training.models import AspectAnnotation
from training.registry import current_aspect_champion
from training.suggestions import get_suggestion_model, sentence_suggestions

STAFF_ANNOTATION_SOURCE = "staff"


def suggestion_aspect(aspects: Sequence[tuple[str, str, float]]) -> str:
    """The theme a suggestion is about: its sentence's most confident specific aspect, else "general"."""
    specific = [a for a in aspects if a[0] not in GENERAL_CATEGORIES]
    return max(specific, key=lambda a: a[2])[0] if specific else GENERAL


def _predict_distinct(model, sentences: Sequence[str]) -> list[list[tuple[str, str, float]]]:
    """model.predict on each distinct sentence once ("Great food." recurs across reviews); same result
    per sentence as predicting them all, since the models score every sentence on its own."""
    distinct = list(dict.fromkeys(sentences))
    by_sentence = dict(zip(distinct, model.predict(distinct), strict=True)) if distinct else {}
    return [by_sentence[s] for s in sentences]


@dataclass(frozen=True, slots=True)
class SentenceReading:
    """What one sentence says: its aspect mentions, and its theme and score when it is a suggestion."""

    mentions: list[tuple[str, str, float]]
    suggestion: tuple[str, float] | None


def read_sentences(
    model,
    sentences: Sequence[str],
    predicted: Sequence | None = None,
    flags: Sequence[tuple[bool, float]] | None = None,
) -> list[SentenceReading]:
    """Aspects and suggestions of each sentence. A suggestion sentence is not a mention of its theme ("Please
    add more staff" praises nothing); when it joins clauses ("Great food but the service could be faster"),
    the clauses that are not suggestions still carry their mentions. `predicted` and `flags`: the model's
    aspects and the detector's sentence_suggestions of the sentences, when the caller has them already."""
    predicted = _predict_distinct(model, sentences) if predicted is None else predicted
    detector = get_suggestion_model()  # once for the sentences and their clauses
    flags = sentence_suggestions(sentences, detector) if flags is None else flags
    mixed = {
        sentence: clauses
        for sentence, (is_suggestion, _) in zip(sentences, flags, strict=True)
        if is_suggestion and len(clauses := split_clauses(sentence)) > 1
    }
    clauses = list(dict.fromkeys(clause for parts in mixed.values() for clause in parts))
    clause_aspects = dict(zip(clauses, _predict_distinct(model, clauses), strict=True)) if clauses else {}
    clause_flags = dict(zip(clauses, sentence_suggestions(clauses, detector), strict=True)) if clauses else {}
    readings = []
    for sentence, aspects, (is_suggestion, score) in zip(sentences, predicted, flags, strict=True):
        if not is_suggestion:
            readings.append(SentenceReading(mentions=list(aspects), suggestion=None))
            continue
        parts = mixed.get(sentence, [])
        asking = [clause for clause in parts if clause_flags[clause][0]]
        mentions = [a for clause in parts if not clause_flags[clause][0] for a in clause_aspects[clause]]
        about = [a for clause in asking for a in clause_aspects[clause]] or list(aspects)
        readings.append(SentenceReading(mentions=mentions, suggestion=(suggestion_aspect(about), score)))
    return readings


def staff_suggested(review_ids: Sequence[int]) -> set[int]:
    """The reviews whose suggestions staff have saved: they keep exactly those."""
    rows = ReviewAspect.objects.filter(
        review_id__in=list(review_ids), source=ReviewAspect.Source.STAFF, is_suggestion=True
    )
    return set(rows.values_list("review_id", flat=True))


def staff_corrected(review_ids: Sequence[int]) -> set[int]:
    """The reviews whose aspects staff have saved (a staff row, or a staff annotation: saving none)."""
    ids = list(review_ids)
    with_rows = ReviewAspect.objects.filter(review_id__in=ids, source=ReviewAspect.Source.STAFF)
    annotated = AspectAnnotation.objects.filter(review_id__in=ids, source=STAFF_ANNOTATION_SOURCE)
    return set(with_rows.values_list("review_id", flat=True)) | set(annotated.values_list("review_id", flat=True))


def review_extract_aspects(review_ids: Sequence[int]) -> int:
    """Split each review into sentences, predict aspects and suggestions in one batch and replace the
    reviews' model-made rows. Reviews corrected by staff keep their (staff) mentions and only get their
    suggestion rows replaced; reviews whose suggestions staff saved keep those. Returns the rows stored."""
    reviews = list(Review.objects.filter(pk__in=list(review_ids)).values_list("id", "text"))
    if not reviews:
        return 0
    champion = current_aspect_champion()
    model = get_aspect_model(THEMES)  # the product themes are what managers see
    version_id = champion.pk if champion else None
    sentences: list[tuple[int, str]] = [(pk, s) for pk, text in reviews for s in split_sentences(text)]
    readings = read_sentences(model, [s for _, s in sentences])
    with transaction.atomic():
        # The filter columns are read under the review's row lock (PostgreSQL) or inside the write
        # transaction (SQLite serialises writers), so an edit racing this batch cannot leave stale copies.
        copies = review_filter_copies([pk for pk, _ in reviews], lock=True)
        # Read under the same locks: a staff save of one of these reviews either committed before
        # (and is seen here) or waits for this batch (and then deletes what it stores).
        corrected = staff_corrected(list(copies))
        suggested_by_staff = staff_suggested(list(copies))
        rows: list[ReviewAspect] = []
        for (review_id, sentence), reading in zip(sentences, readings, strict=True):
            if review_id not in copies:  # deleted meanwhile
                continue
            common = dict(review_id=review_id, sentence=sentence, model_version_id=version_id, **copies[review_id])
            if reading.suggestion and review_id not in suggested_by_staff:
                theme, score = reading.suggestion
                rows.append(
                    ReviewAspect(
                        category=theme, polarity=SUGGESTION_POLARITY, confidence=score, is_suggestion=True, **common
                    )
                )
            if review_id not in corrected:
                rows.extend(
                    ReviewAspect(category=category, polarity=polarity, confidence=float(confidence), **common)
                    for category, polarity, confidence in reading.mentions
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
