"""Bulk import at COPY speed: the write path of `manage.py import_reviews`.

The ORM's bulk_create spends most of an import in Python (a model instance per row, value
preparation per field, client-side quoting of every value). On PostgreSQL this module writes
the same rows with COPY instead: ids are drawn from the table's sequence first, so the reviews
and their ingest predictions go in as two COPY streams in one transaction. Everything else is
what reviews.services.review_bulk_create does (same language detection, same prediction, the
same aspect-extraction task per batch), and tests/reviews/test_importing.py checks the stored rows are
identical. On other databases, and whenever a concurrent writer makes the COPY fail on a unique
key, the batch goes through review_bulk_create.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from reviews import events, services
from reviews.models import Prediction, Review
from reviews.schemas import ReviewIn
from reviews.sql import PREDICTION_COLUMNS, REVIEW_COLUMNS, checked_columns
from training.ml.language import detect_language


@dataclass(frozen=True, slots=True)
class ImportedReview:
    review_id: int
    created: bool


def _through_orm(items: Sequence[ReviewIn]) -> list[ImportedReview]:
    return [ImportedReview(result.review.pk, result.created) for result in services.review_bulk_create(items=items)]


def _existing_ids(items: Sequence[ReviewIn]) -> dict[tuple[str, str], int]:
    wanted: dict[str, list[str]] = {}
    for item in items:
        if item.external_id is not None:
            wanted.setdefault(item.source, []).append(item.external_id)
    found: dict[tuple[str, str], int] = {}
    for source, external_ids in wanted.items():
        rows = Review.objects.filter(source=source, external_id__in=external_ids).values_list("external_id", "pk")
        found.update({(source, external_id): pk for external_id, pk in rows})
    return found


def reviews_import(*, items: Sequence[ReviewIn]) -> list[ImportedReview]:
    """Store a batch of reviews (predicted now); reviews already stored by (source, external_id) are
    reported as not created, as are later copies of one inside the batch."""
    if connection.vendor != "postgresql":
        return _through_orm(items)
    existing = _existing_ids(items)
    results: list[ImportedReview | None] = [None] * len(items)
    first_of: dict[tuple[str, str], int] = {}
    new: list[tuple[int, ReviewIn]] = []
    for index, item in enumerate(items):
        key = (item.source, item.external_id) if item.external_id is not None else None
        if key is not None and key in existing:
            results[index] = ImportedReview(existing[key], created=False)
        elif key is not None and key in first_of:
            continue  # resolved to the first copy below
        else:
            if key is not None:
                first_of[key] = index
            new.append((index, item))
    if new:
        try:
            ids = _copy_new([item for _, item in new])
        except IntegrityError:
            # Another writer stored some of these external ids meanwhile: the ORM path sorts it out.
            return _through_orm(items)
        for (index, _), review_id in zip(new, ids, strict=True):
            results[index] = ImportedReview(review_id, created=True)
    for index, item in enumerate(items):
        if results[index] is None:
            first = results[first_of[(item.source, item.external_id)]]
            results[index] = ImportedReview(first.review_id, created=False)
    return results  # type: ignore[return-value]


def _copy_new(items: Sequence[ReviewIn]) -> list[int]:
    batch = services.predict_on_arrival([item.text for item in items])
    now = timezone.now()
    review_rows, prediction_rows = [], []
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [Review._meta.db_table, len(items)],
            )
            ids = [row[0] for row in cursor.fetchall()]
            for review_id, item, prediction in zip(ids, items, batch.results, strict=True):
                language = detect_language(item.text)
                scores = json.dumps(prediction.scores)
                review_rows.append(
                    (
                        review_id, item.text, item.source, item.rating, item.business or "", item.author or "",
                        item.external_id, item.review_date, now, language.language, language.is_english,
                        prediction.label, prediction.confidence, scores, batch.model_version_id, now,
                    )
                )  # fmt: skip
                prediction_rows.append(
                    (review_id, batch.model_version_id, prediction.label, prediction.confidence, scores, True, now)
                )
            _copy(cursor, Review, ["id", *checked_columns(Review, REVIEW_COLUMNS)], review_rows)
            _copy(cursor, Prediction, checked_columns(Prediction, PREDICTION_COLUMNS), prediction_rows)
        events.days_changed(item.review_date for item in items)  # backdated reviews change days the rollups hold
        services._enqueue_aspect_extraction(ids)  # the outbox row commits with the reviews
    return ids


def _copy(cursor, model: type[models.Model], columns: Sequence[str], rows: Sequence[tuple]) -> None:
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    # cursor.cursor: the psycopg cursor under Django's wrapper (COPY is not in the DB-API);
    # wrap_database_errors turns psycopg's errors into Django's (IntegrityError above).
    with connection.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
