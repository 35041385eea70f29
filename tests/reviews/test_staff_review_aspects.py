"""The aspect editor on the review page: staff read, add, correct and remove a review's aspects."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from reviews.aspects import StaffAspect, review_set_staff_aspects
from reviews.aspects_api import review_aspects_out
from reviews.models import ReviewAspect
from reviews.roles import LABELLER
from reviews.selectors import review_aspects
from tests.factories import ReviewFactory, UserFactory
from training.aspect_extraction import review_extract_aspects
from training.models import AspectAnnotation

pytestmark = pytest.mark.django_db

TEXT = "Great food but the waiter could be friendlier!"
SUGGESTION = "Please add more staff on Fridays."
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


def logged_in(user, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


@pytest.fixture
def labeller() -> Client:
    return logged_in(UserFactory(role=LABELLER))


@pytest.fixture
def review():
    """A review as ingest leaves it: model aspects (food quality, positive) and (service and staff, negative), and
    a suggestion."""
    review = ReviewFactory(text=f"{TEXT} {SUGGESTION}", business="Blue Fin", author="Maria")
    review_extract_aspects([review.pk])
    return review


def page_form(client: Client, review) -> dict:
    """The editor's fields as the browser submits them, unchanged."""
    page = client.get(f"/explore/{review.pk}/")
    formset = page.context["aspect_formset"]
    data = {f"aspects-{key}": value for key, value in formset.management_form.initial.items()}
    data["aspects_version"] = page.context["aspects_version"]
    for index, form in enumerate(formset.forms):
        for name in ("category", "polarity", "sentence"):
            data[f"aspects-{index}-{name}"] = form.initial.get(name, "")
    return data


def row_of(data: dict, category: str) -> int:
    return next(
        int(key.split("-")[1]) for key, value in data.items() if key.endswith("-category") and value == category
    )


def staff_rows(review) -> set[tuple[str, str, str]]:
    aspects, _ = review_aspects(review_id=review.pk)
    return {(row.category, row.polarity, row.sentence) for row in aspects if row.source == "staff"}


def test_the_review_page_shows_stored_aspects_and_suggestions(labeller, review):
    response = labeller.get(f"/explore/{review.pk}/")

    assert response.status_code == 200
    content = response.content.decode()
    section = content[content.index('id="aspects"') : content.index("Label history")]
    assert "food quality" in section and "service and staff" in section
    assert "model cold-start" in section
    assert '<ul id="review-suggestions">' in section and SUGGESTION in section


def test_the_editor_starts_from_the_model_aspects_of_the_review(labeller, review):
    formset = labeller.get(f"/explore/{review.pk}/").context["aspect_formset"]

    assert [(f["category"], f["polarity"], f["sentence"]) for f in formset.initial] == [
        ("food quality", "positive", TEXT),
        ("service and staff", "negative", TEXT),
    ]
    assert len(formset.forms) == 4  # two blank rows to add aspects


def test_correcting_a_polarity_stores_staff_aspects_and_a_training_annotation(labeller, review):
    data = page_form(labeller, review)
    data[f"aspects-{row_of(data, 'service and staff')}-polarity"] = "conflict"

    response = labeller.post(f"/explore/{review.pk}/aspects/", data)

    assert response.status_code == 302
    assert response["Location"] == f"/explore/{review.pk}/#aspects"
    assert staff_rows(review) == {("food quality", "positive", TEXT), ("service and staff", "conflict", TEXT)}
    via_api = review_aspects_out(review)
    assert {(a.category, a.polarity) for a in via_api.aspects if a.source == "staff"} == {
        ("food quality", "positive"),
        ("service and staff", "conflict"),
    }
    annotation = AspectAnnotation.objects.get(source="staff", external_id=f"review-{review.pk}")
    assert annotation.aspects == [
        {"category": "food quality", "polarity": "positive"},
        {"category": "service and staff", "polarity": "conflict"},
    ]
    assert annotation.scheme == "themes"
    # The staff rows replace the model's mentions (the report counts the review by them alone);
    # the model's suggestion row stays.
    assert not ReviewAspect.objects.filter(review=review, source="model", is_suggestion=False).exists()
    assert ReviewAspect.objects.filter(review=review, source="model", is_suggestion=True).count() == 1
    followed = labeller.get(response["Location"])
    assert "Saved 2 staff aspects on review #" in followed.content.decode()


def test_a_blank_row_adds_an_aspect(labeller, review):
    data = page_form(labeller, review)
    data["aspects-2-category"] = "price and value"
    data["aspects-2-polarity"] = "negative"

    labeller.post(f"/explore/{review.pk}/aspects/", data)

    assert ("price and value", "negative", "") in staff_rows(review)
    assert len(staff_rows(review)) == 3


def test_ticking_remove_drops_the_row(labeller, review):
    data = page_form(labeller, review)
    data[f"aspects-{row_of(data, 'food quality')}-DELETE"] = "on"

    labeller.post(f"/explore/{review.pk}/aspects/", data)

    assert staff_rows(review) == {("service and staff", "negative", TEXT)}


