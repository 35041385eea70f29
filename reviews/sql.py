"""Review writes that skip the ORM's per-row Python work, on PostgreSQL (the hot paths).

Both the import's COPY (reviews/importing.py) and the INSERT of POST /api/reviews/
(reviews.services.review_create and review_create_many) name their columns here, and
`checked_columns` fails loudly if a model gains a NOT NULL column without a database
default that these statements would leave unset. tests/reviews/test_importing.py and
tests/reviews/test_reviews_api.py check the rows equal what the ORM stores.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models

from project.outbox.models import OutboxMessage
from reviews.models import Prediction, Review

REVIEW_COLUMNS = (
    "text", "source", "rating", "business", "author", "external_id", "review_date", "created_at", "language",
    "is_english", "predicted_label", "predicted_confidence", "predicted_scores", "predicted_by_id", "predicted_at",
)  # fmt: skip
PREDICTION_COLUMNS = ("review_id", "model_version_id", "label", "confidence", "scores", "is_ingest", "created_at")
OUTBOX_COLUMNS = ("task", "args", "kwargs", "created_at", "attempts", "last_error")


def checked_columns(model: type[models.Model], supplied: Sequence[str]) -> list[str]:
    """`supplied`, after checking that every other column is nullable, generated or has a database default."""
    for field in model._meta.concrete_fields:
        if field.attname in supplied or field.primary_key or field.generated or field.null:
            continue
        if field.db_default is not models.NOT_PROVIDED:
            continue
        raise RuntimeError(f"{model.__name__}.{field.attname} is NOT NULL without a database default: add it here")
    return list(supplied)


def insert_reviews_statement(connection, rows: int) -> str:
    """One statement for `rows` reviews (one create, or several requests' creates gathered by
    reviews.services.review_create_many): the reviews, their ingest predictions and one outbox row that
    queues all their aspect extractions. One round trip and no transaction block: a single statement
    is atomic.

    Parameters: the REVIEW_COLUMNS values of each review in turn, then the task and created_at of the
    outbox row. Each ingest prediction repeats its review's predicted_* columns. Returns (id,
    effective_at) per review, in the order given: PostgreSQL returns a multi-row INSERT's rows in VALUES
    order, which Django's bulk_create relies on too (the caller checks the count).
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    quote = connection.ops.quote_name
    review_columns = ", ".join(quote(c) for c in checked_columns(Review, REVIEW_COLUMNS))
    prediction_columns = ", ".join(quote(c) for c in checked_columns(Prediction, PREDICTION_COLUMNS))
    outbox_columns = ", ".join(quote(c) for c in checked_columns(OutboxMessage, OUTBOX_COLUMNS))
    row = "(" + ", ".join(["%s"] * len(REVIEW_COLUMNS)) + ")"
    predicted = ", ".join(
        quote(c) for c in ("predicted_by_id", "predicted_label", "predicted_confidence", "predicted_scores")
    )
    return (
        f"WITH new_review AS (INSERT INTO {quote(Review._meta.db_table)} ({review_columns}) "
        f"VALUES {', '.join([row] * rows)} RETURNING id, effective_at, {predicted}, {quote('created_at')}), "
        f"ingest AS (INSERT INTO {quote(Prediction._meta.db_table)} ({prediction_columns}) "
        f"SELECT id, {predicted}, true, {quote('created_at')} FROM new_review), "
        f"queued AS (INSERT INTO {quote(OutboxMessage._meta.db_table)} ({outbox_columns}) "
        "SELECT %s, jsonb_build_array(jsonb_agg(id ORDER BY id)), '{}'::jsonb, %s, 0, '' FROM new_review) "
        "SELECT id, effective_at FROM new_review"
    )


# Below this many new rows the planner's statistics stay good enough until autovacuum's next analyze.
ANALYZE_AFTER_ROWS = 10_000


def analyze_after_bulk_load(connection, tables: Sequence[str], rows: int) -> bool:
    """ANALYZE `tables` after a bulk load of `rows` rows (PostgreSQL; True when it ran).

    COPY-loaded tables keep the statistics they had before until autovacuum analyzes them, and a server
    run with autovacuum off never does: the aspect report at 1M reviews took 1.9 s instead of 0.13 s
    on such stale statistics. ANALYZE samples a fixed number of rows, so it costs seconds at 1M rows.
    """
    if connection.vendor != "postgresql" or rows < ANALYZE_AFTER_ROWS:
        return False
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
    return True
