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


TEXT = "Great food but the service was slow and rude! Please add more staff on Fridays."


def test_extraction_on_ingest_stores_aspects_and_suggestion(api, manager_headers):
    [result] = ingest(api, manager_headers, [{"text": TEXT}])
    review_id = result["id"]
    # Cold start (no trained aspect model) serves.
    assert aspects_of(review_id, is_suggestion=False) == {
        ("food quality", "positive"),
        ("service and staff", "negative"),
        ("speed and waiting", "negative"),
    }
    rows = ReviewAspect.objects.filter(review_id=review_id)
    assert all(row.source == "model" and row.model_version_id is None for row in rows)
    # The suggestion is its own type, stored with the theme it talks about: not a positive service mention.
    suggestion = rows.get(is_suggestion=True)
    assert (suggestion.category, suggestion.polarity) == ("service and staff", "suggestion")
    assert suggestion.sentence == "Please add more staff on Fridays."


def test_single_create_also_extracts(api, manager_headers):
    response = api.post("/api/reviews/", json={"text": "The waiter was rude."}, headers=manager_headers)
    assert response.status_code in (200, 201), response.text
    assert aspects_of(response.json()["id"]) == {("service and staff", "negative")}


def test_suggestion_without_aspect_is_general(transactional_db):
    from training.aspect_extraction import review_extract_aspects

    # Opening hours name no theme (general); parking is a location theme. Neither is a mention.
    review = Review.objects.create(text="Please open on Sundays. I wish they had parking.")
    review_extract_aspects([review.pk])
    suggestions = ReviewAspect.objects.filter(review=review, is_suggestion=True).order_by("id")
    assert [(s.sentence, s.category, s.polarity) for s in suggestions] == [
        ("Please open on Sundays.", "general", "suggestion"),
        ("I wish they had parking.", "location and parking", "suggestion"),
    ]
    assert not ReviewAspect.objects.filter(review=review, is_suggestion=False).exists()


def test_staff_aspects_replace_the_model_mentions_and_survive_reextraction(transactional_db):
    from reviews.aspects import StaffAspect, review_set_staff_aspects
    from training.aspect_extraction import review_extract_aspects
    from training.tasks import reextract_all_aspects

    review = Review.objects.create(text=TEXT)
    review_extract_aspects([review.pk])
    assert aspects_of(review.pk, source="model", is_suggestion=False) == {
        ("food quality", "positive"),
        ("service and staff", "negative"),
        ("speed and waiting", "negative"),
    }
    review_set_staff_aspects(review=review, aspects=[StaffAspect("price and value", "negative", "")])
    assert aspects_of(review.pk, source="model", is_suggestion=False) == set()
    reextract_all_aspects.delay(0)
    review_extract_aspects([review.pk])
    assert aspects_of(review.pk, source="staff") == {("price and value", "negative")}
    # Re-extraction leaves a corrected review's mentions to staff; its suggestion row is the model's.
    assert aspects_of(review.pk, source="model", is_suggestion=False) == set()
    assert aspects_of(review.pk, source="model", is_suggestion=True) == {("service and staff", "suggestion")}
    assert ReviewAspect.objects.filter(review=review).count() == 2


def test_staff_saving_no_aspects_keeps_the_model_mentions_away(transactional_db):
    from reviews.aspects import review_set_staff_aspects
    from training.aspect_extraction import review_extract_aspects

    review = Review.objects.create(text=TEXT)
    review_extract_aspects([review.pk])
    review_set_staff_aspects(review=review, aspects=[])
    review_extract_aspects([review.pk])
    assert not ReviewAspect.objects.filter(review=review, is_suggestion=False).exists()
    assert ReviewAspect.objects.filter(review=review, is_suggestion=True).count() == 1


