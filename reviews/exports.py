"""Exports of reviews: one set of columns for the API (CSV or JSON Lines) and the Explore page's CSV.

Keyset pages by id, each batch one complete query: a stream never holds a cursor open across threads
(Starlette and Django's ASGI handler pull each chunk on whichever thread is free). CSV text cells pass
through project.spreadsheet (no formula runs in a manager's spreadsheet); JSON is exactly as stored.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator

from project.spreadsheet import spreadsheet_safe
from reviews.filters import ReviewFilters
from reviews.models import Review
from reviews.selectors import review_list

EXPORT_FIELDS = [
    "id",
    "text",
    "source",
    "rating",
    "business",
    "author",
    "external_id",
    "review_date",
    "created_at",
    "effective_date",
    "predicted_label",
    "predicted_confidence",
    "score_positive",
    "score_neutral",
    "score_negative",
    "model_version",
    "human_label",
    "human_labelled_at",
]
BATCH_SIZE = 1000


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def export_row(review: Review) -> dict:
    scores = review.predicted_scores or {}
    return {
        "id": review.pk,
        "text": review.text,
        "source": review.source,
        "rating": float(review.rating) if review.rating is not None else None,
        "business": review.business,
        "author": review.author,
        "external_id": review.external_id,
        "review_date": _iso(review.review_date),
        "created_at": review.created_at.isoformat(),
        "effective_date": _iso(review.effective_at),
        "predicted_label": review.predicted_label,
        "predicted_confidence": review.predicted_confidence,
        "score_positive": scores.get("positive"),
        "score_neutral": scores.get("neutral"),
        "score_negative": scores.get("negative"),
        "model_version": review.predicted_by.name if review.predicted_by else None,
        "human_label": review.human_label,
        "human_labelled_at": _iso(review.human_labelled_at),
    }


def export_batch(filters: ReviewFilters, after_id: int, size: int = BATCH_SIZE) -> list[dict]:
    """The next `size` rows after `after_id`, in one query."""
    batch = review_list(filters=filters, ordering="id").select_related("predicted_by").filter(id__gt=after_id)
    return [export_row(review) for review in batch[:size]]


def _csv(rows: list[dict], *, header: bool = False) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS)
    if header:
        writer.writeheader()
    writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


def export_lines(
    filters: ReviewFilters, export_format: str = "csv", fetch: Callable[..., list[dict]] = export_batch
) -> Iterator[str]:
    """The export as chunks of text, one per batch; `fetch` may wrap export_batch (e.g. to release the
    thread's database connection after each batch)."""
    if export_format == "csv":
        yield _csv([], header=True)
    after_id = 0
    while rows := fetch(filters, after_id):
        after_id = rows[-1]["id"]
        if export_format == "csv":
            yield _csv(rows)
        else:
            yield "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
