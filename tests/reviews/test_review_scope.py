"""One date convention (reviews.filters): date_from..date_to are inclusive local calendar days.

A review at 23:30 local time on date_to is counted by every path that filters reviews by date, one at
00:00 the next local day by none of them.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from analytics import charts, filters, selectors
from analytics.aspect_report import aspect_report
from analytics.feedback import feedback_by_business
from analytics.views import scope_filters
from reviews import labelling
from reviews.filters import ReviewFilters, scoped
from reviews.labelling import QueueFilters
from reviews.labelling_views import queue_filters
from reviews.roles import LABELLER
from reviews.selectors import review_list
from reviews.views import review_filters
from tests.factories import UserFactory
from tests.project.test_staff_pages import logged_in, scored
from training.aspect_extraction import review_extract_aspects

TEXT = "The pasta was delicious. But the waiter was rude. They should add more vegetarian options."


@pytest.fixture
def edge(settings, transactional_db) -> dict:
    settings.TIME_ZONE = "America/New_York"  # local midnight is not UTC midnight
    timezone.activate(settings.TIME_ZONE)
    day = timezone.localdate() - dt.timedelta(days=10)
    zone = timezone.get_current_timezone()
    late = timezone.make_aware(dt.datetime.combine(day, dt.time(23, 30)), zone)
    midnight = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min), zone)
    inside = scored(text=TEXT, business="Edge", review_date=late)
    outside = scored(text=TEXT, business="Edge", review_date=midnight)
    review_extract_aspects([inside.pk, outside.pk])
    yield {"day": day.isoformat(), "inside": inside.pk, "outside": outside.pk}
    timezone.deactivate()


def query(edge: dict) -> dict[str, str]:
    return {"date_from": edge["day"], "date_to": edge["day"]}


def test_the_filter_turns_inclusive_days_into_one_half_open_range(edge):
    day = dt.date.fromisoformat(edge["day"])
    filters = ReviewFilters(date_from=day, date_to=day)

    assert filters.start == timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    assert filters.end == timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))
    assert filters.days() == (day, day)
    assert list(scoped(filters).values_list("id", flat=True)) == [edge["inside"]]


def test_the_dashboard_api_counts_the_late_review_only(api, labeller_headers, edge):
    body = api.get("/api/analytics/dashboard", params=query(edge), headers=labeller_headers).json()

    assert body["total_reviews"] == 1
    assert sum(point["count"] for point in body["daily_trend"]) == 1
    assert sum(point["count"] for point in body["trend"]["points"]) == 1


def test_the_charts_count_the_late_review_only(edge):
    problems: list[str] = []
    page_filters = scope_filters(query(edge), problems)
    assert problems == []

    assert charts.distribution(page_filters)["total"] == 1
    assert sum(charts.trend(page_filters, "day")["total"]) == 1
    assert sum(charts.by_field(page_filters, "source")["total"]) == 1
    assert selectors.dashboard(filters=page_filters)["total_reviews"] == 1


def test_themes_json_counts_the_late_review_only(edge):
    staff = logged_in(UserFactory(is_staff=True))

    response = staff.get("/insights/themes.json", query(edge))

    assert response.status_code == 200
    assert response.json()["themes"]["analysed_reviews"] == 1


def test_the_insights_and_the_constructive_feedback_count_the_late_review_only(api, labeller_headers, edge):
    report_filters, errors = filters.parse_report_query(query(edge))
    assert errors == []
    assert aspect_report(filters=report_filters)["aspect_reviews"] == 1
    listed = feedback_by_business(filters=report_filters)
    assert listed["analysed_reviews"] == 1
    assert [item["review_id"] for group in listed["businesses"] for item in group["items"]] == [edge["inside"]]

    body = api.get("/api/analytics/constructive-feedback", params=query(edge), headers=labeller_headers).json()
    assert body["aspect_reviews"] == 1 and body["analysed_reviews"] == 1
    assert (body["date_from"], body["date_to"]) == (edge["day"], edge["day"])

    staff = logged_in(UserFactory(is_staff=True))
    assert staff.get("/insights/", query(edge)).context["report"]["aspect_reviews"] == 1


def test_the_labelling_queue_filter_offers_the_late_review_only(edge):
    problems: list[str] = []
    filters_ = queue_filters({**query(edge), "order": "newest"}, problems)
    assert problems == [] and isinstance(filters_, QueueFilters)

    claimed = labelling.queue_claim(user_id=UserFactory(role=LABELLER).pk, filters=filters_, count=5)

    assert [review.pk for review in claimed] == [edge["inside"]]


def test_explore_and_the_reviews_api_list_the_late_review_only(api, labeller_headers, edge):
    problems: list[str] = []
    explored = review_list(filters=review_filters(query(edge), problems))
    assert problems == []
    assert [review.pk for review in explored] == [edge["inside"]]

    staff = logged_in(UserFactory(is_staff=True))
    page = staff.get("/explore/", query(edge))
    assert page.status_code == 200
    assert [review.pk for review in page.context["page"].object_list] == [edge["inside"]]

    listed = api.get("/api/reviews/", params=query(edge), headers=labeller_headers).json()
    assert [review["id"] for review in listed["results"]] == [edge["inside"]]
