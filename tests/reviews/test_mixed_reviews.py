"""Mixed reviews: where a review's aspects praise one theme and fault another, the pages say so and show which."""

from __future__ import annotations

import pytest
from django.test import Client

from reviews.models import ReviewAspect
from reviews.roles import LABELLER
from reviews.selectors import MixedVerdict, mixed_verdicts
from tests.factories import ReviewFactory, UserFactory

pytestmark = pytest.mark.django_db


def with_aspects(text: str, *aspects: tuple[str, str]):
    review = ReviewFactory(text=text, predicted_label="neutral", predicted_confidence=0.5)
    for category, polarity in aspects:
        ReviewAspect.objects.create(review=review, category=category, polarity=polarity, sentence=text)
    return review


def test_a_review_that_praises_one_theme_and_faults_another_is_mixed_with_both_sides():
    mixed = with_aspects(
        "Great food, terrible service, lovely room.",
        ("food quality", "positive"),
        ("service and staff", "negative"),
        ("ambience and noise", "positive"),
    )
    one_sided = with_aspects(
        "Great food, lovely room.", ("food quality", "positive"), ("ambience and noise", "positive")
    )
    asking = with_aspects("Great food. Please hire more waiters.", ("food quality", "positive"),
                          ("service and staff", "suggestion"))  # fmt: skip
    bare = ReviewFactory(text="No aspects yet")

    verdicts = mixed_verdicts([mixed.pk, one_sided.pk, asking.pk, bare.pk])

    assert verdicts == {mixed.pk: MixedVerdict(("food quality", "ambience and noise"), ("service and staff",))}
    assert verdicts[mixed.pk].describe() == (
        "positive about food quality and ambience and noise; negative about service and staff"
    )


def test_a_conflicting_mention_counts_on_both_sides_and_general_reads_as_the_place_overall():
    review = with_aspects("Loved the place, but the pasta was both great and cold.", ("general", "positive"),
                          ("food quality", "conflict"))  # fmt: skip

    verdict = mixed_verdicts([review.pk])[review.pk]

    assert verdict == MixedVerdict(("general", "food quality"), ("food quality",))
    assert verdict.describe() == "positive about the place overall and food quality; negative about food quality"
    assert verdict.praised == ["the place overall", "food quality"] and verdict.faulted == ["food quality"]


def test_the_reviews_list_and_the_review_page_show_the_mixed_verdict():
    mixed = with_aspects(
        "Great food, terrible service.", ("food quality", "positive"), ("service and staff", "negative")
    )
    plain = with_aspects("Great food.", ("food quality", "positive"))
    client = Client()
    client.force_login(UserFactory(role=LABELLER))

    listing = client.get("/explore/").content.decode()
    row_of = {
        review.pk: listing.split(f'href="/explore/{review.pk}/"', 1)[1].split("</tr>")[0] for review in (mixed, plain)
    }
    assert 'class="tag mixed"' in row_of[mixed.pk] and "+ food quality" in row_of[mixed.pk]
    assert "− service and staff" in row_of[mixed.pk]
    assert "mixed" not in row_of[plain.pk]

    page = client.get(f"/explore/{mixed.pk}/").content.decode()
    assert "Positive about food quality; negative about service and staff" in page
    assert 'id="mixed-verdict"' not in client.get(f"/explore/{plain.pk}/").content.decode()
