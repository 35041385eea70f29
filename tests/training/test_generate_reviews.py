from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Count

from reviews.models import Prediction, Review

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.SHARED_DATA_DIR.exists(), reason="shared data not present"),
]


def test_generated_reviews_are_distinct_predicted_and_rated_like_their_sentences():
    call_command("generate_reviews", "--count", "300", "--seed", "1", "--batch", "100", stdout=StringIO())

    assert Review.objects.count() == 300
    assert Review.objects.values("text").annotate(n=Count("id")).filter(n__gt=1).count() == 0
    assert not Review.objects.filter(predicted_label__isnull=True).exists()
    assert Prediction.objects.filter(is_ingest=True).count() == 300
    assert Review.objects.values("source").distinct().count() > 1
    five_stars = Review.objects.filter(rating=5)
    assert five_stars.filter(predicted_label="positive").count() > five_stars.filter(predicted_label="negative").count()
