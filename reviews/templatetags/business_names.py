"""{{ review.business|business_label }}: a business's display name, or its id where none is known.

One query per use: for one review's page. Lists name a page of reviews with one query instead
(reviews.selectors.business_names, as reviews.views does for the explorer).
"""

from __future__ import annotations

from django import template

from reviews.selectors import business_label as _business_label

register = template.Library()


@register.filter
def business_label(key: str) -> str:
    return _business_label(key or "")
