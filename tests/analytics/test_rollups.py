"""The dashboard rollups (analytics.rollups) give exactly the reviews-table answers."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics import charts, rollup_engine, rollups, selectors
from analytics.models import DailyReviewRollup, MonthlyBusinessRollup, RollupState
from analytics.tasks import refresh_rollups
from project.views import parse_date
from reviews.filters import ReviewFilters as ScopeFilters
from reviews.models import Review

pytestmark = pytest.mark.django_db

SOURCES = ["google", "yelp", "api", "tripadvisor"]
BUSINESSES = ["Alpha", "beta", "Gamma Grill", "", "Zeta", "alpha"]
LABELS = ["positive", "neutral", "negative", None]
RATINGS = [None, Decimal("1"), Decimal("1.5"), Decimal("2"), Decimal("3"), Decimal("4.5"), Decimal("5")]


def make_reviews(rng: random.Random, count: int, *, days_back: int = 400) -> list[Review]:
    """Reviews over `days_back` local days, many right at local midnight, some without a
    review_date (they count today), a few in the future."""
    tz = timezone.get_default_timezone()
    today = timezone.localdate()
    reviews = []
    for index in range(count):
        day = today - dt.timedelta(days=rng.choice([rng.randrange(days_back), rng.randrange(3), 0]))
        midnight = timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz)
        moment = rng.choice(
            [
                midnight + dt.timedelta(seconds=rng.randrange(86_400)),
                midnight,
                midnight - dt.timedelta(seconds=1),
                midnight + dt.timedelta(microseconds=1),
                None,
                timezone.now() + dt.timedelta(days=rng.randrange(1, 5)),
            ]
        )
        reviews.append(
            Review(
                text=f"review {index}",
                source=rng.choice(SOURCES),
                business=rng.choice(BUSINESSES),
                rating=rng.choice(RATINGS),
                review_date=moment,
                predicted_label=rng.choice(LABELS),
                human_label=rng.choice(LABELS + [None, None]),
            )
        )
    return Review.objects.bulk_create(reviews)


def scopes() -> list[ScopeFilters]:
    today = timezone.localdate()
    now = timezone.now()
    iso = lambda days: (today - dt.timedelta(days=days)).isoformat()  # noqa: E731
    return [
        ScopeFilters(),
        ScopeFilters(source="google"),
        ScopeFilters(source="nowhere"),
        ScopeFilters(business="Alpha"),
        ScopeFilters(date_from=parse_date(iso(30)), date_to=parse_date(iso(2))),
        ScopeFilters(source="yelp", date_from=parse_date(iso(200))),
        ScopeFilters(date_to=parse_date(iso(5))),
        ScopeFilters(date_from=parse_date(iso(0)), date_to=parse_date(iso(0))),
        ScopeFilters(date_from=now - dt.timedelta(days=45, hours=7), date_to=now - dt.timedelta(days=3, hours=2)),
        ScopeFilters(date_from=now - dt.timedelta(hours=30), date_to=now + dt.timedelta(days=2)),
        ScopeFilters(date_from=now - dt.timedelta(days=500), date_to=now - dt.timedelta(days=399, minutes=5)),
        ScopeFilters(date_from=parse_date(iso(40)), date_to=parse_date(iso(41))),
    ]


def answers(filters: ScopeFilters) -> dict:
    return {
        "distribution": charts.distribution(filters),
        **{f"trend {g}": charts.trend(filters, g) for g in ("day", "week", "month", "bogus")},
        "by source": charts.by_field(filters, "source"),
        "by business": charts.by_field(filters, "business"),
        "rating vs predicted": charts.rating_vs_predicted(filters),
        "dashboard": selectors.dashboard(filters=filters),
        "dashboard 7 days": selectors.dashboard(filters=filters, trend_days=7),
    }


def assert_same_as_reviews_table(settings, *, expect_rollup: bool = True) -> None:
    for filters in scopes():
        settings.ANALYTICS_ROLLUPS = False
        expected = answers(filters)
        settings.ANALYTICS_ROLLUPS = True
        if expect_rollup and not filters.business:
            assert rollups.plan(None, None) is not None
        assert answers(filters) == expected, filters


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])
def zone(request, settings):
    settings.TIME_ZONE = request.param
    return request.param


def test_rollup_answers_equal_the_reviews_table(settings, zone):
    make_reviews(random.Random(zone), 600)
    rollups.rollup_rebuild_all()
    assert DailyReviewRollup.objects.exists() and MonthlyBusinessRollup.objects.exists()
    assert RollupState.objects.get().covered_until == timezone.localdate()
    assert_same_as_reviews_table(settings)


def test_reviews_created_today_after_a_rebuild_count_at_once(settings):
    rng = random.Random(1)
    make_reviews(rng, 300)
    rollups.rollup_rebuild_all()
    fresh = [
        Review(text=f"new {i}", source=rng.choice(SOURCES), business="New", predicted_label="negative")
        for i in range(25)
    ]
    Review.objects.bulk_create(fresh)
    assert_same_as_reviews_table(settings)


def test_relabelled_and_deleted_reviews_after_rebuilding_their_days(settings, zone):
    make_reviews(random.Random(2), 400)
    rollups.rollup_rebuild_all()
    changed = list(Review.objects.exclude(review_date=None).order_by("id")[:60])
    Review.objects.filter(pk__in=[r.pk for r in changed[:30]]).update(human_label="neutral", predicted_label="positive")
    Review.objects.filter(pk__in=[r.pk for r in changed[30:]]).delete()

    # Until their days are rebuilt, older days show the rollup as built (documented staleness) ...
    settings.ANALYTICS_ROLLUPS = False
    expected = charts.distribution(ScopeFilters())
    settings.ANALYTICS_ROLLUPS = True
    if any(timezone.localtime(r.review_date).date() < timezone.localdate() for r in changed):
        assert charts.distribution(ScopeFilters()) != expected

    # ... and exactly the reviews table once they are.
    rollups.rollup_rebuild_days({timezone.localtime(r.review_date).date() for r in changed})
    assert_same_as_reviews_table(settings)


def test_a_lagging_rollup_is_completed_from_the_reviews_table_and_refresh_catches_up(settings):
    make_reviews(random.Random(3), 400, days_back=20)
    rollups.rollup_rebuild_all()
    today = timezone.localdate()
    # As if beat stopped five days ago: those days' rows are stale (here: gone) but not covered.
    RollupState.objects.update(covered_until=today - dt.timedelta(days=5))
    DailyReviewRollup.objects.filter(day__gte=today - dt.timedelta(days=5)).delete()
    assert_same_as_reviews_table(settings)

    assert refresh_rollups.delay().get() == str(today)
    assert RollupState.objects.get().covered_until == today
    assert DailyReviewRollup.objects.filter(day=today - dt.timedelta(days=3)).exists()
    assert_same_as_reviews_table(settings)


def test_no_rollup_yet_or_another_time_zone_reads_the_reviews_table(settings):
    make_reviews(random.Random(4), 200)
    assert rollups.plan(None, None) is None
    assert_same_as_reviews_table(settings, expect_rollup=False)

    rollups.rollup_rebuild_all()
    with timezone.override("Asia/Tokyo"):
        assert rollups.plan(None, None) is None
        assert_same_as_reviews_table(settings, expect_rollup=False)
    settings.TIME_ZONE = "Europe/Berlin"  # the rollup was built in UTC days
    assert rollups.plan(None, None) is None
    assert_same_as_reviews_table(settings, expect_rollup=False)


def test_refresh_without_a_full_build_builds_everything(settings):
    make_reviews(random.Random(5), 200)
    refresh_rollups.delay()
    assert RollupState.objects.get().full_built_at is not None
    assert_same_as_reviews_table(settings)


def test_rebuild_command(settings, zone):
    make_reviews(random.Random(6), 200)
    call_command("rebuild_rollups")
    Review.objects.filter(review_date__isnull=False).update(predicted_label="neutral")
    days = sorted({timezone.localtime(d).date() for d in Review.objects.values_list("review_date", flat=True) if d})
    call_command("rebuild_rollups", *[f"--day={day}" for day in days])
    assert_same_as_reviews_table(settings)


def test_plan_splits_partial_days():
    rollups.rollup_rebuild_all()
    today = timezone.localdate()
    start = rollup_engine.day_start(today - dt.timedelta(days=10)) + dt.timedelta(hours=5)
    end = rollup_engine.day_start(today - dt.timedelta(days=2)) + dt.timedelta(hours=1)
    plan = rollups.plan(start, end)
    assert (plan.lo, plan.hi) == (today - dt.timedelta(days=9), today - dt.timedelta(days=2))
    assert rollups.plan(start, start + dt.timedelta(hours=3)) is None
    assert rollups.plan(None, None).hi == today
