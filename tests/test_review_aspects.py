from __future__ import annotations

import pytest

from reviews.models import Review, ReviewAspect


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def ingest(api, headers, reviews: list[dict]) -> list[dict]:
    response = api.post("/api/reviews/bulk", json={"reviews": reviews}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def aspects_of(review_id: int, **filters) -> set[tuple[str, str]]:
    rows = ReviewAspect.objects.filter(review_id=review_id, **filters)
    return {(row.category, row.polarity) for row in rows}


def test_extraction_on_ingest_stores_aspects_and_suggestion(api, manager_headers):
    [result] = ingest(api, manager_headers, [{"text": "Great food but service could be faster!"}])
    review_id = result["id"]
    # Cold start (no trained aspect model) serves.
    assert aspects_of(review_id, is_suggestion=False) == {("food", "positive"), ("service", "negative")}
    rows = ReviewAspect.objects.filter(review_id=review_id)
    assert all(row.source == "model" and row.model_version_id is None for row in rows)
    # The suggestion is stored with the non-positive aspect it talks about.
    suggestion = rows.get(is_suggestion=True)
    assert (suggestion.category, suggestion.polarity) == ("service", "negative")
    assert suggestion.sentence == "Great food but service could be faster!"


def test_single_create_also_extracts(api, manager_headers):
    response = api.post("/api/reviews/", json={"text": "The waiter was rude."}, headers=manager_headers)
    assert response.status_code in (200, 201), response.text
    assert aspects_of(response.json()["id"]) == {("service", "negative")}


def test_suggestion_without_aspect_is_general(transactional_db):
    from reviews.aspects import review_extract_aspects

    # The cold-start model reads this as a positive miscellaneous remark: no non-positive aspect.
    review = Review.objects.create(text="Please open on Sundays. I wish they had parking.")
    review_extract_aspects([review.pk])
    suggestions = ReviewAspect.objects.filter(review=review, is_suggestion=True).order_by("id")
    assert [(s.sentence, s.category, s.polarity) for s in suggestions] == [
        ("Please open on Sundays.", "general", "neutral"),
        ("I wish they had parking.", "anecdotes/miscellaneous", "negative"),
    ]


def test_staff_aspects_survive_reextraction(transactional_db):
    from reviews.aspects import StaffAspect, review_extract_aspects, review_set_staff_aspects
    from reviews.tasks import reextract_all_aspects

    review = Review.objects.create(text="Great food but service could be faster!")
    review_extract_aspects([review.pk])
    review_set_staff_aspects(review=review, aspects=[StaffAspect("price", "negative", "")])
    reextract_all_aspects.delay(0)
    review_extract_aspects([review.pk])
    assert aspects_of(review.pk, source="staff") == {("price", "negative")}
    assert aspects_of(review.pk, source="model", is_suggestion=False) == {("food", "positive"), ("service", "negative")}
    assert ReviewAspect.objects.filter(review=review, source="model").count() == 3


def test_post_aspects_replaces_staff_aspects_and_stores_annotation(api, manager_headers, labeller_headers):
    from training.models import AspectAnnotation

    [result] = ingest(api, manager_headers, [{"text": "Great food but service could be faster!"}])
    review_id = result["id"]
    body = {"aspects": [{"category": "food", "polarity": "positive"}, {"category": "price", "polarity": "negative"}]}
    response = api.post(f"/api/reviews/{review_id}/aspects", json=body, headers=labeller_headers)
    assert response.status_code == 200, response.text
    staff = {(a["category"], a["polarity"]) for a in response.json()["aspects"] if a["source"] == "staff"}
    assert staff == {("food", "positive"), ("price", "negative")}
    response = api.post(
        f"/api/reviews/{review_id}/aspects",
        json={"aspects": [{"category": "service", "polarity": "conflict", "sentence": "Service could be faster!"}]},
        headers=labeller_headers,
    )
    assert response.status_code == 200
    assert aspects_of(review_id, source="staff") == {("service", "conflict")}
    annotation = AspectAnnotation.objects.get(source="staff", external_id=f"review-{review_id}")
    assert annotation.review_id == review_id
    assert annotation.aspects == [{"category": "service", "polarity": "conflict"}]
    # Model-made aspects are still there, and the GET shows both.
    got = api.get(f"/api/reviews/{review_id}/aspects", headers=labeller_headers).json()
    assert {(a["category"], a["source"]) for a in got["aspects"]} >= {("service", "staff"), ("food", "model")}
    assert [s["category"] for s in got["suggestions"] if s["source"] == "model"] == ["service"]


def test_post_aspects_errors(api, manager_headers, labeller_headers, no_role_headers):
    [result] = ingest(api, manager_headers, [{"text": "Nice place."}])
    url = f"/api/reviews/{result['id']}/aspects"
    ok = {"aspects": [{"category": "food", "polarity": "positive"}]}
    assert api.post("/api/reviews/999999/aspects", json=ok, headers=labeller_headers).status_code == 404
    assert api.get("/api/reviews/999999/aspects", headers=labeller_headers).status_code == 404
    assert api.post(url, json=ok).status_code == 401
    assert api.post(url, json=ok, headers=no_role_headers).status_code == 403
    for bad, field in [
        ({"category": "", "polarity": "positive"}, "category"),
        ({"category": "x" * 51, "polarity": "positive"}, "category"),
        ({"category": "food", "polarity": "great"}, "polarity"),
    ]:
        response = api.post(url, json={"aspects": [bad]}, headers=labeller_headers)
        assert response.status_code == 422
        assert any(error["field"].endswith(field) for error in response.json()["errors"]), response.json()
        assert field in response.json()["detail"]
