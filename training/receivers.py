"""training hears Django's and reviews' events (reviews/events.py)."""

from __future__ import annotations

import hashlib

from django.db.models.signals import post_migrate
from django.dispatch import receiver

from reviews import events
from training.aspect_extraction import STAFF_ANNOTATION_SOURCE
from training.defaults import model_version_ensure_defaults
from training.models import AspectAnnotation, SuggestionAnnotation
from training.registry import model_version_ensure_baseline
from training.suggestions import STAFF as STAFF_SUGGESTION_SOURCE


@receiver(post_migrate)
def create_baseline_model(sender, app_config=None, **kwargs) -> None:
    # post_migrate fires once per app with models (after all migrations ran); do the work once.
    if app_config is None or app_config.label != "training":
        return
    model_version_ensure_baseline()
    model_version_ensure_defaults()


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


@receiver(events.staff_suggestions_saved)
def keep_staff_suggestions_as_annotations(sender, review, judged, **kwargs) -> None:
    """Staff corrections train the suggestion detector: each sentence staff judged on the review page (a
    suggestion or not) as an annotation, replacing the review's earlier ones, in the transaction that saved
    them. Keyed by the sentence's hash, so re-saving the same review updates rather than duplicates."""
    keys = {}
    for sentence, is_suggestion in judged:
        digest = hashlib.sha1(sentence.encode()).hexdigest()[:16]
        keys[f"review-{review.pk}:{digest}"] = (sentence, is_suggestion)
    SuggestionAnnotation.objects.filter(source=STAFF_SUGGESTION_SOURCE, review=review).exclude(
        external_id__in=list(keys)
    ).delete()
    for external_id, (sentence, is_suggestion) in keys.items():
        SuggestionAnnotation.objects.update_or_create(
            source=STAFF_SUGGESTION_SOURCE,
            external_id=external_id,
            defaults={"text": sentence, "is_suggestion": is_suggestion, "review": review},
        )
