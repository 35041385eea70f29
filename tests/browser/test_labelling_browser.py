from __future__ import annotations

import re

import pytest

from reviews.models import LabelEvent, Review
from reviews.roles import LABELLER, MANAGER
from tests.browser.conftest import log_in, orm
from tests.factories import ReviewFactory, UserFactory

pytestmark = pytest.mark.browser

WORDS = ["delicious", "awful", "friendly", "cold", "okay", "rude", "lovely", "bland"]


def make_reviews(count: int, **fields) -> list[int]:
    reviews = []
    for i in range(count):
        scores = {"positive": 0.5 - (i % 7) * 0.03, "neutral": 0.3, "negative": 0.2 + (i % 7) * 0.03}
        label = max(scores, key=scores.get)
        reviews.append(
            ReviewFactory(
                text=f"Review {i}: the food was {WORDS[i % len(WORDS)]} and the staff {WORDS[(i + 3) % len(WORDS)]}.",
                predicted_label=label,
                predicted_confidence=scores[label],
                predicted_scores=scores,
                **fields,
            ).pk
        )
    return reviews


def test_a_labeller_labels_twenty_reviews_with_the_keyboard_only(page, settings):
    orm(UserFactory, username="lara", role=LABELLER)
    orm(make_reviews, 30)
    log_in(page, "lara")

    page.goto("/labelling/")
    card = page.locator("#card")
    keys = "1231231231" + "3213213213"
    expected: dict[int, str] = {}
    for key in keys:
        page.wait_for_function("document.getElementById('card').dataset.reviewId")
        review_id = int(card.get_attribute("data-review-id"))
        page.keyboard.press(key)
        expected[review_id] = {"1": "positive", "2": "neutral", "3": "negative"}[key]
        page.wait_for_function(f"document.getElementById('card').dataset.reviewId !== '{review_id}'")
    # Every save confirmed by the server.
    page.wait_for_function("window.labellingState.ops.length === 0")

    labels = orm(lambda: dict(Review.objects.filter(human_label__isnull=False).values_list("id", "human_label")))
    assert labels == expected
    assert len(labels) == 20
    assert orm(lambda: LabelEvent.objects.filter(user__username="lara").count()) == 20
    assert page.locator('[data-progress="labelled_by_me"]').inner_text() == "20"
    assert page.console.problems == []


def test_undo_skip_and_help_work_from_the_keyboard(page):
    orm(UserFactory, username="lara", role=LABELLER)
    orm(make_reviews, 5)
    log_in(page, "lara")
    page.goto("/labelling/")
    page.wait_for_function("document.getElementById('card').dataset.reviewId")
    first = page.locator("#card").get_attribute("data-review-id")

    page.keyboard.press("2")
    page.wait_for_function("window.labellingState.ops.length === 0")
    page.keyboard.press("u")
    page.wait_for_function("window.labellingState.ops.length === 0")
    assert page.locator("#card").get_attribute("data-review-id") == first
    assert orm(lambda: Review.objects.get(pk=int(first)).human_label) is None

    page.keyboard.press("s")
    page.wait_for_function(f"document.getElementById('card').dataset.reviewId !== '{first}'")
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    assert page.console.problems == []


def test_a_manager_bulk_labels_a_filtered_set(page):
    orm(UserFactory, username="mona", role=MANAGER)
    orm(make_reviews, 6, source="yelp", business="Blue Fin")
    orm(make_reviews, 4, source="google", business="Spice Garden")
    log_in(page, "mona")

    page.goto("/labelling/bulk/")
    page.select_option("#f-source", "yelp")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"source=yelp"))
    assert page.locator("#total").inner_text() == "6"
    page.check("#scope-all")
    page.select_option("#bulk-label", "negative")
    page.click("#bulk-apply")
    assert page.locator("#confirm-count").inner_text() == "6"
    page.get_by_role("button", name="Label 6 reviews").click()
    page.wait_for_selector(".flash.success")

    assert orm(lambda: Review.objects.filter(source="yelp", human_label="negative").count()) == 6
    assert orm(lambda: Review.objects.filter(source="google", human_label__isnull=False).count()) == 0
    assert page.console.problems == []
