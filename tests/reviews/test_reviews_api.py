from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.utils import timezone

from reviews.models import LabelEvent, Prediction, Review


def create(api, headers, **body):
    body.setdefault("text", "The food was wonderful and the staff were friendly.")
    return api.post("/api/reviews/", json=body, headers=headers)


class TestCreatingAReview:
    def test_it_stores_the_review_and_returns_its_prediction(self, api, manager_headers):
        response = create(
            api,
            manager_headers,
            text="Great pasta, lovely staff!",
            source="google",
            rating=4.5,
            business="Trattoria Roma",
            author="Maria",
            external_id="g-1",
            review_date="2026-11-01",
        )

        assert response.status_code == 201
        body = response.json()
        assert body["id"] == Review.objects.get().pk
        assert body["source"] == "google"
        assert body["rating"] == 4.5
        assert body["review_date"].startswith("2026-11-01")
        assert body["effective_date"].startswith("2026-11-01")
        assert body["human_label"] is None
        prediction = body["prediction"]
        assert prediction["label"] == "positive"
        assert prediction["model_version"] == "baseline-lexicon"
        assert set(prediction["scores"]) == {"positive", "neutral", "negative"}
        assert sum(prediction["scores"].values()) == pytest.approx(1.0, abs=1e-4)
        assert prediction["confidence"] == max(prediction["scores"].values())

    def test_it_keeps_the_ingest_prediction(self, api, manager_headers):
        review_id = create(api, manager_headers).json()["id"]

        ingest = Prediction.objects.get(review_id=review_id)
        assert ingest.is_ingest
        assert ingest.label == Review.objects.get().predicted_label

    def test_only_text_is_required_and_source_defaults_to_api(self, api, manager_headers):
        response = api.post("/api/reviews/", json={"text": "Fine."}, headers=manager_headers)

        assert response.status_code == 201
        assert response.json()["source"] == "api"

    def test_the_same_external_id_twice_does_not_duplicate(self, api, manager_headers):
        first = create(api, manager_headers, source="yelp", external_id="y-7")
        second = create(api, manager_headers, source="yelp", external_id="y-7", text="Different text")

        assert first.status_code == 201
        assert second.status_code == 200
        assert second.json()["id"] == first.json()["id"]
        assert Review.objects.count() == 1

    def test_the_same_external_id_from_another_source_is_another_review(self, api, manager_headers):
        create(api, manager_headers, source="yelp", external_id="7")
        create(api, manager_headers, source="google", external_id="7")

        assert Review.objects.count() == 2

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"text": ""}, "body.text"),
            ({"text": "   \n\t "}, "body.text"),
            ({"text": "x" * 20_001}, "body.text"),
            ({"text": "ok", "rating": 0}, "body.rating"),
            ({"text": "ok", "rating": 5.5}, "body.rating"),
            ({"text": "ok", "rating": 4.3}, "body.rating"),
            ({"text": "ok", "rating": "five"}, "body.rating"),
            ({"text": 42}, "body.text"),
            ({"text": "ok", "source": ""}, "body.source"),
            ({"text": "ok", "source": "s" * 51}, "body.source"),
            ({"text": "ok", "review_date": "yesterday"}, "body.review_date"),
            ({"text": "ok", "unknown_field": 1}, "body.unknown_field"),
            ({}, "body.text"),
        ],
    )
    def test_it_rejects_bad_input_naming_the_field(self, api, manager_headers, body, field):
        response = api.post("/api/reviews/", json=body, headers=manager_headers)

        assert response.status_code == 422
        assert field in response.json()["detail"]
        assert field in [error["field"] for error in response.json()["errors"]]
        assert Review.objects.count() == 0

    def test_it_rejects_malformed_json(self, api, manager_headers):
        response = api.post(
            "/api/reviews/",
            content=b'{"text": "unterminated',
            headers={**manager_headers, "Content-Type": "application/json"},
        )

        assert response.status_code == 422
        assert "Malformed JSON" in response.json()["detail"]

    def test_it_accepts_text_of_exactly_20000_characters(self, api, manager_headers):
        assert create(api, manager_headers, text="a" * 20_000).status_code == 201

    def test_nul_characters_are_removed_instead_of_breaking_the_database(self, api, manager_headers):
        response = create(api, manager_headers, text="Good\x00 food", business="Caf\x00e")

        assert response.status_code == 201
        assert Review.objects.get().text == "Good food"

    def test_a_utc_offset_postgresql_cannot_read_is_stored_as_the_same_instant(self, api, manager_headers):
        # Found by the fuzzer: ISO 8601 allows offsets up to 23:59, PostgreSQL up to 15:59 (was a 500).
        response = create(api, manager_headers, review_date="2026-05-15T04:11:00-22:06")

        assert response.status_code == 201
        stored = Review.objects.get().review_date
        assert stored == dt.datetime(2026, 5, 16, 2, 17, tzinfo=dt.UTC)

    def test_a_review_date_in_the_future_is_422_and_nothing_is_stored(self, api, manager_headers):
        tomorrow_evening = (timezone.now() + dt.timedelta(hours=30)).isoformat()
        for date in ["9999-12-31", tomorrow_evening]:
            response = create(api, manager_headers, review_date=date)

            assert response.status_code == 422
            assert response.json()["errors"][0]["field"] == "body.review_date"
            assert "in the future" in response.json()["detail"]
        assert Review.objects.count() == 0

    def test_a_review_date_a_few_hours_ahead_is_clock_skew_and_accepted(self, api, manager_headers):
        in_a_few_hours = (timezone.now() + dt.timedelta(hours=5)).isoformat()

        assert create(api, manager_headers, review_date=in_a_few_hours).status_code == 201

    def test_a_date_time_pushed_past_the_calendar_by_its_offset_is_422(self, api, manager_headers):
        response = create(api, manager_headers, review_date="0001-01-01T00:30:00+22:00")

        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "body.review_date"


