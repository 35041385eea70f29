from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone


def days_ago(days: int) -> str:
    return (timezone.localdate() - dt.timedelta(days=days)).isoformat()


def ingest(api, headers, reviews: list[dict]) -> list[dict]:
    response = api.post("/api/reviews/bulk", json={"reviews": reviews}, headers=headers)
    assert response.status_code == 200
    assert response.json()["created"] == len(reviews)
    return response.json()["results"]


def dashboard(api, headers, **params) -> dict:
    response = api.get("/api/analytics/dashboard", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def reviews(api, manager_headers, labeller_headers) -> list[dict]:
    """Five reviews over three sources and 400 days; the fourth is labelled by a human."""
    results = ingest(
        api,
        manager_headers,
        [
            {
                "text": "Wonderful food and lovely staff!",
                "source": "google",
                "business": "Trattoria Roma",
                "rating": 5,
                "review_date": days_ago(3),
            },
            {
                "text": "Terrible, rude service and cold food.",
                "source": "google",
                "business": "Trattoria Roma",
                "rating": 1,
                "review_date": days_ago(3),
            },
            {
                "text": "Absolutely delicious curry, great value.",
                "source": "yelp",
                "business": "Spice Garden",
                "rating": 5,
                "review_date": days_ago(10),
            },
            # No review_date: it counts on the day it was stored.
            {"text": "We ate there on a Tuesday.", "source": "google", "business": "Spice Garden", "rating": 3},
            {
                "text": "Nice little place.",
                "source": "tripadvisor",
                "business": "Blue Fin",
                "review_date": days_ago(400),
            },
        ],
    )
    assert [result["prediction"]["label"] for result in results] == [
        "positive",
        "negative",
        "positive",
        "neutral",
        "positive",
    ]
    labelled = api.post(f"/api/reviews/{results[3]['id']}/label", json={"label": "negative"}, headers=labeller_headers)
    assert labelled.status_code == 200
    return results


class TestDashboard:
    def test_it_counts_reviews_and_labels(self, api, labeller_headers, reviews):
        body = dashboard(api, labeller_headers)

        assert body["total_reviews"] == 5
        assert body["by_predicted_label"] == {"positive": 3, "neutral": 1, "negative": 1}
        assert body["labelled_reviews"] == 1
        assert body["labelled_share"] == 0.2
        assert body["by_human_label"] == {"positive": 0, "neutral": 0, "negative": 1}

    def test_it_breaks_reviews_down_by_source_most_frequent_first(self, api, labeller_headers, reviews):
        by_source = dashboard(api, labeller_headers)["by_source"]

        assert by_source[0] == {"source": "google", "count": 3, "positive": 1, "neutral": 1, "negative": 1}
        assert sorted(by_source[1:], key=lambda row: row["source"]) == [
            {"source": "tripadvisor", "count": 1, "positive": 1, "neutral": 0, "negative": 0},
            {"source": "yelp", "count": 1, "positive": 1, "neutral": 0, "negative": 0},
        ]

    def test_it_breaks_reviews_down_by_rating_including_unrated(self, api, labeller_headers, reviews):
        by_rating = dashboard(api, labeller_headers)["by_rating"]

        assert {row["rating"]: row["count"] for row in by_rating} == {1.0: 1, 3.0: 1, 5.0: 2, None: 1}
        rated = [row["rating"] for row in by_rating if row["rating"] is not None]
        assert rated == sorted(rated)

    def test_the_daily_trend_uses_the_review_date_or_else_the_day_it_was_stored(self, api, labeller_headers, reviews):
        trend = dashboard(api, labeller_headers, trend_days=30)["daily_trend"]

        assert trend == [
            {"date": days_ago(10), "count": 1, "positive": 1, "neutral": 0, "negative": 0},
            {"date": days_ago(3), "count": 2, "positive": 1, "neutral": 0, "negative": 1},
            {"date": days_ago(0), "count": 1, "positive": 0, "neutral": 1, "negative": 0},
        ]

    def test_the_daily_trend_covers_only_the_requested_days(self, api, labeller_headers, reviews):
        default = dashboard(api, labeller_headers)["daily_trend"]
        long = dashboard(api, labeller_headers, trend_days=500)["daily_trend"]
        short = dashboard(api, labeller_headers, trend_days=5)["daily_trend"]

        assert days_ago(400) not in [day["date"] for day in default]
        assert [day["date"] for day in long] == [days_ago(400), days_ago(10), days_ago(3), days_ago(0)]
        assert [day["date"] for day in short] == [days_ago(3), days_ago(0)]

    def test_it_names_the_deployed_model(self, api, labeller_headers, reviews):
        model = dashboard(api, labeller_headers)["model"]

        assert model["name"] == "baseline-lexicon"
        assert model["algorithm"] == "vader-lexicon"
        assert model["deployed_at"] is not None

    @pytest.mark.parametrize(
        ("params", "total"),
        [
            ({"business": "Spice Garden"}, 2),
            ({"source": "google"}, 3),
            ({"business": "Spice Garden", "source": "google"}, 1),
            ({"business": "Nowhere"}, 0),
        ],
    )
    def test_business_and_source_filters_narrow_everything(self, api, labeller_headers, reviews, params, total):
        body = dashboard(api, labeller_headers, trend_days=3660, **params)

        assert body["total_reviews"] == total
        assert sum(body["by_predicted_label"].values()) == total
        assert sum(row["count"] for row in body["by_source"]) == total
        assert sum(row["count"] for row in body["by_rating"]) == total
        assert sum(day["count"] for day in body["daily_trend"]) == total

    def test_date_filters_use_the_effective_date(self, api, labeller_headers, reviews):
        recent = dashboard(api, labeller_headers, date_from=days_ago(5))
        older = dashboard(api, labeller_headers, date_to=days_ago(3))

        assert recent["total_reviews"] == 3
        assert older["total_reviews"] == 4

    def test_an_empty_scope_has_zero_share_and_no_trend(self, api, labeller_headers):
        body = dashboard(api, labeller_headers)

        assert body["total_reviews"] == 0
        assert body["labelled_share"] == 0.0
        assert body["by_source"] == []
        assert body["daily_trend"] == []

    @pytest.mark.parametrize("field", ["date_from", "date_to"])
    def test_a_malformed_date_is_422_naming_the_parameter(self, api, labeller_headers, field):
        response = api.get("/api/analytics/dashboard", params={field: "x"}, headers=labeller_headers)

        assert response.status_code == 422
        assert f"query.{field}" in response.json()["detail"]
        assert [error["field"] for error in response.json()["errors"]] == [f"query.{field}"]

    @pytest.mark.parametrize("trend_days", [0, 3661, "many"])
    def test_an_out_of_range_trend_is_422(self, api, labeller_headers, trend_days):
        response = api.get("/api/analytics/dashboard", params={"trend_days": trend_days}, headers=labeller_headers)

        assert response.status_code == 422
        assert "query.trend_days" in response.json()["detail"]


MIXED = "The pasta was delicious and the staff were lovely. But the music was awful and far too loud."
ALSO_MIXED = "The risotto was excellent. However the waiter was rude and slow."
SUGGESTION = "They should add more vegetarian options."


class TestConstructiveFeedback:
    @pytest.fixture
    def stored(self, api, manager_headers) -> dict[str, int]:
        texts = {
            "mixed": (MIXED, "Trattoria Roma", days_ago(1)),
            "also_mixed": (ALSO_MIXED, "Trattoria Roma", days_ago(2)),
            "suggestion": (f"Lovely curry. {SUGGESTION}", "Spice Garden", days_ago(1)),
            "positive": ("Friendly staff and fantastic desserts, we will be back!", "Blue Fin", days_ago(1)),
            "negative": ("Terrible, rude service and cold food.", "Blue Fin", days_ago(1)),
        }
        results = ingest(
            api,
            manager_headers,
            [{"text": text, "business": business, "review_date": date} for text, business, date in texts.values()],
        )
        return {name: result["id"] for name, result in zip(texts, results)}

    def feedback(self, api, headers, **params) -> dict:
        response = api.get("/api/analytics/constructive-feedback", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    def test_a_review_that_praises_and_criticises_is_listed_as_mixed_under_its_business(
        self, api, labeller_headers, stored
    ):
        body = self.feedback(api, labeller_headers)

        roma = next(group for group in body["businesses"] if group["business"] == "Trattoria Roma")
        item = next(item for item in roma["items"] if item["review_id"] == stored["mixed"])
        assert item["mixed"] is True
        assert item["praise"] == ["The pasta was delicious and the staff were lovely."]
        assert item["criticism"] == ["the music was awful and far too loud."]
        assert item["suggestions"] == []

    def test_a_suggestion_is_listed_under_its_business(self, api, labeller_headers, stored):
        body = self.feedback(api, labeller_headers)

        garden = next(group for group in body["businesses"] if group["business"] == "Spice Garden")
        assert garden["reviews_with_suggestions"] == 1
        assert garden["mixed_reviews"] == 0
        (item,) = garden["items"]
        assert item["review_id"] == stored["suggestion"]
        assert item["suggestions"] == [SUGGESTION]
        assert item["mixed"] is False

    def test_plainly_positive_or_negative_reviews_are_not_listed(self, api, labeller_headers, stored):
        body = self.feedback(api, labeller_headers)

        listed = {item["review_id"] for group in body["businesses"] for item in group["items"]}
        assert stored["positive"] not in listed
        assert stored["negative"] not in listed
        assert "Blue Fin" not in [group["business"] for group in body["businesses"]]
        assert body["analysed_reviews"] == 5
        assert body["model_version"] == "baseline-lexicon"

    def test_businesses_are_grouped_with_the_most_feedback_first(self, api, labeller_headers, stored):
        body = self.feedback(api, labeller_headers)

        assert [group["business"] for group in body["businesses"]] == ["Trattoria Roma", "Spice Garden"]
        roma = body["businesses"][0]
        assert (roma["reviews"], roma["mixed_reviews"], roma["reviews_with_suggestions"]) == (2, 2, 0)
        assert [item["review_id"] for item in roma["items"]] == [stored["mixed"], stored["also_mixed"]]

    def test_per_business_caps_the_items_but_not_the_counts(self, api, labeller_headers, stored):
        roma = self.feedback(api, labeller_headers, per_business=1)["businesses"][0]

        assert roma["reviews"] == 2
        assert [item["review_id"] for item in roma["items"]] == [stored["mixed"]]

    def test_the_business_filter_narrows_the_report(self, api, labeller_headers, stored):
        body = self.feedback(api, labeller_headers, business="Spice Garden")

        assert body["analysed_reviews"] == 1
        assert [group["business"] for group in body["businesses"]] == ["Spice Garden"]

    @pytest.mark.parametrize(
        "period",
        [{"date_from": "1000-01-01"}, {"date_from": "0001-01-01", "date_to": "9999-12-31"},
         {"date_to": "0001-01-02"}],
    )  # fmt: skip
    @pytest.mark.parametrize("export", [{}, {"format": "csv"}])
    def test_a_period_reaching_back_to_year_one_is_answered(self, api, labeller_headers, stored, period, export):
        response = api.get(
            "/api/analytics/constructive-feedback", params={**period, **export}, headers=labeller_headers
        )

        assert response.status_code == 200, response.text
        if not export and "date_to" not in period:
            assert response.json()["analysed_reviews"] == 5  # everything stored lies inside

    def test_a_malformed_date_is_422_naming_the_parameter(self, api, labeller_headers):
        response = api.get("/api/analytics/constructive-feedback", params={"date_from": "x"}, headers=labeller_headers)

        assert response.status_code == 422
        assert "query.date_from" in response.json()["detail"]
