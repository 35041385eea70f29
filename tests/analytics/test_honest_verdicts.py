"""An aspect is an issue or a strength by the significance of its net sentiment, never both."""

from __future__ import annotations

import pytest

from analytics.aspect_report import aspect_report
from analytics.verdicts import aspect_verdict, wilson_interval
from tests.analytics.mentions import last_30_days, mentions

pytestmark = pytest.mark.django_db


def test_the_wilson_interval_matches_the_textbook_values():
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_a_verdict_needs_significance_and_enough_mentions():
    assert aspect_verdict(category="service and staff", positive=2, negative=12)["verdict"] == "issue"
    assert aspect_verdict(category="food quality", positive=15, negative=2)["verdict"] == "strength"
    assert aspect_verdict(category="price and value", positive=5, negative=5)["verdict"] == "mixed"
    assert aspect_verdict(category="drinks", positive=0, negative=3)["verdict"] == "too few"
    assert aspect_verdict(category="general", positive=0, negative=40)["verdict"] == "general"
    assert aspect_verdict(category="anecdotes/miscellaneous", positive=40, negative=0)["verdict"] == "general"


def test_no_aspect_is_both_an_issue_and_a_strength_and_general_is_neither():
    mentions("service and staff", "negative", 12)
    mentions("service and staff", "positive", 2)
    mentions("food quality", "positive", 15)
    mentions("food quality", "negative", 2)
    mentions("price and value", "positive", 5)
    mentions("price and value", "negative", 5)
    mentions("general", "negative", 20)
    mentions("anecdotes/miscellaneous", "positive", 20)

    report = aspect_report(filters=last_30_days())

    issues = [item["category"] for item in report["issues_to_fix"]]
    strengths = [item["category"] for item in report["strengths"]]
    assert issues == ["service and staff"]
    assert strengths == ["food quality"]
    verdicts = {aspect["category"]: aspect["verdict"] for aspect in report["aspects"]}
    assert verdicts["price and value"] == "mixed"
    assert verdicts["general"] == verdicts["anecdotes/miscellaneous"] == "general"
    assert report["issues_to_fix"][0]["net_negative_low"] > 0.5


def test_general_categories_never_raise_an_emerging_issue():
    mentions("general", "positive", 30, days_ago=40)
    mentions("general", "negative", 30, days_ago=2)

    report = aspect_report(filters=last_30_days())

    assert report["emerging_issues"] == []


def test_suggestion_rows_count_as_suggestions_only_never_as_mentions():
    # Whatever polarity a suggestion row carries (the old detector stored one), it is no mention.
    mentions("service and staff", "negative", 3, suggestion=True, sentence="They should hire more waiters.")

    report = aspect_report(filters=last_30_days())

    assert report["aspects"] == []
    assert report["issues_to_fix"] == [] and report["strengths"] == []
    [theme] = report["suggestions"]
    assert (theme["category"], theme["count"]) == ("service and staff", 3)


def test_the_api_serves_the_verdict_and_its_interval(api, labeller_headers):
    mentions("service and staff", "negative", 12)

    response = api.get("/api/analytics/constructive-feedback", params={"business": "Roma"}, headers=labeller_headers)

    assert response.status_code == 200, response.text
    body = response.json()
    [issue] = body["issues_to_fix"]
    assert (issue["category"], issue["verdict"]) == ("service and staff", "issue")
    assert issue["net_negative_low"] > 0.7 and issue["net_negative_high"] == 1.0
    assert body["aspects"][0]["verdict"] == "issue"


def test_the_csv_export_carries_the_verdict():
    import csv
    import io

    from analytics.filters import report_csv

    mentions("service and staff", "negative", 12)

    [row] = list(csv.DictReader(io.StringIO(report_csv(aspect_report(filters=last_30_days())))))

    assert (row["category"], row["verdict"]) == ("service and staff", "issue")
    assert float(row["net_negative_low"]) > 0.7
