"""Every write path leaves the dashboard equal to the reviews table at once, whatever the reviews' dates:
writes mark the days they touch (analytics.rollups.rollup_mark_dirty), the charts read marked days live,
and an import rebuilds what it marked when it ends."""

from __future__ import annotations

import csv
import datetime as dt
import random
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics import rollup_engine, rollups
from analytics.models import DailyReviewRollup, RollupDirtyDay
from reviews.models import Review
from reviews.schemas import ReviewIn
from reviews.services import (
    review_bulk_create,
    review_bulk_label,
    review_create,
    review_delete,
    review_label,
    review_unlabel,
)
from tests.analytics.test_rollups import assert_same_as_reviews_table, make_reviews
from training.registry import model_version_ensure_baseline
from training.rescoring import review_rescore_batch

pytestmark = pytest.mark.django_db


def years_ago(years: int, day: int = 0) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=365 * years + day)


def test_labels_relabels_and_unlabels_on_old_days_count_at_once(settings):
    make_reviews(random.Random(11), 300)
    rollups.rollup_rebuild_all()
    old = list(Review.objects.filter(review_date__lt=timezone.now() - dt.timedelta(days=3)).order_by("id")[:40])

    for review in old[:10]:
        review_label(review=review, label="negative", user_id=None)
    review_bulk_label(labels={review.pk: "neutral" for review in old[10:30]}, user_id=None)
    for review in old[30:]:
        review_unlabel(review=review, user_id=None)

    assert RollupDirtyDay.objects.exists()
    assert_same_as_reviews_table(settings)


def test_deleted_and_backdated_reviews_count_at_once(settings):
    make_reviews(random.Random(12), 300)
    rollups.rollup_rebuild_all()
    for review in Review.objects.filter(review_date__lt=timezone.now() - dt.timedelta(days=2)).order_by("id")[:15]:
        review_delete(review=review)
    review_create(data=ReviewIn(text="Cold soup, slow waiter", source="api", review_date=years_ago(3)))
    review_bulk_create(
        items=[
            ReviewIn(text=f"Lovely evening {i}", source="yelp", external_id=f"b{i}", review_date=years_ago(1, i * 13))
            for i in range(20)
        ]
    )

    assert_same_as_reviews_table(settings)


def test_rescoring_after_a_promotion_counts_at_once(settings):
    model_version_ensure_baseline()
    make_reviews(random.Random(13), 200)
    Review.objects.update(predicted_label=None)
    rollups.rollup_rebuild_all()
    champion = model_version_ensure_baseline()

    assert review_rescore_batch(model_version_id=champion.pk, after_id=0, size=500) is not None
    assert Review.objects.filter(predicted_label__isnull=False).exists()
    assert_same_as_reviews_table(settings)


def test_a_refresh_rebuilds_the_marked_days_and_clears_their_marks(settings):
    make_reviews(random.Random(14), 200)
    rollups.rollup_rebuild_all()
    review = Review.objects.filter(review_date__lt=timezone.now() - dt.timedelta(days=30)).first()
    review_label(review=review, label="positive", user_id=None)
    day = rollup_engine.local_day(review.effective_at)
    assert list(RollupDirtyDay.objects.values_list("day", flat=True)) == [day]

    rollups.rollup_refresh()

    assert not RollupDirtyDay.objects.exists()
    assert DailyReviewRollup.objects.filter(day=day, human_label="positive").exists()
    assert_same_as_reviews_table(settings)


def test_writes_on_today_mark_nothing():
    rollups.rollup_rebuild_all()
    review = review_create(data=ReviewIn(text="Great tacos", source="api")).review
    review_label(review=review, label="positive", user_id=None)
    assert not RollupDirtyDay.objects.exists()


def test_too_many_scattered_marks_read_the_whole_range_live(settings):
    make_reviews(random.Random(15), 300)
    rollups.rollup_rebuild_all()
    today = timezone.localdate()
    rollups.rollup_mark_dirty(
        rollup_engine.day_start(today - dt.timedelta(days=2 * i + 3)) for i in range(rollups.MAX_LIVE_RUNS + 5)
    )

    assert rollups.plan(None, None) is None
    assert rollups.plan(None, None, grain="month") is not None  # by month the marks fall in a few runs
    assert_same_as_reviews_table(settings, expect_rollup=False)