def test_post_aspects_replaces_staff_aspects_and_stores_annotation(api, manager_headers, labeller_headers):
    from training.models import AspectAnnotation

    [result] = ingest(api, manager_headers, [{"text": TEXT}])
    review_id = result["id"]
    body = {
        "aspects": [
            {"category": "food quality", "polarity": "positive"},
            {"category": "price and value", "polarity": "negative"},
        ]
    }
    response = api.post(f"/api/reviews/{review_id}/aspects", json=body, headers=labeller_headers)
    assert response.status_code == 200, response.text
    staff = {(a["category"], a["polarity"]) for a in response.json()["aspects"] if a["source"] == "staff"}
    assert staff == {("food quality", "positive"), ("price and value", "negative")}
    response = api.post(
        f"/api/reviews/{review_id}/aspects",
        json={
            "aspects": [
                {"category": "service and staff", "polarity": "conflict", "sentence": "The service was slow and rude!"}
            ]
        },
        headers=labeller_headers,
    )
    assert response.status_code == 200
    assert aspects_of(review_id, source="staff") == {("service and staff", "conflict")}
    annotation = AspectAnnotation.objects.get(source="staff", external_id=f"review-{review_id}")
    assert annotation.review_id == review_id
    assert annotation.aspects == [{"category": "service and staff", "polarity": "conflict"}]
    # The staff rows are the review's aspects now; the model's suggestion stays.
    got = api.get(f"/api/reviews/{review_id}/aspects", headers=labeller_headers).json()
    assert {(a["category"], a["source"]) for a in got["aspects"]} == {("service and staff", "staff")}
    assert [s["category"] for s in got["suggestions"] if s["source"] == "model"] == ["service and staff"]


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
        ({"category": "Bogus \U0001f600", "polarity": "positive"}, "category"),
        ({"category": "=SUM(1)", "polarity": "positive"}, "category"),
        ({"category": "food", "polarity": "positive", "sentence": "@SUM(1)"}, "sentence"),
    ]:
        response = api.post(url, json={"aspects": [bad]}, headers=labeller_headers)
        assert response.status_code == 422
        assert any(error["field"].endswith(field) for error in response.json()["errors"]), response.json()
        assert field in response.json()["detail"]


def test_post_aspects_reads_categories_lower_cased_and_refuses_two_polarities_for_one_mention(
    api, manager_headers, labeller_headers
):
    [result] = ingest(api, manager_headers, [{"text": "Great food. Rude waiter."}])
    url = f"/api/reviews/{result['id']}/aspects"

    contradictory = {
        "aspects": [{"category": "service", "polarity": "positive"}, {"category": "Service", "polarity": "negative"}]
    }
    refused = api.post(url, json=contradictory, headers=labeller_headers)
    accepted = api.post(
        url,
        json={"aspects": [{"category": " Food ", "polarity": "positive", "sentence": "great  FOOD."},
                          {"category": "Wait Time/Speed", "polarity": "neutral"}]},
        headers=labeller_headers,
    )  # fmt: skip

    assert refused.status_code == 422 and "two polarities" in refused.json()["detail"]
    assert accepted.status_code == 200, accepted.text
    assert aspects_of(result["id"], source="staff") == {("food", "positive"), ("wait time/speed", "neutral")}


def make_mentions(category, polarity, days, n, *, business="Roma", suggestion=False, sentence=None, confidence=0.5):
    import datetime as dt

    from django.utils import timezone

    when = timezone.now() - dt.timedelta(days=days)
    reviews = Review.objects.bulk_create(
        [Review(text=sentence or f"{category} {polarity}", business=business, review_date=when) for _ in range(n)]
    )
    ReviewAspect.objects.bulk_create(
        [
            ReviewAspect(
                review=review,
                category=category,
                polarity=polarity,
                sentence=sentence or f"{category} was {polarity}",
                confidence=confidence,
                is_suggestion=suggestion,
            )
            for review in reviews
        ]
    )
    return reviews