class TestBulkCreate:
    def test_it_creates_valid_items_and_reports_invalid_ones(self, api, manager_headers):
        response = api.post(
            "/api/reviews/bulk",
            json={
                "reviews": [
                    {"text": "Loved it", "external_id": "a", "source": "web"},
                    {"text": ""},
                    {"text": "Awful service", "rating": 1},
                    {"text": "Loved it again", "external_id": "a", "source": "web"},
                ]
            },
            headers=manager_headers,
        )

        assert response.status_code == 200
        body = response.json()
        assert (body["created"], body["existing"], body["invalid"]) == (2, 1, 1)
        statuses = [item["status"] for item in body["results"]]
        assert statuses == ["created", "invalid", "created", "exists"]
        assert body["results"][1]["errors"][0]["field"] == "text"
        assert body["results"][3]["id"] == body["results"][0]["id"]
        assert Review.objects.count() == 2
        assert Prediction.objects.filter(is_ingest=True).count() == 2

    @pytest.mark.parametrize("odd_item", ["not an object", 42, None, ["a", "list"]])
    def test_an_item_that_is_not_an_object_is_reported_alone(self, api, manager_headers, odd_item):
        response = api.post(
            "/api/reviews/bulk", json={"reviews": [odd_item, {"text": "Lovely"}]}, headers=manager_headers
        )

        assert response.status_code == 200
        first, second = response.json()["results"]
        assert first["status"] == "invalid" and first["errors"][0]["message"]
        assert second["status"] == "created"
        assert Review.objects.count() == 1

    def test_it_refuses_more_than_1000_items(self, api, manager_headers):
        response = api.post("/api/reviews/bulk", json={"reviews": [{"text": "x"}] * 1001}, headers=manager_headers)

        assert response.status_code == 422
        assert "body.reviews" in response.json()["detail"]


