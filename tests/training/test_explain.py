"""explain=true: the words behind a prediction, for every model kind."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


class TestExplain:
    def test_explain_returns_the_words_behind_the_prediction(self, api, labeller_headers):
        response = api.post(
            "/api/reviews/predict?explain=true",
            json={"text": "The food was horrible and the staff rude"},
            headers=labeller_headers,
        )

        explanation = response.json()["explanation"]
        assert explanation
        assert {item["term"] for item in explanation} & {"horrible", "rude"}

    def test_predictions_without_explain_have_no_explanation(self, api, labeller_headers):
        response = api.post("/api/reviews/predict", json={"text": "Lovely"}, headers=labeller_headers)

        assert response.json()["explanation"] is None
