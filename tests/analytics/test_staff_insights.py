"""The Insights page: the constructive-feedback report v2 (analytics.aspect_report) for staff."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from django.test import Client
from django.utils import timezone

from analytics.filters import CSV_COLUMNS
from reviews.aspects import StaffAspect, review_set_staff_aspects
from reviews.roles import LABELLER
from tests.factories import ReviewFactory, UserFactory
from training.aspect_extraction import review_extract_aspects

pytestmark = pytest.mark.django_db

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff() -> Client:
    return logged_in(UserFactory(is_staff=True))


def reviewed(*aspects: tuple[str, str, str], days_ago: int = 3, **fields):
    """A review whose aspects are stored through the staff service (as the API and the editor do)."""
    text = " ".join(sentence for _, _, sentence in aspects) or "Fine."
    review = ReviewFactory(text=text, review_date=timezone.now() - dt.timedelta(days=days_ago), **fields)
    review_set_staff_aspects(review=review, aspects=[StaffAspect(c, p, s) for c, p, s in aspects])
    return review


def last_30_days() -> dict:
    today = timezone.localdate()
    return {"date_from": (today - dt.timedelta(days=29)).isoformat(), "date_to": today.isoformat()}


def test_it_ranks_issues_and_strengths_from_the_stored_aspects(staff):
    for i in range(6):
        reviewed(("service", "negative", f"The waiter ignored us, visit {i}."))
    for i in range(8):
        reviewed(("food", "positive", f"The pasta was superb, visit {i}."))
    reviewed(("food", "negative", "The soup was cold."))

    response = staff.get("/insights/", last_30_days())

    assert response.status_code == 200
    assert [item["category"] for item in response.context["issues"]] == ["service"]
    assert response.context["issues"][0]["negative"] == 6
    assert [item["category"] for item in response.context["strengths"]] == ["food"]
    content = response.content.decode()
    for heading in ("Issues to fix", "Strengths to keep", "Emerging issues", "Every aspect", "Suggestions"):
        assert heading in content
    assert "The waiter ignored us, visit" in content
    assert "89%" in content  # food: 8 of 9 mentions positive


def test_each_aspect_shows_up_to_three_quotes_linking_to_their_reviews(staff):
    reviews = [
        reviewed(("service", "negative", f"Slow service, visit {i}."), days_ago=i + 1, source="yelp") for i in range(4)
    ]

    response = staff.get("/insights/", last_30_days())

    [group] = response.context["quotes"]
    assert group["category"] == "service"
    assert len(group["quotes"]) == 3
    content = response.content.decode()
    newest = reviews[0]
    assert f'href="/explore/{newest.pk}/"' in content
    assert "Slow service, visit 0." in content
    assert newest.review_date.strftime("%-d %b %Y") in content
    assert group["quotes"][0]["review"]["source"] == "yelp"


def test_the_chart_data_is_embedded_as_json_not_as_script(staff):
    reviewed(("service", "negative", "Rude."), ("food", "positive", "Tasty."))
    reviewed(("service", "neutral", "The waiter came."))

    response = staff.get("/insights/", last_30_days())

    content = response.content.decode()
    assert '<script id="insights-chart" type="application/json">' in content
    assert response.context["chart"] == {
        "categories": ["service", "food"],
        "positive": [0, 1],
        "neutral": [1, 0],
        "negative": [1, 0],
        "conflict": [0, 0],
    }
    assert "/vendor/plotly-" in content and "insights.js" in content


def test_filters_leave_out_other_businesses_sources_and_ratings(staff):
    reviewed(("service", "negative", "Blue Fin was slow."), business="Blue Fin", rating=2)
    reviewed(("service", "negative", "Roma was slow."), business="Trattoria Roma", rating=2)
    reviewed(("service", "positive", "Blue Fin was quick."), business="Blue Fin", rating=5, source="yelp")

    by_business = staff.get("/insights/", {**last_30_days(), "business": "Blue Fin"}).content.decode()
    by_rating = staff.get("/insights/", {**last_30_days(), "business": "Blue Fin", "rating_max": "3"}).content.decode()
    by_source = staff.get("/insights/", {**last_30_days(), "source": "yelp"}).content.decode()

    assert "Blue Fin was slow." in by_business and "Blue Fin was quick." in by_business
    assert "Roma was slow." not in by_business
    assert "Blue Fin was slow." in by_rating and "Blue Fin was quick." not in by_rating
    assert "Blue Fin was quick." in by_source and "was slow." not in by_source


@pytest.mark.parametrize(
    "period",
    [{"date_from": "1000-01-01"}, {"date_from": "0001-01-01", "date_to": "9999-12-31"}, {"date_to": "0001-01-02"}],
)
def test_a_period_reaching_back_to_year_one_shows_the_page(staff, period):
    reviewed(("food", "negative", "Cold soup."), business="Blue Fin")

    assert staff.get("/insights/", period).status_code == 200
    assert staff.get("/insights/export.csv", period).status_code == 200


def test_dates_outside_the_period_are_left_out(staff):
    reviewed(("price", "negative", "Far too expensive."), days_ago=2)
    reviewed(("price", "negative", "Expensive last winter."), days_ago=200)

    content = staff.get("/insights/", last_30_days()).content.decode()

    assert "Far too expensive." in content
    assert "Expensive last winter." not in content


def test_a_rising_negative_share_is_an_emerging_issue_with_its_significance(staff):
    for i in range(12):
        reviewed(("service", "negative" if i < 10 else "positive", "Service now."), days_ago=2)
        reviewed(("service", "negative" if i < 1 else "positive", "Service before."), days_ago=40)

    response = staff.get("/insights/", last_30_days())

    assert [item["category"] for item in response.context["report"]["emerging_issues"]] == ["service"]
    content = response.content.decode()
    emerging = content[content.index('id="emerging"') : content.index('id="aspects"')]
    assert "service" in emerging
    assert "p &lt; 0.001" in emerging
    assert "83%" in emerging and "8%" in emerging  # 10 of 12 now, 1 of 12 before
    assert "+75 pp" in content


def test_without_a_significant_rise_it_says_so_in_a_sentence(staff):
    reviewed(("service", "negative", "Slow."))

    content = staff.get("/insights/", last_30_days()).content.decode()

    assert 'id="no-emerging"' in content
    assert "No emerging issues" in content


def test_suggestions_are_grouped_by_aspect_with_counts(staff):
    for _ in range(2):
        review = ReviewFactory(text="Please open on Sundays.", review_date=timezone.now() - dt.timedelta(days=1))
        review_extract_aspects([review.pk])

    response = staff.get("/insights/", last_30_days())

    [group] = response.context["report"]["suggestions"]
    assert (group["category"], group["count"]) == ("general", 2)
    content = response.content.decode()
    suggestions = content[content.index('id="suggestions"') :]
    assert "general" in suggestions and "2 suggestions" in suggestions
    assert "Please open on Sundays." in suggestions and "×2" in suggestions


def test_a_fresh_install_explains_that_extraction_runs_after_ingest(staff):
    ReviewFactory(text="No aspects extracted for me yet.")

    response = staff.get("/insights/")

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="no-aspects"' in content
    assert "right after the review is ingested" in content
    assert 'id="chart-aspects"' not in content


def test_an_empty_scope_is_not_the_fresh_install_message(staff):
    reviewed(("food", "positive", "Tasty."), business="Blue Fin")

    content = staff.get("/insights/", {**last_30_days(), "business": "Nobody"}).content.decode()

    assert 'id="no-mentions"' in content
    assert 'id="no-aspects"' not in content


def test_a_malformed_filter_is_reported_and_the_others_still_apply(staff):
    reviewed(("service", "negative", "Blue Fin was slow."), business="Blue Fin")
    reviewed(("service", "negative", "Roma was slow."), business="Trattoria Roma")

    response = staff.get("/insights/", {"date_from": "last tuesday", "rating_min": "9", "business": "Blue Fin"})

    assert response.status_code == 400
    content = response.content.decode()
    assert "Filter date_from: Input should be a date" in content
    assert "Filter rating_min: Input should be between 1 and 5" in content
    assert "Blue Fin was slow." in content and "Roma was slow." not in content


def test_the_export_link_downloads_the_filtered_per_aspect_table(staff):
    reviewed(("service", "negative", "Slow."), business="Blue Fin")
    reviewed(("food", "positive", "Tasty."), business="Trattoria Roma")
    query = {**last_30_days(), "business": "Blue Fin"}

    page = staff.get("/insights/", query).content.decode()
    link = page.split('id="export-csv" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    response = staff.get(link)

    assert link.startswith("/insights/export.csv?")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "constructive-feedback-aspects.csv" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0]) == CSV_COLUMNS
    assert [(row["category"], row["mentions"], row["negative"]) for row in rows] == [("service", "1", "1")]


def test_the_page_export_is_the_same_file_as_the_api_export(api, labeller_headers):
    reviewed(("service", "negative", "Slow."), business="Blue Fin", rating=2)
    reviewed(("food", "positive", "Tasty."), business="Blue Fin", rating=5)
    reviewed(("=cmd|' /C calc'!A0", "negative", "Formula."), business="Blue Fin", rating=1)
    query = {**last_30_days(), "business": "Blue Fin", "rating_max": "4"}
    staff = logged_in(UserFactory(role=LABELLER))

    from_page = staff.get("/insights/export.csv", query)
    from_api = api.get(
        "/api/analytics/constructive-feedback", params={**query, "format": "csv"}, headers=labeller_headers
    )

    assert from_api.status_code == 200
    assert from_page.content.decode() == from_api.text
    assert "'=cmd" in from_api.text  # a category that looks like a formula is defused in both


def test_the_export_refuses_malformed_filters():
    staff = logged_in(UserFactory(is_staff=True))

    response = staff.get("/insights/export.csv", {"date_to": "soon"})

    assert response.status_code == 400
    assert b"date_to" in response.content


def test_text_from_reviews_is_escaped(staff):
    reviewed(("service", "negative", XSS), business=XSS, author=XSS)
    review_set_staff_aspects(
        review=reviewed(("food", "positive", "Fine.")), aspects=[StaffAspect(XSS[:50], "negative", XSS)]
    )

    response = staff.get("/insights/", last_30_days())

    content = response.content.decode()
    assert XSS not in content
    assert XSS[:50] not in content
    assert ESCAPED in content
    chart = json.loads(
        content.split('<script id="insights-chart" type="application/json">', 1)[1].split("</script>")[0]
    )
    assert XSS[:50] in chart["categories"]


def test_it_needs_a_login_and_the_view_permission():
    assert Client().get("/insights/")["Location"].startswith("/accounts/login/")
    assert Client().get("/insights/export.csv")["Location"].startswith("/accounts/login/")
    no_role = logged_in(UserFactory())
    assert no_role.get("/insights/").status_code == 403
    assert no_role.get("/insights/export.csv").status_code == 403
    assert logged_in(UserFactory(role=LABELLER)).get("/insights/").status_code == 200
