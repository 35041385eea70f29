"""Writes for reviews: create (with the ingest prediction), label, delete."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass

from django.db import DatabaseError, IntegrityError, connection, transaction
from django.utils import timezone

from project.celery import app as celery_app
from project.db import discard_dead_pooled_connections
from project.outbox.services import outbox_enqueue
from reviews import events
from reviews.aspects import review_aspects_forget
from reviews.businesses import business_names_record
from reviews.models import LabelEvent, LabelVote, Prediction, Review
from reviews.schemas import ReviewIn
from reviews.serving import BatchPrediction, predict_on_arrival
from reviews.sql import REVIEW_COLUMNS, insert_reviews_statement
from training.ml.language import detect_language
from training.ml.predictor import LabelScores

# Aspect extraction of reviews created one per request; imports use "reviews.extract_aspects" (bulk queue).
FRESH_ASPECTS_TASK = "reviews.extract_fresh_aspects"

logger = logging.getLogger(__name__)


def _review_from_input(data: ReviewIn) -> Review:
    language = detect_language(data.text)
    return Review(
        language=language.language,
        is_english=language.is_english,
        text=data.text,
        source=data.source,
        rating=data.rating,
        business=data.business or "",
        author=data.author or "",
        external_id=data.external_id,
        review_date=data.review_date,
    )


def _apply_prediction(review: Review, prediction: LabelScores, version_id: int, now) -> None:
    review.predicted_label = prediction.label
    review.predicted_confidence = prediction.confidence
    review.predicted_scores = prediction.scores
    review.predicted_by_id = version_id
    review.predicted_at = now


def _existing(data: ReviewIn) -> Review | None:
    if data.external_id is None:
        return None
    return Review.objects.filter(source=data.source, external_id=data.external_id).first()


@dataclass(frozen=True, slots=True)
class CreateResult:
    review: Review
    created: bool
    model_version: str | None = None  # the predicting model's name, when this call predicted


def review_create(*, data: ReviewIn) -> CreateResult:
    """Store a review with its ingest prediction. The same (source, external_id) twice
    returns the stored review instead of a duplicate.

    Insert first, look only on a unique-key clash: a new review (the common case) costs no
    lookup, and the INSERT returns the generated effective_at with the id. A business_name is stored
    (business_names_upsert) only when one is given: most creates cost nothing more.
    """
    if data.business_name:
        business_names_record(items=[data])
    batch = predict_on_arrival([data.text])
    review = _review_from_input(data)
    _apply_prediction(review, batch.results[0], batch.model_version_id, timezone.now())
    try:
        if connection.vendor == "postgresql" and not _tasks_run_inline():
            _insert_in_one_statement([review])
        else:
            with transaction.atomic():
                review.save()
                events.days_changed([review.review_date])  # a backdated review changes a day the rollups hold
                _record_ingest_predictions([review], batch)
                _enqueue_aspect_extraction([review.pk], fresh=True)
    except IntegrityError:
        # Stored before (a retry, an import of the same review): the stored one wins.
        existing = _existing(data)
        if existing is None:
            raise
        return CreateResult(review=existing, created=False)
    return CreateResult(review=review, created=True, model_version=batch.model_version)


def _tasks_run_inline() -> bool:
    return bool(celery_app.conf.task_always_eager)


def review_create_many(*, items: Sequence[ReviewIn]) -> list[CreateResult | Exception]:
    """review_create for each item (the single creates of concurrent requests, gathered by
    reviews.api), each with its own outcome: the result, or the exception to answer that request with.

    On PostgreSQL one prediction call and one statement store them all (reviews, ingest predictions,
    one outbox row for their aspect extraction), in one commit. If that statement fails (a retried
    external id, two requests with the same one), each item is stored on its own, exactly as
    review_create does: one request's failure or duplicate is never another's.
    """
    if len(items) == 1 or connection.vendor != "postgresql" or _tasks_run_inline():
        return [_create_outcome(item) for item in items]
    try:
        business_names_record(items=items)  # one upsert for the batch's distinct businesses
    except DatabaseError:
        discard_dead_pooled_connections()
        return [_create_outcome(item) for item in items]
    batch = predict_on_arrival([item.text for item in items])
    now = timezone.now()
    reviews = []
    for item, prediction in zip(items, batch.results):
        review = _review_from_input(item)
        _apply_prediction(review, prediction, batch.model_version_id, now)
        reviews.append(review)
    try:
        _insert_in_one_statement(reviews)
    except DatabaseError:
        logger.info("A batch of %d creates failed as one statement; storing them one by one", len(items))
        discard_dead_pooled_connections()
        return [_create_outcome(item) for item in items]
    return [CreateResult(review=review, created=True, model_version=batch.model_version) for review in reviews]


def _create_outcome(item: ReviewIn) -> CreateResult | Exception:
    try:
        return review_create(data=item)
    except Exception as exc:
        if isinstance(exc, DatabaseError):
            discard_dead_pooled_connections()
        return exc


def _insert_in_one_statement(reviews: list[Review]) -> None:
    """What the ORM branch of review_create stores for each review (the review, its ingest prediction) and
    one outbox row for their batched aspect extraction, as one statement: the ORM's three INSERTs and their
    transaction cost a third of a create's CPU. With tasks running inline (tests) the ORM branch runs them
    at commit."""
    global _insert_fields
    if not _insert_fields:
        by_column = {field.attname: field for field in Review._meta.concrete_fields}
        _insert_fields = [by_column[column] for column in REVIEW_COLUMNS]
    statement = _insert_statements.get(len(reviews))
    if statement is None:
        statement = _insert_statements[len(reviews)] = insert_reviews_statement(connection, len(reviews))
    now = timezone.now()
    values: list = []
    for review in reviews:
        review.created_at = now
        # The fields' own conversion, as the ORM does it (aware datetimes to UTC: PostgreSQL refuses
        # offsets beyond 15:59, which an ISO date may carry; JSON; decimals).
        values += [field.get_db_prep_save(getattr(review, field.attname), connection) for field in _insert_fields]
    values += [FRESH_ASPECTS_TASK, now]
    # Inside someone's transaction, a savepoint keeps a duplicate-key failure from aborting it.
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(statement, values)
        rows = cursor.fetchall()
    if len(rows) != len(reviews):
        raise RuntimeError(f"{len(rows)} rows came back from an INSERT of {len(reviews)} reviews")
    for review, (review_id, effective_at) in zip(reviews, rows):
        review.pk, review.effective_at = review_id, effective_at
        review._state.adding = False
    # Reviews dated before today change days the dashboard rollups hold (today's never do: no write).
    events.days_changed(review.review_date for review in reviews)


_insert_statements: dict[int, str] = {}  # by number of reviews
_insert_fields: list = []


def review_bulk_create(*, items: Sequence[ReviewIn]) -> list[CreateResult]:
    """Create many reviews with one batch prediction; duplicates by external id are returned as existing.
    Their business names (business_name) are stored with one upsert for the distinct businesses."""
    business_names_record(items=items)
    results: list[CreateResult | None] = [None] * len(items)
    to_create: list[tuple[int, ReviewIn]] = []
    seen_keys: dict[tuple[str, str], int] = {}
    keys = [(item.source, item.external_id) for item in items if item.external_id is not None]
    stored: dict[tuple[str, str], Review] = {}
    if keys:
        for source in {source for source, _ in keys}:
            ids = [external_id for s, external_id in keys if s == source]
            for review in Review.objects.filter(source=source, external_id__in=ids):
                stored[(review.source, review.external_id)] = review
    for index, item in enumerate(items):
        key = (item.source, item.external_id) if item.external_id is not None else None
        if key is not None and key in stored:
            results[index] = CreateResult(review=stored[key], created=False)
        elif key is not None and key in seen_keys:
            continue  # duplicate inside this batch; resolved to the first copy below
        else:
            if key is not None:
                seen_keys[key] = index
            to_create.append((index, item))
    if to_create:
        batch = predict_on_arrival([item.text for _, item in to_create])
        now = timezone.now()
        reviews = []
        for (_, item), prediction in zip(to_create, batch.results):
            review = _review_from_input(item)
            _apply_prediction(review, prediction, batch.model_version_id, now)
            reviews.append(review)
        try:
            with transaction.atomic():
                Review.objects.bulk_create(reviews)
                events.days_changed(review.review_date for review in reviews)
                _record_ingest_predictions(reviews, batch)
                _enqueue_aspect_extraction([review.pk for review in reviews])
        except IntegrityError:
            # A concurrent import stored some of the same external ids: fall back to one by one.
            for index, item in to_create:
                results[index] = review_create(data=item)
        else:
            created_ids = [review.pk for review in reviews]
            fresh = Review.objects.in_bulk(created_ids)
            for (index, _), review_id in zip(to_create, created_ids):
                results[index] = CreateResult(review=fresh[review_id], created=True)
    for index, item in enumerate(items):
        if results[index] is None:
            first = seen_keys[(item.source, item.external_id)]
            results[index] = CreateResult(review=results[first].review, created=False)
    return results  # type: ignore[return-value]


def _enqueue_aspect_extraction(review_ids: list[int], *, fresh: bool = False) -> None:
    """Aspects are extracted by a Celery task after commit, never in the request path. Called inside the
    transaction that stores the reviews: the outbox row commits with them, so a broker outage delays the
    extraction but never loses it. fresh: reviews created one per request; their rows are left to the
    outbox relay, which sends the reviews of many requests as one task a few seconds later, on the default
    queue (not behind a running import's batches on the bulk queue)."""
    task = FRESH_ASPECTS_TASK if fresh else "reviews.extract_aspects"
    outbox_enqueue(task, args=[review_ids], publish_after_commit=not fresh)


def _record_ingest_predictions(reviews: Sequence[Review], batch: BatchPrediction) -> None:
    Prediction.objects.bulk_create(
        [
            Prediction(
                review=review,
                model_version_id=batch.model_version_id,
                label=review.predicted_label,
                confidence=review.predicted_confidence,
                scores=review.predicted_scores,
                is_ingest=True,
            )
            for review in reviews
        ]
    )


def _locked(reviews):
    """The reviews locked until the transaction ends, so a label change reads the label it replaces.

    Without the lock two labellers racing on one review both read the same previous label (READ
    COMMITTED), and the history loses a link: the second event's previous_label is not the first
    event's label. FOR NO KEY UPDATE does not block inserts that only reference the review (votes,
    events); rows are locked in id order, so two bulk labellings cannot deadlock. On SQLite it is a
    no-op: IMMEDIATE transactions already serialise writers.
    """
    return reviews.select_for_update(no_key=True).order_by("pk")


def review_label(*, review: Review, label: str, user_id: int | None) -> Review:
    """Set (or change) the human label; every change is kept in LabelEvent."""
    now = timezone.now()
    with transaction.atomic():
        previous, effective_at = _locked(Review.objects.filter(pk=review.pk)).values_list(
            "human_label", "effective_at"
        ).first() or (None, None)
        Review.objects.filter(pk=review.pk).update(
            human_label=label, human_labelled_by_id=user_id, human_labelled_at=now
        )
        events.days_changed([effective_at])
        LabelEvent.objects.create(review_id=review.pk, label=label, previous_label=previous, user_id=user_id)
    review.refresh_from_db()
    return review


def review_bulk_label(*, labels: dict[int, str], user_id: int | None) -> int:
    """Label many reviews at once (import, bulk labelling); unchanged labels are left alone.
    Returns how many reviews changed."""
    now = timezone.now()
    with transaction.atomic():
        stored = {
            review_id: (label, effective_at)
            for review_id, label, effective_at in _locked(Review.objects.filter(pk__in=list(labels))).values_list(
                "id", "human_label", "effective_at"
            )
        }
        current = {review_id: label for review_id, (label, _) in stored.items()}
        changed = {
            review_id: label
            for review_id, label in labels.items()
            if review_id in current and current[review_id] != label
        }
        events.days_changed(stored[review_id][1] for review_id in changed)
        by_label: dict[str, list[int]] = {}
        for review_id, label in changed.items():
            by_label.setdefault(label, []).append(review_id)
        for label, ids in by_label.items():
            Review.objects.filter(pk__in=ids).update(
                human_label=label, human_labelled_by_id=user_id, human_labelled_at=now
            )
        LabelEvent.objects.bulk_create(
            [
                LabelEvent(review_id=review_id, label=label, previous_label=current[review_id], user_id=user_id)
                for review_id, label in changed.items()
            ]
        )
    return len(changed)


def review_unlabel(*, review: Review, user_id: int | None) -> Review:
    with transaction.atomic():
        previous, effective_at = _locked(Review.objects.filter(pk=review.pk)).values_list(
            "human_label", "effective_at"
        ).first() or (None, None)
        Review.objects.filter(pk=review.pk).update(human_label=None, human_labelled_by=None, human_labelled_at=None)
        events.days_changed([effective_at])
        # The queue's votes were for the label just withdrawn: the review goes back to the queue as new, or its
        # first vote would stand in the way of every labeller there (each label answered "already labelled").
        LabelVote.objects.filter(review_id=review.pk).delete()
        if previous is not None:
            LabelEvent.objects.create(review_id=review.pk, label=None, previous_label=previous, user_id=user_id)
    review.refresh_from_db()
    return review


def review_delete(*, review: Review) -> None:
    """Removes the review, its predictions, label history and aspects (cascade)."""
    with transaction.atomic():
        review_aspects_forget(review_ids=[review.pk])
        events.reviews_leaving([review.pk])
        review.delete()


def review_predictions_store(
    *, model_version_id: int, reviews: Sequence[tuple[int, dt.datetime]], results: Sequence[LabelScores]
) -> None:
    """Make `results` the current predictions of these (review id, effective_at) reviews, as a re-scoring
    by a newly deployed model does (training.rescoring); the ingest prediction stays in the history."""
    now = timezone.now()
    updated = []
    for (review_id, _), result in zip(reviews, results, strict=True):
        review = Review(pk=review_id)
        _apply_prediction(review, result, model_version_id, now)
        updated.append(review)
    with transaction.atomic():
        Review.objects.bulk_update(
            updated, ["predicted_label", "predicted_confidence", "predicted_scores", "predicted_by", "predicted_at"]
        )
        events.days_changed(effective_at for _, effective_at in reviews)
        Prediction.objects.bulk_create(
            [
                Prediction(
                    review_id=review.pk,
                    model_version_id=model_version_id,
                    label=review.predicted_label,
                    confidence=review.predicted_confidence,
                    scores=review.predicted_scores,
                )
                for review in updated
            ]
        )
