"""The review filter columns copied onto ReviewAspect (for the report at scale) stay equal to the review's."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from io import StringIO
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from analytics.aspect_report import BASE_TABLE, COPIES, _report, aspect_report
from reviews.aspects import StaffAspect, review_aspects_sync_filters, review_set_staff_aspects
from reviews.filters import ReviewFilters as AspectFilters
from reviews.models import Review, ReviewAspect
from training.aspect_extraction import review_extract_aspects
from training.aspects import get_aspect_model
from training.ml.text import split_sentences

COPY_OF = {
    "review_effective_at": "effective_at",
    "review_source": "source",
    "review_business": "business",
    "review_rating": "rating",
}


def assert_copies_match(review_ids=None):
    rows = ReviewAspect.objects.select_related("review")
    if review_ids is not None:
        rows = rows.filter(review_id__in=review_ids)
    assert rows.exists()
    for row in rows:
        row.review.refresh_from_db()
        for copy, column in COPY_OF.items():
            assert getattr(row, copy) == getattr(row.review, column), (row.pk, copy)


def test_extraction_copies_the_review_filter_columns(transactional_db):
    review = Review.objects.create(
        text="Great food but the service was slow and rude! Please add more staff.",
        source="google",
        business="Roma",
        rating=Decimal("4"),
        review_date=timezone.now() - dt.timedelta(days=3),
    )
    review_extract_aspects([review.pk])
    # food quality, service and staff, speed and waiting, and the suggestion
    assert ReviewAspect.objects.filter(review=review).count() == 4
    assert_copies_match()


def test_staff_aspects_copy_them_too(transactional_db):
    review = Review.objects.create(text="Nice.", source="yelp", business="Roma", rating=Decimal("2"))
    review_set_staff_aspects(review=review, aspects=[StaffAspect(category="food", polarity="negative")])
    assert_copies_match()
    # created_at stands in for a missing review_date
    assert ReviewAspect.objects.get(review=review).review_effective_at == review.created_at


def test_rows_written_without_the_copies_get_them_from_their_review(db):
    review = Review.objects.create(text="x", source="zomato", business="Pune Cafe", rating=Decimal("5"))
    ReviewAspect.objects.create(review=review, category="food", polarity="positive")
    ReviewAspect.objects.bulk_create([ReviewAspect(review_id=review.pk, category="service", polarity="negative")])
    assert_copies_match()


def test_a_changed_review_updates_its_aspect_rows(transactional_db):
    review = Review.objects.create(text="The waiter was rude. Great pasta.", source="api", business="Roma")
    other = Review.objects.create(text="The waiter was rude.", source="api", business="Roma")
    review_extract_aspects([review.pk, other.pk])
    review_set_staff_aspects(review=review, aspects=[StaffAspect(category="price", polarity="neutral")])
    Review.objects.filter(pk=review.pk).update(
        source="google", business="Milano", rating=Decimal("1"), review_date=timezone.now() - dt.timedelta(days=40)
    )
    assert review_aspects_sync_filters(review_ids=[review.pk]) == ReviewAspect.objects.filter(review=review).count()
    assert_copies_match()
    assert set(ReviewAspect.objects.filter(review=other).values_list("review_business", flat=True)) == {"Roma"}


def test_the_admin_change_form_syncs_the_copies(transactional_db):
    from django.contrib.admin.sites import site

    review = Review.objects.create(text="The waiter was rude.", business="Roma")
    review_extract_aspects([review.pk])
    admin = site._registry[Review]
    review.business, review.rating = "Milano", Decimal("3")
    admin.save_model(SimpleNamespace(user=None), review, SimpleNamespace(changed_data=["business", "rating"]), True)
    assert_copies_match()
    assert ReviewAspect.objects.get(review=review).review_business == "Milano"


def varied_reviews(n: int = 120, seed: int = 5) -> None:
    rng = random.Random(seed)
    now = timezone.now()
    texts = [
        "Great food but the service was slow and rude!",
        "The waiter was rude.",
        "Prices are too high, please lower them.",
        "Lovely ambience and friendly staff.",
        "The pasta was cold. I wish they had parking.",
        "Good value. The room was noisy.",
    ]
    reviews = Review.objects.bulk_create(
        [
            Review(
                text=f"{rng.choice(texts)} {rng.choice(texts)}",
                source=rng.choice(["google", "yelp", "api"]),
                business=rng.choice(["Roma", "Milano", ""]),
                rating=rng.choice([None, Decimal("1"), Decimal("2.5"), Decimal("4"), Decimal("5")]),
                review_date=None if rng.random() < 0.1 else now - dt.timedelta(days=rng.uniform(0, 200)),
            )
            for _ in range(n)
        ]
    )
    review_extract_aspects([r.pk for r in reviews])


@pytest.mark.parametrize(
    "filters",
    [
        AspectFilters(),
        AspectFilters(business="Roma"),
        AspectFilters(source="google", rating_min=2, rating_max=4.5),
        AspectFilters(rating_max=2),
        AspectFilters(date_from=timezone.now() - dt.timedelta(days=180), date_to=timezone.now()),
    ],
    ids=["default", "business", "source+rating", "low ratings", "180 days"],
)
def test_report_from_the_copies_equals_the_report_through_the_join(transactional_db, filters):
    varied_reviews()
    now = timezone.now()
    from_copies = _report(filters, now, COPIES)
    assert from_copies["aspects"], "the data set should produce aspects in every scope"
    assert from_copies == _report(filters, now, BASE_TABLE)
    assert aspect_report(filters=filters, now=now) == from_copies


def test_report_follows_a_review_moved_to_another_business(transactional_db):
    review = Review.objects.create(text="The waiter was rude.", business="Roma")
    review_extract_aspects([review.pk])
    assert aspect_report(filters=AspectFilters(business="Roma"))["aspects"][0]["negative"] == 1
    Review.objects.filter(pk=review.pk).update(business="Milano")
    review_aspects_sync_filters(review_ids=[review.pk])
    assert aspect_report(filters=AspectFilters(business="Roma"))["aspects"] == []
    assert aspect_report(filters=AspectFilters(business="Milano"))["aspects"][0]["negative"] == 1


@pytest.mark.skipif(not settings.SHARED_DATA_DIR.exists(), reason="shared data not present")
def test_generated_aspect_rows_are_what_extraction_stores(transactional_db):
    call_command("generate_reviews", "--count", "40", "--seed", "3", "--batch", "20", "--aspects", stdout=StringIO())
    generated = {
        review_id: sorted(
            ReviewAspect.objects.filter(review_id=review_id).values_list(
                "sentence", "category", "polarity", "confidence", "is_suggestion"
            )
        )
        for review_id in Review.objects.values_list("pk", flat=True)
    }
    assert sum(len(rows) for rows in generated.values()) >= 40
    assert_copies_match()
    review_extract_aspects(list(generated))
    for review_id, rows in generated.items():
        extracted = sorted(
            ReviewAspect.objects.filter(review_id=review_id).values_list(
                "sentence", "category", "polarity", "confidence", "is_suggestion"
            )
        )
        assert extracted == rows, review_id


@pytest.mark.skipif(not settings.SHARED_DATA_DIR.exists(), reason="shared data not present")
def test_aspects_only_fills_reviews_without_aspects(transactional_db):
    call_command("generate_reviews", "--count", "30", "--seed", "4", "--batch", "30", stdout=StringIO())
    assert not ReviewAspect.objects.exists()
    call_command("generate_reviews", "--aspects-only", "--batch", "7", stdout=StringIO())
    without = set(Review.objects.values_list("pk", flat=True)) - set(
        ReviewAspect.objects.values_list("review_id", flat=True)
    )
    # Only a review with no theme at all ("Not always brand will work..") is left without rows.
    themes = get_aspect_model()
    assert len(without) < Review.objects.count()
    texts_without = Review.objects.filter(pk__in=without).values_list("text", flat=True)
    assert not any(any(themes.predict(split_sentences(text))) for text in texts_without)
    assert_copies_match()
    before = ReviewAspect.objects.count()
    call_command("generate_reviews", "--aspects-only", stdout=StringIO())
    assert ReviewAspect.objects.count() == before  # nothing left to do
