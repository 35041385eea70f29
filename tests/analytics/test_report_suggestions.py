"""Suggestions a manager reads: clean requests, by theme, grouped by meaning, ranked by who asks."""

from __future__ import annotations

import pytest

from analytics.aspect_report import aspect_report
from analytics.wording import suggestion_problem
from tests.analytics.mentions import last_30_days, mentions
from training.ml import encoder

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("sentence", "problem"),
    [
        ("Maybe add more vegan options.", None),
        ("They should hire more staff on weekends.", None),
        ("...Open earlier on Sundays please.", None),
        ("Try the tiramisu!", "too short"),
        ("Has anyone tried the brunch here?", "question"),
        ("Do yourself a favor and order the fries.", "advice to customers"),
        ("I highly recommend the lamb to everyone.", "advice to customers"),
        ('The manager said "we do not do refunds" to us.', "someone else's words"),
        ("We waited forty minutes and then we left.", "narrative"),
        ("Lots of drugs and prostitutes around here, we went anyway.", "narrative"),
        ("word " * 40, "too long"),
        ("However, I would give the service one star.", "about the rating"),
        ("As you drive around Phoenix you should be able to see the antennas.", "advice to customers"),
        ("The bread was stale and the soup lukewarm.", "no request"),
        ("You guys should open on Sundays.", None),
    ],
)
def test_only_requests_to_the_business_are_kept(sentence, problem):
    assert suggestion_problem(sentence) == problem


def suggest(theme: str, sentence: str, n: int = 1, **fields):
    return mentions(theme, "neutral", n, suggestion=True, sentence=sentence, **fields)


def test_suggestions_are_cleaned_and_filed_under_their_theme():
    suggest("menu and options", "...Maybe add more vegan options.")
    suggest("anecdotes/miscellaneous", "Please open earlier on Sundays.")
    suggest("general", "Has anyone tried the brunch here?")

    report = aspect_report(filters=last_30_days())

    themes = {theme["category"]: theme for theme in report["suggestions"]}
    assert set(themes) == {"menu and options", "general"}
    assert themes["general"]["count"] == 2  # exact: the question counts as a suggestion row
    assert [g["text"] for g in themes["general"]["groups"]] == ["Please open earlier on Sundays."]
    assert [g["text"] for g in themes["menu and options"]["groups"]] == ["Maybe add more vegan options."]


def test_ranked_by_how_many_customers_ask_then_recency_and_rating_not_alphabetically():
    suggest("service and staff", "Add a second waiter at lunch time.", 1, days_ago=1, rating="5")
    suggest("price and value", "Bring back the lunch menu at ten euros.", 3, days_ago=20, rating="4")
    suggest("drinks", "Offer a few alcohol free cocktails.", 1, days_ago=1, rating="1")

    top = aspect_report(filters=last_30_days())["top_suggestions"]

    assert [g["text"] for g in top] == [
        "Bring back the lunch menu at ten euros.",  # three customers
        "Offer a few alcohol free cocktails.",  # one, as recent, but from a 1-star review
        "Add a second waiter at lunch time.",
    ]
    assert top[0]["reviews"] == 3 and top[0]["mean_rating"] == 4.0


def test_profanity_in_a_suggestion_is_masked():
    suggest("service and staff", "They should fire that shitty rude bartender.")

    [group] = aspect_report(filters=last_30_days())["top_suggestions"]

    assert group["masked"] is True
    assert "shit" not in group["text"] and "****" in group["text"]


@pytest.mark.skipif(not encoder.is_available(), reason="the MiniLM wheel is not installed")
def test_near_duplicates_are_grouped_by_meaning_with_the_sentence_encoder():
    suggest("speed and waiting", "The service could be a lot faster.", 2)
    suggest("speed and waiting", "Please speed up the service.")
    suggest("speed and waiting", "Open the kitchen earlier on weekends.")

    [theme] = aspect_report(filters=last_30_days())["suggestions"]

    assert [(g["text"], g["reviews"]) for g in theme["groups"]] == [
        ("The service could be a lot faster.", 3),
        ("Open the kitchen earlier on weekends.", 1),
    ]


def test_without_the_encoder_tf_idf_groups_shared_wordings(monkeypatch):
    monkeypatch.setattr(encoder, "is_available", lambda: False)
    suggest("menu and options", "Add more vegan options to the menu.", 2)
    suggest("menu and options", "More vegan options on the menu please.")
    suggest("menu and options", "Please print the prices outside the door.")

    [theme] = aspect_report(filters=last_30_days())["suggestions"]

    assert [(g["text"], g["reviews"]) for g in theme["groups"]] == [
        ("Add more vegan options to the menu.", 3),
        ("Please print the prices outside the door.", 1),
    ]


def test_a_sentence_the_detector_is_unsure_of_is_counted_but_not_listed():
    suggest("service and staff", "They should hire more staff on weekends.", confidence=0.95)
    suggest("service and staff", "They are quick to refill our drinks.", confidence=0.55)

    report = aspect_report(filters=last_30_days())

    [service] = report["suggestions"]
    assert service["count"] == 2
    assert [g["text"] for g in service["groups"]] == ["They should hire more staff on weekends."]
