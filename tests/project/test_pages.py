from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_dashboard_needs_a_login():
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_logging_in_through_the_form_reaches_the_dashboard():
    UserFactory(username="maria")
    client = Client()

    response = client.post("/accounts/login/", {"username": "maria", "password": "correct horse battery"}, follow=True)

    assert response.status_code == 200
    assert b"Dashboard" in response.content
    assert b"baseline-lexicon" in response.content


def test_a_wrong_password_is_refused():
    UserFactory(username="maria")

    response = Client().post("/accounts/login/", {"username": "maria", "password": "nope"})

    assert response.status_code == 200
    assert b"enter a correct username and password" in response.content


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/reviews/review/",
        "/admin/reviews/review/?source__exact=google&predicted_label__exact=positive",
        "/admin/training/modelversion/",
        "/admin/training/trainingjob/",
        "/admin/training/gatedecision/",
        "/admin/training/deployment/",
        "/admin/authtoken/tokenproxy/",
    ],
)
def test_admin_pages_render(staff_client, path):
    ReviewFactory.create_batch(3)

    assert staff_client.get(path).status_code == 200


def test_the_admin_bulk_action_labels_reviews(staff_client):
    reviews = ReviewFactory.create_batch(3)

    staff_client.post(
        "/admin/reviews/review/",
        {"action": "label_as_negative", "_selected_action": [review.pk for review in reviews[:2]]},
    )

    labels = sorted(str(review.__class__.objects.get(pk=review.pk).human_label) for review in reviews)
    assert labels == ["None", "negative", "negative"]


def test_tokens_can_be_issued_in_the_admin(staff_client):
    user = UserFactory()

    staff_client.post("/admin/authtoken/tokenproxy/add/", {"user": user.pk})

    assert Token.objects.filter(user=user).exists()


def test_static_files_are_served_without_collectstatic():
    response = Client().get("/static/app.css")

    assert response.status_code == 200
    assert Client().get("/favicon.ico").status_code == 301