def test_rebuilding_the_marked_days_goes_by_whole_months():
    assert rollup_engine.month_runs([dt.date(2010, 1, 5), dt.date(2010, 2, 28), dt.date(2010, 4, 1)]) == [
        (dt.date(2010, 1, 1), dt.date(2010, 2, 28)),
        (dt.date(2010, 4, 1), dt.date(2010, 4, 30)),
    ]


@pytest.fixture
def old_reviews_csv(tmp_path):
    path = tmp_path / "yelp-2005-2013.csv"
    rng = random.Random(16)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["review_id", "stars", "text", "date", "business_id"])
        for i in range(240):
            day = dt.date(2005, 1, 1) + dt.timedelta(days=rng.randrange(9 * 365))
            stars = rng.choice([1, 2, 3, 4, 5])
            writer.writerow(
                [f"r{i}", stars, f"Visit {i}: the food was {['bad', 'fine', 'great'][stars // 2]}", day, "b1"]
            )
    return path


@pytest.mark.django_db(transaction=True)
def test_an_import_of_reviews_dated_years_ago_shows_on_the_dashboard_as_soon_as_it_returns(
    api, admin_headers, old_reviews_csv
):
    """No worker, no beat, no rebuild: the API equals a direct count when import_reviews returns."""
    make_reviews(random.Random(17), 50)
    rollups.rollup_rebuild_all()
    before = Review.objects.count()

    call_command(
        "import_reviews", str(old_reviews_csv), "--text-col", "text", "--rating-col", "stars", "--id-col",
        "review_id", "--date-col", "date", "--business-col", "business_id", "--source", "yelp", stdout=StringIO(),
        stderr=StringIO(),
    )  # fmt: skip

    assert Review.objects.count() == before + 240
    assert not RollupDirtyDay.objects.exists()  # the import rebuilt its days when it ended
    everything = api.get("/api/analytics/dashboard", headers=admin_headers).json()
    assert everything["total_reviews"] == Review.objects.count()
    ranged = api.get("/api/analytics/dashboard?date_from=2005-01-01&date_to=2013-12-31", headers=admin_headers).json()
    in_range = Review.objects.filter(
        effective_at__gte=rollup_engine.day_start(dt.date(2005, 1, 1)),
        effective_at__lt=rollup_engine.day_start(dt.date(2014, 1, 1)),
    )
    assert ranged["total_reviews"] == in_range.count() == 240
    assert ranged["by_predicted_label"] == {
        label: in_range.filter(predicted_label=label).count() for label in ("positive", "neutral", "negative")
    }
    assert sum(row["count"] for row in ranged["by_source"]) == 240


def test_a_marking_write_queues_the_rebuild_of_its_days_which_clears_them(settings):
    from analytics.tasks import rebuild_marked_rollup_days
    from project.outbox.models import OutboxMessage

    make_reviews(random.Random(18), 200)
    rollups.rollup_rebuild_all()
    review = Review.objects.filter(review_date__lt=timezone.now() - dt.timedelta(days=30)).first()
    review_label(review=review, label="negative", user_id=None)
    day = rollup_engine.local_day(review.effective_at)

    queued = OutboxMessage.objects.get(task=rollups.REBUILD_MARKED_TASK)
    assert queued.args == [[day.isoformat()]]
    assert rebuild_marked_rollup_days(*queued.args) == 1
    assert not RollupDirtyDay.objects.exists()
    assert rebuild_marked_rollup_days(*queued.args) == 0  # a day rebuilt since is not rebuilt again
    assert_same_as_reviews_table(settings)


@pytest.mark.django_db(transaction=True)
def test_a_backdated_review_posted_to_the_api_is_in_the_rollup_once_its_queued_rebuild_ran(
    api, admin_headers, settings
):
    rollups.rollup_rebuild_all()
    posted = api.post(
        "/api/reviews/",
        json={"text": "Slow service on a Friday", "source": "api", "review_date": "2019-05-03T19:00:00Z"},
        headers=admin_headers,
    )
    assert posted.status_code == 201

    # Tasks run inline here: the outbox row's task ran when the create committed.
    assert not RollupDirtyDay.objects.exists()
    assert DailyReviewRollup.objects.filter(day=dt.date(2019, 5, 3)).exists()
    body = api.get("/api/analytics/dashboard?date_from=2019-05-01&date_to=2019-05-31", headers=admin_headers).json()
    assert body["total_reviews"] == 1