def test_once_saved_the_editor_shows_the_staff_aspects(labeller, review):
    review_set_staff_aspects(review=review, aspects=[StaffAspect("price and value", "negative", "")])

    formset = labeller.get(f"/explore/{review.pk}/").context["aspect_formset"]

    assert [(f["category"], f["polarity"]) for f in formset.initial] == [("price and value", "negative")]


@pytest.mark.parametrize(
    "field, value, problem",
    [
        ("category", "décor", "Row 1, category: Select a valid choice"),
        ("polarity", "great", "Row 1, polarity: Select a valid choice"),
        ("polarity", "", "Row 1, polarity: This field is required"),
        ("sentence", "A sentence the review does not have.", "Row 1, sentence: Select a valid choice"),
    ],
)
def test_an_invalid_row_is_refused_with_a_message_and_nothing_is_stored(labeller, review, field, value, problem):
    data = page_form(labeller, review)
    data[f"aspects-0-{field}"] = value

    response = labeller.post(f"/explore/{review.pk}/aspects/", data)

    assert response.status_code == 400
    content = response.content.decode()
    assert "Nothing was saved." in content
    assert problem in content
    assert staff_rows(review) == set()
    assert not AspectAnnotation.objects.filter(source="staff").exists()


def test_a_post_without_the_formset_is_a_400_not_a_500(labeller, review):
    version = labeller.get(f"/explore/{review.pk}/").context["aspects_version"]

    response = labeller.post(
        f"/explore/{review.pk}/aspects/", {"aspects-0-category": "food quality", "aspects_version": version}
    )

    assert response.status_code == 400
    assert "Nothing was saved." in response.content.decode()
    assert staff_rows(review) == set()


def test_an_older_form_does_not_overwrite_what_another_editor_saved_since(labeller, review):
    other = logged_in(UserFactory(role=LABELLER))
    mine, theirs = page_form(labeller, review), page_form(other, review)
    theirs[f"aspects-{row_of(theirs, 'service and staff')}-polarity"] = "neutral"
    assert other.post(f"/explore/{review.pk}/aspects/", theirs).status_code == 302
    mine[f"aspects-{row_of(mine, 'food quality')}-polarity"] = "negative"

    response = labeller.post(f"/explore/{review.pk}/aspects/", mine)

    assert response.status_code == 409
    assert "changed since you opened the page" in response.content.decode()
    assert staff_rows(review) == {("food quality", "positive", TEXT), ("service and staff", "neutral", TEXT)}


@pytest.mark.parametrize("total", ["-1", "0", "1"])
def test_a_form_with_fewer_rows_than_the_page_had_removes_nothing(labeller, review, total):
    data = page_form(labeller, review)
    assert int(data["aspects-INITIAL_FORMS"]) == 2
    data["aspects-TOTAL_FORMS"] = total

    response = labeller.post(f"/explore/{review.pk}/aspects/", data)

    assert response.status_code == 400
    assert "The form was incomplete" in response.content.decode()
    assert staff_rows(review) == set()


def test_an_unknown_review_is_a_404(labeller):
    assert labeller.post("/explore/999999/aspects/", {}).status_code == 404


def test_saving_needs_the_csrf_token(review):
    client = logged_in(UserFactory(role=LABELLER), csrf=True)
    data = page_form(client, review)

    refused = client.post(f"/explore/{review.pk}/aspects/", data)
    accepted = client.post(
        f"/explore/{review.pk}/aspects/", {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302
    assert len(staff_rows(review)) == 2


def test_without_the_label_permission_the_aspects_are_read_only(review):
    reader = UserFactory()
    reader.user_permissions.add(Permission.objects.get(content_type__app_label="reviews", codename="view_review"))
    client = logged_in(reader)

    response = client.get(f"/explore/{review.pk}/")
    refused = client.post(f"/explore/{review.pk}/aspects/", {"aspects-TOTAL_FORMS": "0", "aspects-INITIAL_FORMS": "0"})

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="aspects-read-only"' in content and "reviews.label_review" in content
    assert 'id="aspect-editor"' not in content
    assert "food quality" in content
    assert refused.status_code == 403
    assert staff_rows(review) == set()


def test_the_page_and_the_editor_need_a_login(review):
    assert Client().get(f"/explore/{review.pk}/")["Location"].startswith("/accounts/login/")
    assert Client().post(f"/explore/{review.pk}/aspects/", {})["Location"].startswith("/accounts/login/")


def test_review_text_and_aspects_are_escaped(labeller):
    review = ReviewFactory(text=f"Great food. {XSS}", business=XSS, author=XSS)
    review_extract_aspects([review.pk])
    review_set_staff_aspects(review=review, aspects=[StaffAspect(XSS[:50], "negative", XSS)])

    response = labeller.get(f"/explore/{review.pk}/")

    content = response.content.decode()
    assert XSS not in content
    assert XSS[:50] not in content
    assert ESCAPED in content
    editor = content[content.index('id="aspect-editor"') :]
    category_option = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=aler"
    assert category_option in editor
