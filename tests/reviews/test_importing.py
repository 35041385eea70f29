"""The import write path (COPY on PostgreSQL) stores exactly what the ORM path stores."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from reviews import services, sql
from reviews.imports import store as importing
from reviews.models import Prediction, Review
from reviews.schemas import ReviewIn

pytestmark = pytest.mark.django_db

REVIEW_FIELDS = [
    "text", "source", "rating", "business", "author", "review_date", "language", "is_english", "effective_at",
    "predicted_label", "predicted_confidence", "predicted_scores", "predicted_by_id", "human_label",
]  # fmt: skip


def items(source: str) -> list[ReviewIn]:
    return [
        ReviewIn(text="The pasta was superb and the staff lovely.", source=source, rating=Decimal("5"),
                 business="Trattoria", author="Ann", external_id="a1",
                 review_date=datetime(2026, 3, 1, 12, tzinfo=UTC)),
        ReviewIn(text="Cold soup, rude waiter. Never again.", source=source, rating=Decimal("1.5"), external_id="a2"),
        ReviewIn(text="khana bahut accha tha aur service bhi mast thi", source=source),
        ReviewIn(text="It was fine, nothing special.", source=source, business="Diner"),
    ]  # fmt: skip


def stored(source: str) -> list[dict]:
    fields = [field for field in REVIEW_FIELDS if field != "source"]
    return list(Review.objects.filter(source=source).order_by("pk").values(*fields))


def ingest_predictions(source: str) -> list[tuple]:
    return list(
        Prediction.objects.filter(review__source=source, is_ingest=True)
        .order_by("review_id")
        .values_list("model_version_id", "label", "confidence", "scores")
    )


@pytest.fixture
def queued(monkeypatch) -> list[list[int]]:
    calls: list[list[int]] = []
    monkeypatch.setattr(services, "_enqueue_aspect_extraction", lambda ids: calls.append(list(ids)))
    return calls


def test_imported_rows_equal_what_the_orm_path_stores(queued):
    copied = importing.reviews_import(items=items("copy"))
    through_orm = services.review_bulk_create(items=items("orm"))

    assert [r.created for r in copied] == [True] * 4
    assert len(through_orm) == 4
    assert_same_rows(stored("copy"), stored("orm"))
    assert ingest_predictions("copy") == ingest_predictions("orm")
    assert [r.review_id for r in copied] == [r.pk for r in Review.objects.filter(source="copy").order_by("pk")]


def assert_same_rows(left: list[dict], right: list[dict]) -> None:
    """Without a review date, effective_at is the arrival time, which differs between two imports."""
    assert len(left) == len(right) == 4
    for a, b in zip(left, right, strict=True):
        if a["review_date"] is None:
            a, b = {**a, "effective_at": None}, {**b, "effective_at": None}
        assert a == b


def test_reviews_already_stored_and_repeats_inside_a_batch_are_not_created_again(queued):
    first = importing.reviews_import(items=items("again"))
    batch = items("again") + [ReviewIn(text="Another copy of a1", source="again", external_id="a1")]

    second = importing.reviews_import(items=batch)

    assert [r.created for r in second] == [False, False, True, True, False]
    assert second[0].review_id == first[0].review_id
    assert second[4].review_id == first[0].review_id
    assert Review.objects.filter(source="again").count() == 6  # the two texts without an external id twice


def test_a_concurrent_writer_of_the_same_ids_sends_the_batch_through_the_orm(queued, monkeypatch):
    importing.reviews_import(items=items("race")[:1])
    monkeypatch.setattr(importing, "_existing_ids", lambda batch: {})  # as if checked before the other insert

    results = importing.reviews_import(items=items("race")[:2])

    assert [r.created for r in results] == [False, True]
    assert Review.objects.filter(source="race").count() == 2


def test_every_imported_batch_queues_its_aspect_extraction(queued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        results = importing.reviews_import(items=items("aspects"))

    created = [r.review_id for r in results if r.created]
    assert sorted(id for call in queued for id in call) == sorted(created)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the COPY path is PostgreSQL's")
def test_a_new_required_column_cannot_be_forgotten_by_the_copy():
    with pytest.raises(RuntimeError, match="NOT NULL without a database default"):
        sql.checked_columns(Review, [c for c in sql.REVIEW_COLUMNS if c != "language"])


class TestASingleReviewInOneStatement:
    """POST /api/reviews/ stores a review with one SQL statement on PostgreSQL when tasks go to a broker."""

    pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="the one-statement path is PostgreSQL's")

    def create(self, source: str, *, inline: bool) -> services.CreateResult:
        from project.celery import app

        app.conf.task_always_eager = inline  # restored by the autouse fixture in conftest
        item = items(source)[0]
        return services.review_create(data=item)

    def test_it_stores_what_the_orm_stores(self):
        one_statement = self.create("one", inline=False)
        through_orm = self.create("orm", inline=True)

        assert one_statement.created and through_orm.created
        assert stored("one") == stored("orm")
        assert ingest_predictions("one") == ingest_predictions("orm")
        review = Review.objects.get(source="one")
        assert (one_statement.review.pk, one_statement.review.effective_at) == (review.pk, review.effective_at)

    def test_its_aspect_extraction_waits_for_the_relay(self):
        from project.outbox.models import OutboxMessage

        result = self.create("queued", inline=False)

        message = OutboxMessage.objects.get(args=[[result.review.pk]])
        assert (message.task, message.kwargs) == ("reviews.extract_fresh_aspects", {})  # a row here is pending
        assert message.attempts == 0

    def test_the_same_external_id_again_returns_the_stored_review(self):
        first = self.create("twice", inline=False)
        second = self.create("twice", inline=False)

        assert not second.created and second.review.pk == first.review.pk
        assert Review.objects.filter(source="twice").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="ANALYZE is PostgreSQL's")
def test_a_large_bulk_load_leaves_the_planner_fresh_statistics():
    from tests.factories import ReviewFactory

    ReviewFactory.create_batch(3)

    assert not sql.analyze_after_bulk_load(connection, ["reviews_review"], rows=sql.ANALYZE_AFTER_ROWS - 1)
    assert sql.analyze_after_bulk_load(connection, ["reviews_review"], rows=sql.ANALYZE_AFTER_ROWS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'reviews_review'")
        assert cursor.fetchone()[0] == 3
