"""Default periods follow the data: with no dates, pages and trends open on the window that ends at the
newest review (analytics.periods), say so when that lies before today's window, and report the dates used."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from analytics.periods import bucket_for, resolve_period
from reviews.aspects import StaffAspect, review_set_staff_aspects
from tests.factories import ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db

NEWEST = dt.date(2013, 6, 30)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


@pytest.fixture
def yelp_history():
    """Reviews from 2005 to mid-2013: 10 in the 90 days up to the newest one, 30 before."""
    reviews = [ReviewFactory(review_date=at(NEWEST - dt.timedelta(days=9 * i))) for i in range(10)]
    reviews += [ReviewFactory(review_date=at(dt.date(2005, 1, 1) + dt.timedelta(days=90 * i))) for i in range(30)]
    return reviews


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_default_window_ends_at_the_newest_review_and_says_it_moved(yelp_history):
    period = resolve_period({})

    assert (period.date_from, period.date_to) == (NEWEST - dt.timedelta(days=89), NEWEST)
    assert period.follows_data and period.days == 90
    assert resolve_period({"period": "all"}).date_from == dt.date(2005, 1, 1)
    assert resolve_period({"date_from": "2010-01-01"}).choice == "custom"


def test_a_window_that_holds_recent_reviews_ends_at_the_newest_and_does_not_warn():
    ReviewFactory(review_date=timezone.now() - dt.timedelta(days=2))
    period = resolve_period({"period": "30"})
    assert period.date_to == timezone.localdate() - dt.timedelta(days=2)
    assert not period.follows_data


def test_trend_buckets_follow_the_span():
    day = dt.date(2013, 1, 1)
    assert bucket_for(day, day + dt.timedelta(days=89)) == "day"
    assert bucket_for(day, day + dt.timedelta(days=364)) == "week"
    assert bucket_for(day, day + dt.timedelta(days=3000)) == "month"


class TestDashboardApi:
    def test_with_no_dates_it_counts_every_review_and_trends_over_the_window_up_to_the_newest(
        self, api, admin_headers, yelp_history
    ):
        body = api.get("/api/analytics/dashboard", headers=admin_headers).json()

        assert body["total_reviews"] == 40
        assert (body["date_from"], body["date_to"]) == (None, None)
        assert body["trend"]["bucket"] == "day"
        assert body["trend"]["date_to"] == NEWEST.isoformat()
        assert sum(point["count"] for point in body["trend"]["points"]) == 10

    def test_a_range_of_years_trends_by_month_and_reports_its_dates(self, api, admin_headers, yelp_history):
        body = api.get("/api/analytics/dashboard?date_from=2005-01-01&date_to=2013-12-31", headers=admin_headers).json()

        assert (body["date_from"], body["date_to"]) == ("2005-01-01", "2013-12-31")
        assert body["trend"]["bucket"] == "month"
        assert sum(point["count"] for point in body["trend"]["points"]) == body["total_reviews"] == 40
        weekly = api.get("/api/analytics/dashboard?bucket=week", headers=admin_headers).json()["trend"]
        assert weekly["bucket"] == "week"

    @pytest.mark.parametrize("path", ["/api/analytics/dashboard", "/api/analytics/constructive-feedback"])
    def test_a_reversed_date_range_is_a_422_that_says_so(self, api, admin_headers, path):
        response = api.get(f"{path}?date_from=2013-02-01&date_to=2013-01-01", headers=admin_headers)

        assert response.status_code == 422
        assert "reversed" in response.text


def test_the_constructive_feedback_api_opens_on_the_window_up_to_the_newest_review(api, admin_headers, yelp_history):
    body = api.get("/api/analytics/constructive-feedback", headers=admin_headers).json()

    assert (body["date_from"], body["date_to"]) == ((NEWEST - dt.timedelta(days=89)).isoformat(), NEWEST.isoformat())
    given = api.get("/api/analytics/constructive-feedback?date_from=2006-01-01", headers=admin_headers).json()
    assert given["date_from"] == "2006-01-01"


class TestPages:
    def test_the_dashboard_opens_on_the_window_up_to_the_newest_review_and_says_so(self, staff, yelp_history):
        response = staff.get("/")

        assert response.status_code == 200
        assert response.context["charts"]["distribution"]["total"] == 10
        html = response.content.decode()
        assert "No reviews in the last 90 days" in html and "30 Jun 2013" in html
        assert "All time" in html
        assert staff.get("/?period=all").context["charts"]["distribution"]["total"] == 40

    def test_the_dashboard_picks_a_trend_bucket_for_the_span(self, staff, yelp_history):
        assert staff.get("/").context["granularity"] == "day"
        assert staff.get("/?period=all").context["granularity"] == "month"
        assert staff.get("/?period=all&granularity=week").context["granularity"] == "week"

    def test_the_insights_page_opens_on_the_window_up_to_the_newest_review(self, staff, yelp_history):
        review = yelp_history[0]
        review_set_staff_aspects(review=review, aspects=[StaffAspect("service", "negative", "Slow service.")])

        response = staff.get("/insights/")

        assert response.status_code == 200
        assert response.context["report"]["aspects"][0]["mentions"] == 1
        html = response.content.decode()
        assert "No reviews in the last 90 days" in html
        # The previous period held no mention: the change is "new", not "+1".
        assert ">new<" in html

    def test_a_reversed_range_on_the_insights_page_is_a_400(self, staff):
        assert staff.get("/insights/?date_from=2013-02-01&date_to=2013-01-01").status_code == 400
        assert staff.get("/?date_from=2013-02-01&date_to=2013-01-01").status_code == 400

    def test_an_empty_dashboard_points_to_imports_and_the_command_line(self, staff):
        html = staff.get("/").content.decode()

        assert 'id="no-reviews"' in html and 'href="/imports/"' in html and "manage.py import_reviews" in html
        assert "Query times" not in html

    def test_query_times_show_only_with_debug(self, staff, settings):
        settings.DEBUG = True
        assert "Query times" in staff.get("/").content.decode()