def report(api, headers, **params) -> dict:
    import datetime as dt

    from django.utils import timezone

    params = {
        "date_from": (timezone.localdate() - dt.timedelta(days=29)).isoformat(),
        "date_to": timezone.localdate().isoformat(),
        **params,
    }
    response = api.get("/api/analytics/constructive-feedback", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def crafted_set():
    make_mentions("food", "positive", 5, 6)
    make_mentions("food", "negative", 3, 2)
    make_mentions("food", "positive", 45, 2)
    make_mentions("food", "negative", 45, 2)
    make_mentions("service", "negative", 2, 3)
    make_mentions("service", "positive", 40, 9)
    make_mentions("service", "negative", 40, 1)
    make_mentions("ambience", "negative", 4, 2)
    make_mentions("ambience", "positive", 4, 8)
    make_mentions("ambience", "negative", 50, 1)
    make_mentions("ambience", "positive", 50, 9)
    make_mentions("food", "negative", 3, 5, business="Elsewhere")


def test_report_counts_shares_and_change(api, labeller_headers):
    crafted_set()
    body = report(api, labeller_headers, business="Roma")
    aspects = {a["category"]: a for a in body["aspects"]}
    food = aspects["food"]
    assert (food["mentions"], food["positive"], food["negative"]) == (8, 6, 2)
    assert (food["positive_share"], food["negative_share"]) == (0.75, 0.25)
    assert (food["previous_mentions"], food["previous_negative_share"]) == (4, 0.5)
    assert (food["mentions_change"], food["negative_share_change"], food["positive_share_change"]) == (4, -0.25, 0.25)
    assert [q["sentence"] for q in food["quotes"]] == ["Food was negative", "Food was positive"]  # distinct wordings
    service = aspects["service"]
    assert (service["mentions"], service["negative_share"], service["previous_negative_share"]) == (3, 1.0, 0.1)
    # Significant on its own (p < 0.05), but 3 mentions are too few to raise an alarm.
    assert service["negative_p_value"] < 0.05
    assert body["emerging_issues"] == []
    # 2/10 vs 1/10 negative: enough mentions, not significant.
    assert aspects["ambience"]["negative_p_value"] > 0.05
    # Negative mentions, doubled in the newer half of the period, times 1 + the rise of the negative share.
    issue_scores = {c: a["issue_score"] for c, a in aspects.items()}
    assert issue_scores == {"service": 11.4, "ambience": 4.4, "food": 4.0}
    assert {c: a["strength_score"] for c, a in aspects.items()} == {"service": 0.0, "ambience": 16.0, "food": 12.0}
    # None is significantly more criticised than praised, or the reverse: neither list names them.
    assert {c: a["verdict"] for c, a in aspects.items()} == {"service": "too few", "ambience": "mixed", "food": "mixed"}
    assert body["issues_to_fix"] == [] and body["strengths"] == []
    # Without the business filter, the other restaurant's negative food mentions count too.
    assert {a["category"]: a for a in report(api, labeller_headers)["aspects"]}["food"]["negative"] == 7
    assert report(api, labeller_headers, rating_min=4)["aspects"] == []


def test_forty_negative_mentions_raise_an_emerging_issue(api, labeller_headers):
    crafted_set()
    make_mentions("service", "negative", 1, 37)
    body = report(api, labeller_headers, business="Roma")
    (emerging,) = body["emerging_issues"]
    assert (emerging["category"], emerging["mentions"], emerging["negative_share"]) == ("service", 40, 1.0)
    assert emerging["p_value"] < 0.001
    assert body["issues_to_fix"][0]["category"] == "service"


def test_quotes_are_confident_distinct_and_newest_first(api, labeller_headers):
    [r1] = make_mentions("food", "positive", 2, 1, confidence=0.99, sentence="Superb pasta.")
    ReviewAspect.objects.create(
        review=r1, category="food", polarity="positive", sentence="Also the tiramisu.", confidence=0.98
    )
    [r2] = make_mentions("food", "positive", 3, 1, confidence=0.97, sentence="Great pizza.")
    make_mentions("food", "positive", 1, 1, confidence=0.4, sentence="Fine food.")
    [r4] = make_mentions("food", "negative", 4, 1, confidence=0.96, sentence="Cold soup.")
    quotes = report(api, labeller_headers)["aspects"][0]["quotes"]
    assert [(q["review_id"], q["sentence"]) for q in quotes] == [
        (r1.pk, "Superb pasta."),
        (r2.pk, "Great pizza."),
        (r4.pk, "Cold soup."),
    ]


def test_suggestions_grouped_by_aspect_and_near_duplicate_text(api, labeller_headers):
    make_mentions("service", "negative", 2, 2, suggestion=True, confidence=0.9, sentence="Service could be faster!")
    make_mentions("service", "negative", 3, 1, suggestion=True, confidence=0.9, sentence="The service could be FASTER.")
    make_mentions("service", "negative", 3, 1, suggestion=True, confidence=0.9, sentence="Should hire more waiters")
    make_mentions("general", "neutral", 3, 1, suggestion=True, confidence=0.9, sentence="Please open on Sundays.")
    body = report(api, labeller_headers)
    assert body["aspects"] == []  # suggestions are not aspect mentions
    service, general = body["suggestions"]
    assert (service["category"], service["count"]) == ("service", 4)
    assert [g["count"] for g in service["groups"]] == [3, 1]
    assert service["groups"][1]["text"] == "Should hire more waiters"
    assert (general["category"], general["count"]) == ("general", 1)


def test_csv_export_of_the_aspect_table(api, labeller_headers):
    crafted_set()
    response = api.get(
        "/api/analytics/constructive-feedback", params={"format": "csv", "business": "Roma"}, headers=labeller_headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    lines = response.text.strip().splitlines()
    assert lines[0].startswith("category,mentions,positive,negative")
    assert {line.split(",")[0] for line in lines[1:]} == {"food", "service", "ambience"}


def test_reextraction_walks_every_review_in_batches(transactional_db, monkeypatch):
    from training import tasks

    monkeypatch.setattr(tasks, "ASPECT_BATCH_SIZE", 2)
    reviews = Review.objects.bulk_create([Review(text="The waiter was rude.") for _ in range(5)])
    stale = [ReviewAspect(review=r, category="price", polarity="positive", sentence="old") for r in reviews]
    ReviewAspect.objects.bulk_create(stale)
    tasks.reextract_all_aspects.delay(0)
    for review in reviews:
        assert aspects_of(review.pk) == {("service and staff", "negative")}


def test_promotion_hook_enqueues_reextraction_after_commit(transactional_db, monkeypatch):
    from django.db import transaction

    from training import tasks, versions

    calls = []
    monkeypatch.setattr(tasks.reextract_all_aspects, "apply_async", lambda args, kwargs: calls.append(args))
    with transaction.atomic():
        versions.reextract_all_aspects()  # in the promotion's transaction: an outbox row, published on commit
        assert calls == []
    assert calls == [[0, "cold-start+vader|suggestions:rule"]]


def test_a_reextraction_pass_for_a_model_that_no_longer_serves_stops(transactional_db, monkeypatch):
    from training import tasks
    from training.aspects import serving_aspect_model_key

    monkeypatch.setattr(tasks, "ASPECT_BATCH_SIZE", 2)
    reviews = Review.objects.bulk_create([Review(text="The waiter was rude.") for _ in range(3)])
    stale = [ReviewAspect(review=r, category="price", polarity="positive", sentence="old") for r in reviews]
    ReviewAspect.objects.bulk_create(stale)

    tasks.reextract_all_aspects.delay(0, "aspects-superseded-by-a-later-deployment")
    for review in reviews:
        assert aspects_of(review.pk) == {("price", "positive")}  # left to the current model's own pass

    tasks.reextract_all_aspects.delay(0, serving_aspect_model_key())
    for review in reviews:
        assert aspects_of(review.pk) == {("service and staff", "negative")}
