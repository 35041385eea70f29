"""The Django admin's review pages keep the label history and the ingest rules of the API."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.utils import timezone

from reviews.models import LabelEvent, Review
from tests.factories import ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user():
    return UserFactory(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def change(client: Client, review: Review, **fields):
    data = {
        "text": review.text,
        "source": review.source,
        "rating": review.rating or "",
        "business": review.business,
        "author": review.author,
        "external_id": review.external_id or "",
        "review_date_0": "",
        "review_date_1": "",
        "language": review.language,
        "is_english": "on",
        "human_label": review.human_label or "",
        "reserved_by": "",
        "reserved_until_0": "",
        "reserved_until_1": "",
        **{
            f"{prefix}-{key}": value
            for prefix in ("predictions", "label_events")
            for key, value in {"TOTAL_FORMS": 0, "INITIAL_FORMS": 0, "MIN_NUM_FORMS": 0, "MAX_NUM_FORMS": 1000}.items()
        },
        **fields,
    }
    return client.post(f"/admin/reviews/review/{review.pk}/change/", data)


def test_a_label_set_in_the_change_form_is_recorded_like_any_other(admin_client, admin_user):
    review = ReviewFactory(text="Cold soup.")

    response = change(admin_client, review, human_label="negative")

    assert response.status_code == 302, response.content[:2000]
    review.refresh_from_db()
    assert (review.human_label, review.human_labelled_by_id) == ("negative", admin_user.pk)
    assert review.human_labelled_at is not None
    event = LabelEvent.objects.get(review=review)
    assert (event.label, event.previous_label, event.user_id) == ("negative", None, admin_user.pk)


def test_clearing_the_label_in_the_change_form_unlabels_with_history(admin_client, admin_user):
    review = ReviewFactory(text="Cold soup.")
    change(admin_client, review, human_label="negative")
    review.refresh_from_db()

    change(admin_client, review, human_label="")

    review.refresh_from_db()
    assert (review.human_label, review.human_labelled_by_id, review.human_labelled_at) == (None, None, None)
    assert list(LabelEvent.objects.filter(review=review).order_by("id").values_list("label", flat=True)) == [
        "negative",
        None,
    ]


def test_a_review_date_in_the_future_is_refused_as_the_api_refuses_it(admin_client):
    review = ReviewFactory(text="Cold soup.")
    later = timezone.localtime(timezone.now() + dt.timedelta(days=30))

    response = change(
        admin_client, review, review_date_0=later.date().isoformat(), review_date_1=later.strftime("%H:%M:%S")
    )

    assert response.status_code == 200
    assert "in the future" in response.content.decode()
    review.refresh_from_db()
    assert review.review_date is None


def test_reviews_are_not_added_in_the_admin_where_they_would_get_no_prediction(admin_client):
    assert admin_client.get("/admin/reviews/review/add/").status_code == 403
