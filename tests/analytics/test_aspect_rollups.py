"""The aspect rollups (analytics.aspect_rollups) give exactly the report's answer over ReviewAspect alone,
and every write of aspect rows (extraction, staff corrections, moved and deleted reviews) shows at once."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from analytics import aspect_rollups, rollup_engine
from analytics.aspect_report import BASE_TABLE, COPIES, _report, aspect_report
from analytics.models import (
    AspectRollupDirtyDay,
    AspectRollupState,
    DailyAspectRatingRollup,
    DailyAspectReviewRollup,
    DailyAspectRollup,
    MonthlyBusinessAspectRollup,
)
from analytics.tasks import rebuild_aspect_rollups, refresh_aspect_rollups
from project.views import parse_date
from reviews.aspects import StaffAspect, review_aspects_sync_filters, review_set_staff_aspects
from reviews.filters import ReviewFilters as AspectFilters
from reviews.models import Review, ReviewAspect
from reviews.services import review_delete
from training.aspect_extraction import review_extract_aspects

pytestmark = pytest.mark.django_db(transaction=True)

SOURCES = ["google", "yelp", "api"]
BUSINESSES = ["Roma", "Milano", "", "roma"]
RATINGS = [None, Decimal("1"), Decimal("1.5"), Decimal("2"), Decimal("3"), Decimal("4.5"), Decimal("5")]
CATEGORIES = ["food quality", "menu and options", "drinks", "service and staff", "speed and waiting",
              "price and value", "ambience and noise", "cleanliness", "location and parking", "general"]  # fmt: skip
POLARITIES = ["positive", "negative", "neutral", "conflict"]
SUGGESTIONS = ["Please add parking.", "They should add parking!", "Lower the prices", "lower the prices please"]


def make_reviews(rng: random.Random, count: int, *, days_back: int = 420) -> list[Review]:
    """Reviews over `days_back` local days, many at or next to local midnight, some without a
    review_date (they count now), a few in the future; 1-5 aspect rows each, some suggestions."""
    tz = timezone.get_default_timezone()
    today = timezone.localdate()
    reviews = []
    for index in range(count):
        day = today - dt.timedelta(days=rng.choice([rng.randrange(days_back), rng.randrange(100), rng.randrange(3)]))
        midnight = timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz)
        moment = rng.choice(
            [
                midnight + dt.timedelta(seconds=rng.randrange(86_400)),
                midnight + dt.timedelta(seconds=rng.randrange(86_400)),
                midnight,
                midnight - dt.timedelta(microseconds=1),
                None,
                timezone.now() + dt.timedelta(days=rng.randrange(1, 4)),
            ]
        )
        reviews.append(
            Review(
                text=f"review {index}",
                source=rng.choice(SOURCES),
                business=rng.choice(BUSINESSES),
                rating=rng.choice(RATINGS),
                review_date=moment,
            )
        )
    reviews = Review.objects.bulk_create(reviews)
    rows = []
    for review in reviews:
        for _ in range(rng.randrange(0, 5)):
            rows.append(
                ReviewAspect(
                    review_id=review.pk,
                    sentence=f"sentence {rng.randrange(50)}",
                    category=rng.choice(CATEGORIES),
                    polarity=rng.choice(POLARITIES),
                    confidence=round(rng.random(), 3),
                )
            )
        if rng.random() < 0.3:
            rows.append(
                ReviewAspect(
                    review_id=review.pk,
                    sentence=rng.choice(SUGGESTIONS),
                    category=rng.choice(CATEGORIES + ["general"]),
                    polarity="negative",
                    is_suggestion=True,
                )
            )
    ReviewAspect.objects.bulk_create(rows)
    return reviews


def scopes() -> list[AspectFilters]:
    today = timezone.localdate()
    now = timezone.now()
    iso = lambda days: (today - dt.timedelta(days=days)).isoformat()  # noqa: E731
    return [
        AspectFilters(),
        AspectFilters(source="google"),
        AspectFilters(source="nowhere"),
        AspectFilters(business="Roma"),
        AspectFilters(business="Roma", source="yelp", rating_min=2),
        AspectFilters(rating_max=2),
        AspectFilters(rating_min=1.5, rating_max=4.5, source="api"),
        AspectFilters(date_from=parse_date(iso(30)), date_to=parse_date(iso(2))),
        AspectFilters(date_from=parse_date(iso(0)), date_to=parse_date(iso(0))),
        AspectFilters(date_from=now - dt.timedelta(days=45, hours=7), date_to=now - dt.timedelta(days=3, hours=2)),
        AspectFilters(date_from=now - dt.timedelta(hours=30), date_to=now + dt.timedelta(days=2)),
        AspectFilters(date_from=now - dt.timedelta(days=730), date_to=now),
        AspectFilters(date_from=now - dt.timedelta(days=730), date_to=now, business="Milano"),
        AspectFilters(date_from=parse_date(iso(200)), date_to=parse_date(iso(100)), business="roma"),
        AspectFilters(date_from=now - dt.timedelta(days=123, minutes=17), business="Roma", rating_max=3),
        AspectFilters(date_from=parse_date(iso(40)), date_to=parse_date(iso(41))),
    ]


def assert_same_as_the_aspect_rows(*, expect_rollup: bool = True, filters_list=None) -> None:
    now = timezone.now()
    for filters in filters_list or scopes():
        expected = _report(filters, now, BASE_TABLE)
        assert _report(filters, now, COPIES) == expected, filters
        if expect_rollup:
            assert aspect_rollups.coverage("month" if filters.business else "day") is not None
        assert aspect_report(filters=filters, now=now) == expected, filters


@pytest.fixture(params=["UTC", "America/New_York", "Asia/Kolkata"])
def zone(request, settings):
    settings.TIME_ZONE = request.param
    return request.param


def test_the_report_from_the_rollups_equals_the_report_from_the_aspect_rows(zone):
    make_reviews(random.Random(zone), 500)
    aspect_rollups.aspect_rollup_rebuild_all()
    assert DailyAspectRollup.objects.exists() and MonthlyBusinessAspectRollup.objects.exists()
    assert DailyAspectReviewRollup.objects.exists() and DailyAspectRatingRollup.objects.exists()
    assert AspectRollupState.objects.get().covered_until == timezone.localdate()
    report = aspect_report(filters=AspectFilters())
    assert report["aspects"] and report["suggestions"] and report["aspect_reviews"]
    assert_same_as_the_aspect_rows()


def test_the_rollups_answer_whole_days_and_the_rows_the_partial_ones():
    aspect_rollups.aspect_rollup_rebuild_all()
    today = timezone.localdate()
    cover = aspect_rollups.coverage("day")
    start = rollup_engine.day_start(today - dt.timedelta(days=10)) + dt.timedelta(hours=5)
    end = rollup_engine.day_start(today - dt.timedelta(days=2)) + dt.timedelta(hours=1)
    split = aspect_rollups.split(cover, start, end, end_inclusive=True)
    assert split.runs == ((today - dt.timedelta(days=9), today - dt.timedelta(days=2)),)
    assert split.live is not None
    # A changed day in the middle is read from the rows, on both sides of it from the rollup.
    aspect_rollups.aspect_rollup_mark_dirty([rollup_engine.day_start(today - dt.timedelta(days=5))])
    split = aspect_rollups.split(aspect_rollups.coverage("day"), start, end, end_inclusive=True)
    assert split.runs == (
        (today - dt.timedelta(days=9), today - dt.timedelta(days=5)),
        (today - dt.timedelta(days=4), today - dt.timedelta(days=2)),
    )
    assert aspect_rollups.split(cover, start, start + dt.timedelta(hours=3), end_inclusive=True).runs == ()
    # Today is never read from the rollup.
    assert aspect_rollups.split(cover, start, timezone.now(), end_inclusive=True).runs[-1][1] == today


def test_changes_show_at_once_and_a_refresh_folds_them_in(zone):
    reviews = make_reviews(random.Random(7), 300)
    aspect_rollups.aspect_rollup_rebuild_all()
    now = timezone.now()
    old = [r for r in Review.objects.filter(pk__in=[r.pk for r in reviews]).order_by("id") if r.effective_at < now]
    assert not AspectRollupDirtyDay.objects.exists()

    # Staff correct an old review, extraction runs on another, one moves days, business and rating, one goes.
    review_set_staff_aspects(
        review=old[0], aspects=[StaffAspect("price", "negative"), StaffAspect("service", "positive")]
    )
    Review.objects.filter(pk=old[1].pk).update(text="Great food but the service was slow and rude!")
    review_extract_aspects([old[1].pk])
    Review.objects.filter(pk=old[2].pk).update(
        review_date=now - dt.timedelta(days=61, hours=3), business="Milano", rating=Decimal("1")
    )
    review_aspects_sync_filters(review_ids=[old[2].pk])
    review_delete(review=old[3])
    assert AspectRollupDirtyDay.objects.exists()
    assert_same_as_the_aspect_rows()

    assert refresh_aspect_rollups.delay().get() == str(timezone.localdate())
    assert not AspectRollupDirtyDay.objects.exists()
    assert_same_as_the_aspect_rows()


def test_staff_rows_replace_the_model_rows_in_the_report():
    review = Review.objects.create(
        text="Great food but the service was slow and rude!", review_date=timezone.now() - dt.timedelta(days=20)
    )
    review_extract_aspects([review.pk])
    aspect_rollups.aspect_rollup_rebuild_all()

    def counts() -> dict:
        report = aspect_report(filters=AspectFilters())
        return {(a["category"], a["positive"], a["negative"], a["conflict"]) for a in report["aspects"]}

    assert counts() == {("food quality", 1, 0, 0), ("service and staff", 0, 1, 0), ("speed and waiting", 0, 1, 0)}
    review_set_staff_aspects(review=review, aspects=[StaffAspect("service and staff", "conflict")])
    assert counts() == {("service and staff", 0, 0, 1)}
    refresh_aspect_rollups.delay()
    assert counts() == {("service and staff", 0, 0, 1)}
    review_extract_aspects([review.pk])  # e.g. a newly promoted aspect model
    assert counts() == {("service and staff", 0, 0, 1)}
    assert aspect_report(filters=AspectFilters())["aspect_reviews"] == 1
    assert_same_as_the_aspect_rows(filters_list=[AspectFilters()])


def test_a_mark_made_during_a_refresh_survives_it():
    day = timezone.now() - dt.timedelta(days=9)
    aspect_rollups.aspect_rollup_mark_dirty([day])
    read = rollup_engine.read_marks(AspectRollupDirtyDay)
    aspect_rollups.aspect_rollup_mark_dirty([day])  # a writer commits after the refresh read the marks
    rollup_engine.clear_marks(AspectRollupDirtyDay, read)
    assert list(AspectRollupDirtyDay.objects.values_list("day", flat=True)) == [rollup_engine.local_day(day)]
    rollup_engine.clear_marks(AspectRollupDirtyDay, rollup_engine.read_marks(AspectRollupDirtyDay))
    assert not AspectRollupDirtyDay.objects.exists()


def test_a_lagging_rollup_is_completed_from_the_rows_and_refresh_catches_up():
    make_reviews(random.Random(3), 300, days_back=20)
    aspect_rollups.aspect_rollup_rebuild_all()
    today = timezone.localdate()
    # As if beat stopped five days ago: those days' rows are stale (here: gone) but not covered.
    AspectRollupState.objects.update(covered_until=today - dt.timedelta(days=5))
    DailyAspectRollup.objects.filter(day__gte=today - dt.timedelta(days=5)).delete()
    assert_same_as_the_aspect_rows()
    refresh_aspect_rollups.delay()
    assert AspectRollupState.objects.get().covered_until == today
    assert DailyAspectRollup.objects.filter(day=today - dt.timedelta(days=3)).exists()
    assert_same_as_the_aspect_rows()


def test_no_rollup_yet_another_time_zone_or_rollups_off_read_the_rows(settings):
    make_reviews(random.Random(4), 200)
    assert aspect_rollups.coverage("day") is None
    assert_same_as_the_aspect_rows(expect_rollup=False)

    rebuild_aspect_rollups.delay()
    with timezone.override("Asia/Tokyo"):
        assert aspect_rollups.coverage("day") is None
        assert_same_as_the_aspect_rows(expect_rollup=False)
    settings.ANALYTICS_ROLLUPS = False
    assert aspect_rollups.coverage("day") is None
    settings.ANALYTICS_ROLLUPS = True
    settings.TIME_ZONE = "Europe/Berlin"  # the rollup was built in UTC days
    assert aspect_rollups.coverage("month") is None
    assert_same_as_the_aspect_rows(expect_rollup=False)
    refresh_aspect_rollups.delay()  # rebuilds everything in the new zone
    assert AspectRollupState.objects.get().time_zone == "Europe/Berlin"
    assert_same_as_the_aspect_rows()


def test_rebuild_command(zone):
    make_reviews(random.Random(6), 200)
    out = StringIO()
    call_command("rebuild_rollups", "--only", "aspects", stdout=out)
    assert "Aspect rollups rebuilt" in out.getvalue() and "Rollups rebuilt" not in out.getvalue()
    # Rows changed behind the services' back (no marks): right again once their days are rebuilt.
    changed = list(ReviewAspect.objects.filter(review__review_date__isnull=False).order_by("id")[:40])
    ReviewAspect.objects.filter(pk__in=[a.pk for a in changed]).update(polarity="conflict")
    days = sorted({rollup_engine.local_day(a.review_effective_at) for a in changed})
    now = timezone.now()
    two_years = AspectFilters(date_from=now - dt.timedelta(days=730), date_to=now)
    if days[0] < timezone.localdate():  # until then, those days show the rollup as built
        assert aspect_report(filters=two_years, now=now) != _report(two_years, now, BASE_TABLE)
    call_command("rebuild_rollups", *[f"--day={day}" for day in days], stdout=StringIO())
    assert_same_as_the_aspect_rows()


def test_a_refresh_with_changes_in_many_months_rebuilds_everything():
    make_reviews(random.Random(8), 150)
    first = aspect_rollups.aspect_rollup_rebuild_all().full_built_at
    aspect_rollups.aspect_rollup_mark_dirty(
        [timezone.now() - dt.timedelta(days=31 * months) for months in range(rollup_engine.FULL_REBUILD_MONTHS + 2)]
    )
    assert aspect_rollups.aspect_rollup_refresh().full_built_at > first
    assert not AspectRollupDirtyDay.objects.exists()
    assert_same_as_the_aspect_rows(filters_list=scopes()[:4])
