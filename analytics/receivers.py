"""analytics hears what reviews changed (reviews/events.py) and marks the rollup days it holds."""

from __future__ import annotations

from django.dispatch import receiver

from analytics.aspect_rollups import aspect_rollup_mark_dirty, aspect_rollup_mark_reviews_dirty
from analytics.rollups import rollup_mark_dirty, rollup_mark_reviews_dirty, rollup_rebuild_marked
from reviews import events


@receiver(events.review_days_changed)
def mark_review_days(sender, moments, **kwargs) -> None:
    rollup_mark_dirty(moments)


@receiver(events.reviews_leaving_days)
def mark_days_of_reviews(sender, review_ids, **kwargs) -> None:
    rollup_mark_reviews_dirty(review_ids)


@receiver(events.aspect_days_changed)
def mark_aspect_days(sender, moments, **kwargs) -> None:
    aspect_rollup_mark_dirty(moments)


@receiver(events.aspect_reviews_leaving_days)
def mark_aspect_days_of_reviews(sender, review_ids, **kwargs) -> None:
    aspect_rollup_mark_reviews_dirty(review_ids)


@receiver(events.import_finished)
def rebuild_what_the_import_marked(sender, **kwargs) -> None:
    # The import's reviews are in the rollups the moment it ends, not at the next refresh.
    rollup_rebuild_marked()
