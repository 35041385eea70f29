"""Quotes a manager reads: distinct, tidy, short, from several businesses, never profane."""

from __future__ import annotations

import pytest

from analytics.aspect_report import aspect_report
from analytics.quotes import QUOTES_PER_ASPECT
from analytics.wording import QUOTE_MAX_CHARS
from tests.analytics.mentions import last_30_days, mentions

pytestmark = pytest.mark.django_db


def quotes_of(report: dict, category: str) -> list[dict]:
    return next(aspect for aspect in report["aspects"] if aspect["category"] == category)["quotes"]


def test_the_same_wording_is_quoted_once():
    mentions("ambience and noise", "positive", 3, sentence="Lovely atmosphere.", confidence=0.99)
    mentions("ambience and noise", "positive", 1, sentence="lovely atmosphere!!", confidence=0.98)
    mentions("ambience and noise", "positive", 1, sentence="Candles on every table.", confidence=0.5)
    mentions("ambience and noise", "positive", 1, sentence="Quiet enough to talk.", confidence=0.4)

    quotes = quotes_of(aspect_report(filters=last_30_days()), "ambience and noise")

    assert sorted(q["sentence"] for q in quotes) == [
        "Candles on every table.",
        "Lovely atmosphere.",
        "Quiet enough to talk.",
    ]


def test_quotes_are_spread_over_businesses_round_robin():
    for business, confidence in (("Roma", 0.99), ("Blue Fin", 0.8), ("Spice Garden", 0.7)):
        for i in range(5):
            mentions("food quality", "positive", business=business, confidence=confidence, sentence=f"{business} {i}")

    quotes = quotes_of(aspect_report(filters=last_30_days()), "food quality")

    assert len(quotes) == QUOTES_PER_ASPECT
    assert {q["business"] for q in quotes} == {"Roma", "Blue Fin", "Spice Garden"}


def test_a_profane_sentence_is_never_quoted_and_a_clean_one_stands_in():
    mentions("service and staff", "negative", 6, sentence="The waiter was a fucking idiot.", confidence=0.99)
    mentions("service and staff", "negative", 1, sentence="Nobody came to take our order.", confidence=0.3)

    quotes = quotes_of(aspect_report(filters=last_30_days()), "service and staff")

    assert [q["sentence"] for q in quotes] == ["Nobody came to take our order."]


def test_quotes_are_tidied_and_trimmed():
    long = "; - and then " + "the soup was cold and bland " * 12
    mentions("food quality", "negative", 1, sentence=long)

    [quote] = quotes_of(aspect_report(filters=last_30_days()), "food quality")

    assert quote["sentence"].startswith("And then the soup")
    assert len(quote["sentence"]) <= QUOTE_MAX_CHARS and quote["sentence"].endswith("…")


def test_an_issue_is_quoted_by_its_criticism_and_a_strength_by_its_praise():
    mentions("service and staff", "negative", 10, sentence=None)
    mentions("service and staff", "positive", 1, sentence="Our server was kind.", confidence=1.0)
    mentions("food quality", "positive", 10)
    mentions("food quality", "negative", 1, sentence="The soup was cold.", confidence=1.0)

    report = aspect_report(filters=last_30_days())

    assert {q["polarity"] for q in report["issues_to_fix"][0]["quotes"]} == {"negative"}
    assert {q["polarity"] for q in report["strengths"][0]["quotes"]} == {"positive"}


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("The waiter was a fucking idiot.", "The waiter was a **** idiot."),
        ("sh1t food", "**** food"),
        ("f*ck this", "**** this"),
        ("Lots of drugs and prostitutes around here.", "Lots of drugs and **** around here."),
        ("Great meatballs, classy assistant manager.", "Great meatballs, classy assistant manager."),
    ],
)
def test_profanity_is_found_in_its_leetspeak_forms_and_masked(text, shown):
    from analytics.wording import is_offensive, masked

    assert masked(text) == shown
    assert is_offensive(text) is (text != shown)