class TestListingReviews:
    @pytest.fixture
    def stored(self, api, manager_headers):
        ids = {}
        for key, text, rating, source, date in [
            ("good", "Absolutely wonderful dinner, perfect service", 5, "google", "2026-01-10"),
            ("bad", "Horrible cold food and rude staff", 1, "yelp", "2026-02-10"),
            ("meh", "It was a restaurant", 3, "yelp", "2026-03-10"),
        ]:
            response = create(api, manager_headers, text=text, rating=rating, source=source, review_date=date)
            ids[key] = response.json()["id"]
        return ids

    def list_ids(self, api, headers, **params):
        response = api.get("/api/reviews/", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["results"]]

    def test_it_filters_by_each_field(self, api, labeller_headers, stored):
        assert self.list_ids(api, labeller_headers, predicted_label="negative") == [stored["bad"]]
        assert set(self.list_ids(api, labeller_headers, source="yelp")) == {stored["bad"], stored["meh"]}
        assert self.list_ids(api, labeller_headers, rating_min=4) == [stored["good"]]
        assert self.list_ids(api, labeller_headers, rating_max=1) == [stored["bad"]]
        assert self.list_ids(api, labeller_headers, date_from="2026-02-01", date_to="2026-02-10") == [stored["bad"]]
        assert self.list_ids(api, labeller_headers, q="RUDE") == [stored["bad"]]
        assert self.list_ids(api, labeller_headers, confidence_min=0.0) != []

    def test_it_filters_by_human_label(self, api, labeller_headers, stored):
        api.post(f"/api/reviews/{stored['meh']}/label", json={"label": "neutral"}, headers=labeller_headers)

        assert self.list_ids(api, labeller_headers, labelled="true") == [stored["meh"]]
        assert self.list_ids(api, labeller_headers, human_label="neutral") == [stored["meh"]]
        assert set(self.list_ids(api, labeller_headers, labelled="false")) == {stored["good"], stored["bad"]}

    def test_it_orders_and_paginates_with_a_total(self, api, labeller_headers, stored):
        response = api.get("/api/reviews/", params={"ordering": "oldest", "page_size": 2}, headers=labeller_headers)
        body = response.json()

        assert (body["total"], body["pages"], body["page"]) == (3, 2, 1)
        assert [item["id"] for item in body["results"]] == [stored["good"], stored["bad"]]
        page_two = api.get(
            "/api/reviews/", params={"ordering": "oldest", "page_size": 2, "page": 2}, headers=labeller_headers
        )
        assert [item["id"] for item in page_two.json()["results"]] == [stored["meh"]]

    def test_a_filter_that_matches_nothing_gives_an_empty_page(self, api, labeller_headers, stored):
        response = api.get("/api/reviews/", params={"source": "nowhere", "page": 50}, headers=labeller_headers)

        assert response.status_code == 200
        assert response.json()["total"] == 0
        assert response.json()["results"] == []

    @pytest.mark.parametrize(
        "params",
        [{"rating_min": "abc"}, {"predicted_label": "great"}, {"page": 0}, {"ordering": "text"}, {"date_from": "x"}],
    )
    def test_malformed_filters_are_422(self, api, labeller_headers, params):
        response = api.get("/api/reviews/", params=params, headers=labeller_headers)

        assert response.status_code == 422
        assert "query." in response.json()["detail"]


