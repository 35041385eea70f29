"""Upgrading an install whose stored aspects carry the SemEval-2014 categories: rows and rollups speak themes."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from analytics.aspect_rollups import aspect_rollup_rebuild_all, aspect_rollup_refresh, coverage
from analytics.models import AspectRollupState, DailyAspectRollup
from reviews.models import ReviewAspect
from tests.factories import ReviewFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("reviews", "0013_drop_review_effective_at_index"),
    ("analytics", "0006_monitoring_and_alerts_move_to_training"),
]


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


def _latest() -> list[tuple[str, str]]:
    return MigrationExecutor(connection).loader.graph.leaf_nodes()


def test_upgrading_renames_the_stored_categories_to_themes_and_rebuilds_the_aspect_rollups():
    _migrate(BEFORE)
    review = ReviewFactory(text="Great food, rude waiter, pricey. Lovely room. We will be back. Add parking!")
    old = [
        ("food", "positive", False, "model"),
        ("service", "negative", False, "staff"),
        ("price", "negative", False, "model"),
        ("ambience", "positive", False, "model"),
        ("anecdotes/miscellaneous", "positive", False, "model"),
        ("general", "neutral", True, "model"),  # a suggestion about no aspect: already a theme's name
        ("parking lot", "negative", False, "staff"),  # a staff category of its own: left as it is
    ]
    for category, polarity, suggestion, source in old:
        ReviewAspect.objects.create(
            review=review, category=category, polarity=polarity, is_suggestion=suggestion, source=source, confidence=1
        )
    aspect_rollup_rebuild_all()
    assert "food" in set(DailyAspectRollup.objects.values_list("category", flat=True))

    _migrate(_latest())

    assert sorted(ReviewAspect.objects.values_list("category", "polarity", "is_suggestion", "source")) == [
        ("ambience and noise", "positive", False, "model"),
        ("food quality", "positive", False, "model"),
        ("general", "neutral", True, "model"),
        ("general", "positive", False, "model"),
        ("parking lot", "negative", False, "staff"),
        ("price and value", "negative", False, "model"),
        ("service and staff", "negative", False, "staff"),
    ]
    # The rollups held the old names: emptied and unbuilt, so the report reads the rows until the next refresh.
    assert not DailyAspectRollup.objects.exists()
    assert AspectRollupState.objects.get().covered_until is None and coverage("day") is None
    aspect_rollup_refresh()
    assert set(DailyAspectRollup.objects.values_list("category", flat=True)) == {
        "ambience and noise",
        "food quality",
        "general",
        "parking lot",
        "price and value",
        "service and staff",
    }
