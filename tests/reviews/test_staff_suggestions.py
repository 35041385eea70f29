"""Staff correct a review's suggestions (API and review page); each correction teaches the suggestion detector."""

from __future__ import annotations

import pytest
from django.test import Client

from reviews.models import ReviewAspect
from reviews.roles import LABELLER
from tests.factories import ReviewFactory, UserFactory
from training.aspect_extraction import review_extract_aspects
from training.models import SuggestionAnnotation

TEXT = "Lovely pasta. Please add more staff on Fridays. We went on a Friday."


def suggestions_of(review) -> list[tuple[str, str, str, str]]:
    rows = ReviewAspect.objects.filter(review=review, is_suggestion=True).order_by("id")
    return [(row.sentence, row.category, row.polarity, row.source) for row in rows]


def annotations_of(review) -> dict[str, bool]:
    return dict(SuggestionAnnotation.objects.filter(review=review).values_list("text", "is_suggestion"))


@pytest.mark.django_db
def test_extraction_stores_a_suggestion_as_its_own_type_and_not_as_a_mention():
    review = ReviewFactory(text=TEXT)

    review_extract_aspects([review.pk])

    assert [(s, p) for s, _, p, _ in suggestions_of(review)] == [("Please add more staff on Fridays.", "suggestion")]
    mentions = ReviewAspect.objects.filter(review=review, is_suggestion=False)
    assert "Please add more staff on Fridays." not in {row.sentence for row in mentions}


def test_staff_set_a_reviews_suggestions_through_the_api_and_each_sentence_becomes_an_annotation(api, labeller_headers):
    review = ReviewFactory(text=TEXT)
    review_extract_aspects([review.pk])

    response = api.post(
        f"/api/reviews/{review.pk}/suggestions",
        json={"suggestions": [{"sentence": "we went on a  FRIDAY.", "category": "Speed and waiting"}]},
        headers=labeller_headers,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [(s["sentence"], s["category"], s["source"]) for s in body["suggestions"]] == [
        ("We went on a Friday.", "speed and waiting", "staff")
    ]
    assert body["sentences"] == ["Lovely pasta.", "Please add more staff on Fridays.", "We went on a Friday."]
    assert annotations_of(review) == {
        "Lovely pasta.": False,
        "Please add more staff on Fridays.": False,
        "We went on a Friday.": True,
    }
    # Extraction keeps what staff saved instead of putting the model's suggestion back.
    review_extract_aspects([review.pk])
    assert suggestions_of(review) == [("We went on a Friday.", "speed and waiting", "suggestion", "staff")]


def test_saving_again_updates_the_reviews_annotations_instead_of_adding_more(api, labeller_headers):
    review = ReviewFactory(text=TEXT)
    url = f"/api/reviews/{review.pk}/suggestions"
    api.post(url, json={"suggestions": [{"sentence": "Lovely pasta."}]}, headers=labeller_headers)

    api.post(url, json={"suggestions": []}, headers=labeller_headers)

    assert annotations_of(review) == dict.fromkeys(
        ["Lovely pasta.", "Please add more staff on Fridays.", "We went on a Friday."], False
    )
    assert SuggestionAnnotation.objects.filter(review=review).count() == 3
    assert suggestions_of(review) == []


def test_a_sentence_that_is_not_the_reviews_own_is_refused_and_nothing_changes(api, labeller_headers):
    review = ReviewFactory(text=TEXT)
    review_extract_aspects([review.pk])
    before = suggestions_of(review)

    response = api.post(
        f"/api/reviews/{review.pk}/suggestions",
        json={"suggestions": [{"sentence": "Give everyone free dessert."}]},
        headers=labeller_headers,
    )

    assert response.status_code == 422
    assert "is not one of the review's sentences" in response.text
    assert suggestions_of(review) == before and not SuggestionAnnotation.objects.exists()


def test_a_theme_with_markup_is_refused(api, labeller_headers):
    review = ReviewFactory(text=TEXT)

    response = api.post(
        f"/api/reviews/{review.pk}/suggestions",
        json={"suggestions": [{"sentence": "Lovely pasta.", "category": "<b>food</b>"}]},
        headers=labeller_headers,
    )

    assert response.status_code == 422 and "letters, digits" in response.text


def test_viewers_without_the_labelling_permission_cannot_change_suggestions(api, no_role_headers):
    review = ReviewFactory(text=TEXT)

    response = api.post(f"/api/reviews/{review.pk}/suggestions", json={"suggestions": []}, headers=no_role_headers)

    assert response.status_code == 403


@pytest.mark.django_db
def test_a_labeller_ticks_the_suggestions_on_the_review_page():
    review = ReviewFactory(text=TEXT)
    review_extract_aspects([review.pk])
    client = Client()
    client.force_login(UserFactory(role=LABELLER))
    page = client.get(f"/explore/{review.pk}/")
    rows = page.context["suggestion_rows"]
    assert [row["is_suggestion"] for row in rows] == [False, True, False]

    response = client.post(
        f"/explore/{review.pk}/suggestions/",
        {"suggestion": ["1", "2"], "theme-1": "service and staff", "theme-2": ""},
    )

    assert response.status_code == 302
    assert suggestions_of(review) == [
        ("Please add more staff on Fridays.", "service and staff", "suggestion", "staff"),
        ("We went on a Friday.", "general", "suggestion", "staff"),
    ]
    assert annotations_of(review)["Lovely pasta."] is False
    page = client.get(f"/explore/{review.pk}/")
    assert "Saved 2 suggestions on review" in page.content.decode()


@pytest.mark.django_db
def test_a_bad_theme_on_the_page_saves_nothing():
    review = ReviewFactory(text=TEXT)
    client = Client()
    client.force_login(UserFactory(role=LABELLER))

    response = client.post(f"/explore/{review.pk}/suggestions/", {"suggestion": ["0"], "theme-0": "=cmd|x"})

    assert response.status_code == 400
    assert not SuggestionAnnotation.objects.exists() and suggestions_of(review) == []
