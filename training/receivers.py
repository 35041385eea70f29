"""training hears Django's and reviews' events (reviews/events.py)."""

from __future__ import annotations

from django.db.models.signals import post_migrate
from django.dispatch import receiver

from reviews import events
from training.aspect_extraction import STAFF_ANNOTATION_SOURCE
from training.models import AspectAnnotation
from training.registry import model_version_ensure_baseline


@receiver(post_migrate)
def create_baseline_model(sender, app_config=None, **kwargs) -> None:
    # post_migrate fires once per app with models (after all migrations ran); do the work once.
    if app_config is None or app_config.label != "training":
        return
    model_version_ensure_baseline()


@receiver(events.staff_aspects_saved)
def keep_staff_aspects_as_annotation(sender, review, aspects, scheme, **kwargs) -> None:
    """Staff corrections train the aspect model: the review's saved mentions (even none) as an annotation,
    in the transaction that saved them."""
    AspectAnnotation.objects.update_or_create(
        source=STAFF_ANNOTATION_SOURCE,
        external_id=f"review-{review.pk}",
        defaults={
            "text": review.text,
            "aspects": [{"category": a.category, "polarity": a.polarity} for a in aspects],
            "scheme": scheme,
            "review": review,
        },
    )
