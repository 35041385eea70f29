"""Aspect rows as the extraction stores them, for the report's tests (no fixture files)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from reviews.filters import ReviewFilters
from reviews.models import Review, ReviewAspect


def mentions(
    category: str,
    polarity: str,
    n: int = 1,
    *,
    days_ago: float = 2,
    business: str = "Roma",
    sentence: str | None = None,
    suggestion: bool = False,
    rating: str | None = None,
    confidence: float = 0.9,
) -> list[Review]:
    """n reviews, each with one aspect row (a suggestion row when `suggestion`)."""
    when = timezone.now() - dt.timedelta(days=days_ago)
    reviews = Review.objects.bulk_create(
        [
            Review(
                text=sentence or f"{category} {polarity} {i}",
                business=business,
                review_date=when,
                rating=Decimal(rating) if rating else None,
            )
            for i in range(n)
        ]
    )
    ReviewAspect.objects.bulk_create(
        [
            ReviewAspect(
                review=review,
                category=category,
                polarity=polarity,
                sentence=sentence if sentence is not None else f"The {category} was {polarity}, visit {i}.",
                confidence=confidence,
                is_suggestion=suggestion,
            )
            for i, review in enumerate(reviews)
        ]
    )
    return reviews


def last_30_days(**fields) -> ReviewFilters:
    today = timezone.localdate()
    return ReviewFilters(date_from=today - dt.timedelta(days=29), date_to=today, **fields)
