"""Filters typed into the staff pages' query strings: far-off dates, malformed values, reversed ranges,
and bulk labelling that acts only on what its confirmation showed."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from reviews.models import Review
from reviews.roles import MANAGER
from tests.factories import ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db

FILTERED_PAGES = [
    "/",
    "/explore/",
    "/explore/export.csv",
    "/labelling/",
    "/labelling/bulk/",
    "/labelling/next.json",
    "/insights/",
    "/insights/themes.json",
]


@pytest.fixture
def manager() -> Client:
    client = Client()
    client.force_login(UserFactory(role=MANAGER))
    return client


def shown(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("page", FILTERED_PAGES)
@pytest.mark.parametrize("bound", ["date_from", "date_to"])
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_first_and_last_days_of_the_calendar_mean_no_bound_not_an_error(manager, page, bound, day):
    ReviewFactory(text="Lovely soup.", review_date=dt.datetime(2024, 5, 1, tzinfo=dt.UTC))

    response = manager.get(page, {bound: day})

    assert response.status_code == 200, (page, response.content[:300])


def test_a_malformed_filter_on_the_explorer_is_named_and_left_out(manager):
    ReviewFactory(text="Lovely soup.")

    response = manager.get("/explore/", {"date_from": "2011-02-30", "rating_min": "abc"})

    assert response.status_code == 400
    problems = shown(response)
    assert any("date_from" in p and "2011-02-30" in p and "left out" in p for p in problems), problems
    assert any("rating_min" in p and "'abc'" in p for p in problems), problems
    assert b"Lovely soup." in response.content  # the other filters still apply


def test_a_reversed_rating_range_is_explained(manager):
    response = manager.get("/explore/", {"rating_min": "4", "rating_max": "2"})

    assert response.status_code == 400
    assert any("rating range is reversed" in p for p in shown(response))


def test_the_export_refuses_a_malformed_filter_instead_of_exporting_everything(manager):
    ReviewFactory(text="Lovely soup.")

    response = manager.get("/explore/export.csv", {"date_to": "abc"})

    assert response.status_code == 400
    assert b"date_to" in response.content and b"Lovely soup." not in response.content


def test_the_labelling_queue_answers_a_malformed_date_with_a_400(manager):
    response = manager.get("/labelling/next.json", {"date_from": "yesterday"})

    assert response.status_code == 400
    assert response.json()["status"] == "invalid" and "date_from" in response.json()["detail"]


def test_the_dashboard_charts_show_what_was_left_out(manager):
    response = manager.get("/", {"date_from": "01/02/2024"})

    assert response.status_code == 400
    assert any("date_from" in p for p in shown(response))
    assert manager.get("/insights/themes.json", {"date_from": "01/02/2024"}).status_code == 400


def test_bulk_labelling_by_a_malformed_filter_labels_nothing(manager):
    review = ReviewFactory(text="Fine.")

    response = manager.post(
        "/labelling/bulk/", {"scope": "all", "label": "neutral", "confirmed": "yes", "date_from": "abc"}
    )

    assert response.status_code == 302
    review.refresh_from_db()
    assert review.human_label is None


def test_bulk_labelling_everything_matching_labels_only_what_the_confirmation_showed(manager):
    first, second = ReviewFactory(text="qa marker one"), ReviewFactory(text="qa marker two")
    confirmation = manager.post("/labelling/bulk/", {"scope": "all", "label": "neutral", "q": "qa marker"})
    assert confirmation.status_code == 200 and confirmation.context["count"] == 2
    selection = confirmation.context["selection"]
    late = ReviewFactory(text="qa marker three")  # arrives while the manager reads the confirmation

    response = manager.post(
        "/labelling/bulk/",
        {"scope": "all", "label": "neutral", "q": "qa marker", "confirmed": "yes", "selection": selection},
    )

    assert response.status_code == 409
    assert response.context["count"] == 3  # the confirmation again, with the new count
    assert not Review.objects.filter(human_label__isnull=False).exists()

    again = manager.post(
        "/labelling/bulk/",
        {
            "scope": "all",
            "label": "neutral",
            "q": "qa marker",
            "confirmed": "yes",
            "selection": response.context["selection"],
        },
    )

    assert again.status_code == 302
    assert set(Review.objects.filter(human_label="neutral").values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
        late.pk,
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_the_analytics_api_reads_far_off_days_as_no_bound(api, manager_headers, day):
    for path in ("/api/analytics/dashboard", "/api/analytics/constructive-feedback", "/api/reviews/"):
        for bound in ("date_from", "date_to"):
            response = api.get(path, params={bound: day}, headers=manager_headers)
            assert response.status_code == 200, (path, bound, response.text[:300])
