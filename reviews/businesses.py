"""Writes of business display names (reviews.models.Business); their reads are in reviews.selectors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reviews.models import Business
from reviews.schemas import ReviewIn


def business_names_upsert(*, names: Mapping[str, str]) -> int:
    """Store display names by business key (the id in Review.business); returns how many rows were written.

    Empty names are left out (an empty cell or field never erases a name). Names already stored as given
    are not written again: a file of 100,000 reviews of one business would otherwise rewrite its row once
    per batch. The rest go in one INSERT ... ON CONFLICT DO UPDATE, in key order, so two imports naming
    the same businesses lock their rows in the same order and cannot deadlock; the last writer wins.
    """
    wanted = {key: name for key, name in names.items() if key and name}
    if not wanted:
        return 0
    stored = dict(Business.objects.filter(key__in=list(wanted)).values_list("key", "name"))
    changed = sorted((key, name) for key, name in wanted.items() if stored.get(key) != name)
    if not changed:
        return 0
    Business.objects.bulk_create(
        [Business(key=key, name=name) for key, name in changed],
        update_conflicts=True,
        unique_fields=["key"],
        update_fields=["name", "updated_at"],
    )
    return len(changed)


def business_names_record(*, items: Sequence[ReviewIn]) -> int:
    """The business names that reviews sent through the API carry (business_name for their business), one
    upsert for all of them; the last item's name wins for a business named twice."""
    names = {item.business: item.business_name for item in items if item.business and item.business_name}
    return business_names_upsert(names=names) if names else 0