class TestOneReview:
    def test_a_missing_review_is_404(self, api, labeller_headers, manager_headers):
        assert api.get("/api/reviews/999999", headers=labeller_headers).status_code == 404
        assert api.delete("/api/reviews/999999", headers=manager_headers).status_code == 404
        assert (
            api.post("/api/reviews/999999/label", json={"label": "positive"}, headers=labeller_headers).status_code
            == 404
        )
        assert api.delete("/api/reviews/999999/label", headers=labeller_headers).status_code == 404

    def test_delete_removes_the_review_and_its_predictions(self, api, manager_headers):
        review_id = create(api, manager_headers).json()["id"]

        assert api.delete(f"/api/reviews/{review_id}", headers=manager_headers).status_code == 204
        assert not Review.objects.exists()
        assert not Prediction.objects.exists()

    def test_labelling_then_relabelling_is_recorded(self, api, manager_headers, labeller_headers):
        review_id = create(api, manager_headers).json()["id"]

        first = api.post(f"/api/reviews/{review_id}/label", json={"label": "positive"}, headers=labeller_headers)
        second = api.post(f"/api/reviews/{review_id}/label", json={"label": "neutral"}, headers=labeller_headers)

        assert first.status_code == 200
        assert second.json()["human_label"] == "neutral"
        assert second.json()["human_labelled_by"].startswith("user")
        events = list(LabelEvent.objects.values_list("previous_label", "label"))
        assert events == [(None, "positive"), ("positive", "neutral")]

    def test_a_label_never_touches_the_prediction(self, api, manager_headers, labeller_headers):
        created = create(api, manager_headers, text="Dreadful, cold and late.").json()

        labelled = api.post(f"/api/reviews/{created['id']}/label", json={"label": "positive"}, headers=labeller_headers)

        assert labelled.json()["prediction"] == created["prediction"]

    def test_removing_a_label(self, api, manager_headers, labeller_headers):
        review_id = create(api, manager_headers).json()["id"]
        api.post(f"/api/reviews/{review_id}/label", json={"label": "negative"}, headers=labeller_headers)

        response = api.delete(f"/api/reviews/{review_id}/label", headers=labeller_headers)

        assert response.json()["human_label"] is None
        assert LabelEvent.objects.last().label is None

    @pytest.mark.parametrize("body", [{"label": "great"}, {"label": None}, {}, {"label": "positive", "x": 1}])
    def test_an_unknown_label_is_422(self, api, manager_headers, labeller_headers, body):
        review_id = create(api, manager_headers).json()["id"]

        response = api.post(f"/api/reviews/{review_id}/label", json=body, headers=labeller_headers)

        assert response.status_code == 422
        assert Review.objects.get().human_label is None


class TestPredict:
    def test_one_text(self, api, labeller_headers):
        response = api.post("/api/reviews/predict", json={"text": "Terrible, rude and slow."}, headers=labeller_headers)

        assert response.status_code == 200
        assert response.json()["label"] == "negative"
        assert not Review.objects.exists()

    def test_many_texts_keep_their_order(self, api, labeller_headers):
        texts = ["Wonderful!", "Disgusting food.", "Amazing staff"]
        response = api.post("/api/reviews/predict", json={"texts": texts}, headers=labeller_headers)

        labels = [p["label"] for p in response.json()["predictions"]]
        assert labels == ["positive", "negative", "positive"]
        assert response.json()["model_version"] == "baseline-lexicon"

    @pytest.mark.parametrize(
        "body", [{}, {"text": "a", "texts": ["b"]}, {"texts": []}, {"texts": ["ok", ""]}, {"texts": ["x"] * 1001}]
    )
    def test_it_needs_exactly_one_valid_input(self, api, labeller_headers, body):
        assert api.post("/api/reviews/predict", json=body, headers=labeller_headers).status_code == 422


