"""What reviews tells the layers above it when stored reviews change.

reviews imports no app above it. analytics (the dashboard and aspect rollups) and training (staff
aspect corrections kept as training annotations) connect receivers to these signals in their
AppConfig.ready(). Receivers run synchronously, inside the sender's transaction: a rollup mark or an
annotation commits, or rolls back, with the change that caused it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.dispatch import Signal

# moments: effective dates (aware datetimes, or None for undated reviews) whose review counts changed.
review_days_changed = Signal()
# review_ids: stored reviews about to change day or be deleted (their current days change).
reviews_leaving_days = Signal()
# moments: effective dates whose aspect mentions changed.
aspect_days_changed = Signal()
# review_ids: reviews whose stored aspect rows are about to go.
aspect_reviews_leaving_days = Signal()
# An import ended: what it marked can be rebuilt at once.
import_finished = Signal()
# review, aspects (reviews.aspects.StaffAspect), scheme: staff saved a review's aspect mentions.
staff_aspects_saved = Signal()
# review, judged (list of (sentence, is a suggestion)): staff saved a review's suggestions.
staff_suggestions_saved = Signal()


def days_changed(moments: Iterable[dt.datetime | None]) -> None:
    review_days_changed.send(sender=days_changed, moments=list(moments))


def reviews_leaving(review_ids: Iterable[int]) -> None:
    reviews_leaving_days.send(sender=reviews_leaving, review_ids=list(review_ids))


def aspect_days_changed_at(moments: Iterable[dt.datetime | None]) -> None:
    aspect_days_changed.send(sender=aspect_days_changed_at, moments=list(moments))


def aspect_reviews_leaving(review_ids: Iterable[int]) -> None:
    aspect_reviews_leaving_days.send(sender=aspect_reviews_leaving, review_ids=list(review_ids))


def import_ended() -> None:
    import_finished.send(sender=import_ended)
