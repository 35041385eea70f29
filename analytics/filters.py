"""Query-string filters and the CSV of the constructive-feedback report, shared by the analytics
API (`/api/analytics/...`, token auth) and the staff Insights page (session auth), so both read
the same parameters the same way and export the same file."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Mapping

from project import queryparams
from project.queryparams import DATE_FILTER_MESSAGE
from project.spreadsheet import spreadsheet_safe
from reviews.filters import ReviewFilters

RATING_LOWEST, RATING_HIGHEST = 1.0, 5.0
CSV_FILENAME = "constructive-feedback-aspects.csv"
CSV_COLUMNS = [
    "category",
    "mentions",
    "positive",
    "negative",
    "neutral",
    "conflict",
    "positive_share",
    "negative_share",
    "previous_mentions",
    "previous_positive_share",
    "previous_negative_share",
    "mentions_change",
    "positive_share_change",
    "negative_share_change",
    "negative_p_value",
    "issue_score",
    "strength_score",
    "verdict",
    "net_negative_low",
    "net_negative_high",
]


class FilterError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _text(value: str | None) -> str | None:
    # PostgreSQL refuses NUL characters in text: drop them rather than fail the query.
    value = (value or "").replace("\x00", "")
    return value if value.strip() else None


def parse_date(value: str | None, *, field: str):
    """project.queryparams.parse_date, its error naming the field (the API's 422, the pages' message)."""
    try:
        return queryparams.parse_date(value)
    except ValueError:
        raise FilterError(field, DATE_FILTER_MESSAGE) from None


def parse_scope(
    *, business: str | None, source: str | None, date_from: str | None, date_to: str | None
) -> ReviewFilters:
    """Business, source and effective-date range (inclusive days: reviews.filters)."""
    return ReviewFilters(
        business=_text(business),
        source=_text(source),
        date_from=parse_date(date_from, field="date_from"),
        date_to=parse_date(date_to, field="date_to"),
    )


def parse_rating(value: str | float | None, *, field: str) -> float | None:
    """Stars, 1 to 5 inclusive (the API's bounds); blank means no bound."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        rating = float(value)
    except ValueError:
        raise FilterError(field, "Input should be a number") from None
    if math.isnan(rating) or not RATING_LOWEST <= rating <= RATING_HIGHEST:
        raise FilterError(field, f"Input should be between {RATING_LOWEST:g} and {RATING_HIGHEST:g}")
    return rating


def aspect_filters(scope: ReviewFilters, *, rating_min: float | None, rating_max: float | None) -> ReviewFilters:
    """The report's filters: the scope and the rating bounds."""
    return dataclasses.replace(scope, rating_min=rating_min, rating_max=rating_max)


def parse_report_query(query: Mapping[str, str]) -> tuple[ReviewFilters, list[FilterError]]:
    """The report's filters from a query string, for the staff pages: a malformed value is
    reported and left out, the others still apply (the API answers 422 instead)."""
    errors: list[FilterError] = []

    def lenient(parse, *args, **kwargs):
        try:
            return parse(*args, **kwargs)
        except FilterError as error:
            errors.append(error)
            return None

    scope = ReviewFilters(
        business=_text(query.get("business")),
        source=_text(query.get("source")),
        date_from=lenient(parse_date, query.get("date_from"), field="date_from"),
        date_to=lenient(parse_date, query.get("date_to"), field="date_to"),
    )
    if scope.is_reversed:
        errors.append(FilterError("date_from", "the date range is reversed (from after to), so it matched nothing"))
        scope = ReviewFilters(business=scope.business, source=scope.source)
    return (
        aspect_filters(
            scope,
            rating_min=lenient(parse_rating, query.get("rating_min"), field="rating_min"),
            rating_max=lenient(parse_rating, query.get("rating_max"), field="rating_max"),
        ),
        errors,
    )


def report_csv(report: dict) -> str:
    """The report's per-aspect table as CSV (one row per aspect, CSV_COLUMNS)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for aspect in report["aspects"]:
        writer.writerow({column: spreadsheet_safe(aspect.get(column)) for column in CSV_COLUMNS})
    return buffer.getvalue()