class TestExport:
    def test_csv_and_jsonl_with_filters(self, api, manager_headers):
        create(api, manager_headers, text="Great, really great", source="google")
        create(api, manager_headers, text="Awful", source="yelp")

        csv_response = api.get("/api/reviews/export", params={"format": "csv"}, headers=manager_headers)
        jsonl_response = api.get(
            "/api/reviews/export", params={"format": "jsonl", "source": "yelp"}, headers=manager_headers
        )

        assert csv_response.status_code == 200
        assert csv_response.headers["content-type"].startswith("text/csv")
        lines = csv_response.text.strip().splitlines()
        assert lines[0].startswith("id,text,source")
        assert len(lines) == 3
        rows = [json.loads(line) for line in jsonl_response.text.strip().splitlines()]
        assert [row["text"] for row in rows] == ["Awful"]
        assert rows[0]["predicted_label"] == "negative"

    def test_csv_cells_a_spreadsheet_would_run_are_defused_and_jsonl_stays_as_stored(self, api, manager_headers):
        formula = '=HYPERLINK("http://evil.example","click")'
        create(api, manager_headers, text=formula, source="yelp", business="+Bistro", author="@chef")
        create(api, manager_headers, text="-1 star, awful", source="yelp")

        csv_response = api.get("/api/reviews/export", params={"format": "csv"}, headers=manager_headers)
        jsonl_response = api.get("/api/reviews/export", params={"format": "jsonl"}, headers=manager_headers)

        rows = list(csv.DictReader(io.StringIO(csv_response.text)))
        assert [row["text"] for row in rows] == ["'" + formula, "'-1 star, awful"]
        assert (rows[0]["business"], rows[0]["author"]) == ("'+Bistro", "'@chef")
        assert float(rows[0]["score_negative"]) >= 0  # numbers stay numbers
        stored = [json.loads(line) for line in jsonl_response.text.strip().splitlines()]
        assert [row["text"] for row in stored] == [formula, "-1 star, awful"]
        assert stored[0]["business"] == "+Bistro"

    def test_it_streams_more_than_one_batch(self, api, manager_headers):
        for start in (0, 1000):
            reviews = [{"text": f"Nice {i}"} for i in range(start, start + 1000)]
            assert api.post("/api/reviews/bulk", json={"reviews": reviews}, headers=manager_headers).status_code == 200

        response = api.get("/api/reviews/export", params={"format": "jsonl"}, headers=manager_headers)

        ids = [json.loads(line)["id"] for line in response.text.strip().splitlines()]
        assert len(ids) == 2000 == len(set(ids))


class TestSeedPaths:
    def test_the_seed_paths_redirect_to_the_api_keeping_the_method(self, api):
        response = api.post("/reviews/?x=1", json={"text": "hi"})

        assert response.status_code == 307
        assert response.headers["location"] == "/api/reviews/?x=1"
        assert api.post("/training/start").headers["location"] == "/api/training/start"

    def test_a_client_following_the_redirect_creates_the_review(self, api, manager_headers):
        response = api.post(
            "/reviews/",
            json={"text": "Lovely place", "source": "google"},
            headers=manager_headers,
            follow_redirects=True,
        )

        assert response.status_code == 201
        assert response.json()["prediction"]["confidence"] > 0


@pytest.mark.parametrize("sent", ["20251120", "2025-11-20"])
def test_a_review_date_in_iso_basic_or_extended_form_is_that_day(api, manager_headers, sent):
    response = api.post("/api/reviews/", json={"text": "Lovely soup.", "review_date": sent}, headers=manager_headers)

    assert response.status_code == 201, response.text
    assert response.json()["review_date"].startswith("2025-11-20")


@pytest.mark.parametrize("sent", [20251120, 1700000000, -99999999999, 1.5, "1700000000", "2025112"])
def test_a_review_date_given_as_a_number_is_refused_not_read_as_seconds_since_1970(api, manager_headers, sent):
    response = api.post("/api/reviews/", json={"text": "Lovely soup.", "review_date": sent}, headers=manager_headers)

    assert response.status_code == 422
    assert "review_date" in response.json()["detail"]


@pytest.mark.parametrize("ordering", ["rating", "-rating"])
def test_reviews_without_a_rating_come_last_in_either_rating_order(api, manager_headers, ordering):
    from tests.factories import ReviewFactory

    for rating in (None, 5, 2, None):
        ReviewFactory(text=f"Rated {rating}", rating=rating)

    response = api.get("/api/reviews/", params={"ordering": ordering}, headers=manager_headers)

    ratings = [item["rating"] for item in response.json()["results"]]
    assert ratings[2:] == [None, None] and set(ratings[:2]) == {5, 2}


def test_a_query_parameter_given_twice_is_a_422_not_silently_its_last_value(api, manager_headers):
    response = api.get(
        "/api/reviews/?predicted_label=positive&predicted_label=negative&source=a", headers=manager_headers
    )

    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "query.predicted_label", "message": "given more than once; send it once"}
    ]
    assert api.get("/api/reviews/?predicted_label=positive&source=a", headers=manager_headers).status_code == 200
