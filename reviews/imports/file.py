"""Importing a file of reviews: what `manage.py import_reviews` and the staff Imports page both run.

Idempotent by (source, external id): importing the same file twice adds nothing. Rows without text
are skipped; rows with invalid values are counted with their reasons and the rest imported. A rating
or label that cannot be read is dropped and its review kept. Ratings and labels are read on the
file's own scale (reviews/imports/scales.py). Reviews are predicted and stored in batches
(reviews.imports.store.reviews_import). A business name column names the business column's ids
(reviews.models.Business): the last non-empty name of a business wins, an empty cell erases nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection
from pydantic import ValidationError

from reviews import events
from reviews.businesses import business_names_upsert
from reviews.imports.columns import (
    DATE_IGNORED,
    DATE_NOT_A_DATE,
    NUMERIC_DATE,
    Columns,
    ImportOptions,
    ImportRefused,
    business_name_cell,
    content_id,
    file_columns,
    file_dayfirst,
    parse_date,
)
from reviews.imports.reading import WINDOWS_1252, read_rows
from reviews.imports.reading import file_encoding as detect_file_encoding
from reviews.imports.scales import (
    LabelReading,
    RatingScale,
    detect_label_reading,
    detect_rating_scale,
    parse_label_map,
    parse_rating_value,
)
from reviews.imports.store import reviews_import
from reviews.schemas import ReviewIn, is_blank_text
from reviews.services import review_bulk_label
from reviews.sql import analyze_after_bulk_load

MAX_DISTINCT_LABELS = 1_000  # a label column with more distinct values is not labels: stop collecting
MAX_DATE_SAMPLES = 100_000  # numeric dates read to tell day-first files from month-first ones
COUNTED = (
    "rows",
    "imported",
    "already present",
    "labelled",
    "skipped (no text)",
    "invalid",
    "rating ignored",
    "label ignored",
)


@dataclass(slots=True)
class ImportSummary:
    file_name: str
    text_col: str = ""
    rating_col: str | None = None
    counts: Counter = field(default_factory=Counter)
    reasons: Counter = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason -> the first value that had it

    def line(self) -> str:
        counted = ", ".join(f"{self.counts[key]} {key}" for key in COUNTED)
        return f"{self.file_name}: {counted} (text column {self.text_col!r}, rating column {self.rating_col!r})"

    def top_reasons(self, limit: int = 10) -> list[tuple[str, int]]:
        return [
            (f"{reason} (e.g. {self.examples[reason]!r})" if reason in self.examples else reason, n)
            for reason, n in self.reasons.most_common(limit)
        ]


def readings(
    path: Path,
    encoding: str,
    columns: Columns,
    options: ImportOptions,
    note: Callable[[str], None],
) -> tuple[RatingScale, LabelReading, bool]:
    """The file's rating scale, label meanings and date order: from the options, else from a first pass over the file.

    A row alone cannot say whether 7 is out of range or a 1-10 rating, or whether "0" is negative
    or neutral (reviews/imports/scales.py); the whole column can.
    """
    try:
        label_map = parse_label_map(options.label_map) if options.label_map else None
    except ValueError as exc:
        raise ImportRefused(f"--label-map: {exc}") from None
    scale = RatingScale(options.rating_scale) if options.rating_scale else None
    ratings, labels, dates = [], set(), []
    if (columns.rating and scale is None) or (columns.label and label_map is None) or columns.date:
        _, rows = read_rows(path, encoding)
        for row in rows:
            if columns.date and len(dates) < MAX_DATE_SAMPLES:
                raw = row.get(columns.date)
                if isinstance(raw, str) and NUMERIC_DATE.match(raw):
                    dates.append(raw)
            if columns.rating and scale is None:
                try:
                    value = parse_rating_value(row.get(columns.rating))
                except ValueError:
                    value = None  # counted as "rating ignored" on the import pass
                if value is not None:
                    ratings.append(value)
            if columns.label and label_map is None and len(labels) < MAX_DISTINCT_LABELS:
                raw = row.get(columns.label)
                if raw is not None and not isinstance(raw, dict | list) and str(raw).strip():
                    labels.add(str(raw))
    if scale is None:
        scale = detect_rating_scale(ratings)
        if ratings:
            # Also for stars: a file of 1-4 out of 10 (IMDb's negative reviews alone) reads as stars, and only
            # the person importing can tell.
            note(f"{path.name}: ratings up to {max(ratings)} read on {scale.describe()} (--rating-scale to change)")
    if label_map is None:
        label_map = detect_label_reading(
            labels, negative_max=settings.RATING_NEGATIVE_MAX, positive_min=settings.RATING_POSITIVE_MIN
        )
        if label_map.numbers:
            note(f"{path.name}: labels read as {label_map.numbers} (--label-map to change)")
    dayfirst = file_dayfirst(dates)
    if dayfirst:
        note(f"{path.name}: dates read day first (14/03/2014 is 14 March)")
    return scale, label_map, dayfirst


def import_file(
    path: Path,
    options: ImportOptions,
    *,
    file_name: str | None = None,
    on_batch: Callable[[int], None] | None = None,
    note: Callable[[str], None] | None = None,
    on_progress: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Import every row of the file at `path`; `on_batch(rows)` after each stored batch, `note(text)` for what
    the reader decided (encoding, scales), `on_progress(summary)` with the counts so far after each batch.
    Raises UnreadableFile (reviews.imports.reading) or ImportRefused before any row is stored. `file_name` names the
    file in the summary and is the default source (an upload is stored under a temporary name)."""
    file_name = file_name or path.name
    note = note or (lambda text: None)
    encoding = detect_file_encoding(path)
    if encoding == WINDOWS_1252:
        note(f"{file_name} is not UTF-8: read as Windows-1252")
    names, rows = read_rows(path, encoding)
    columns = file_columns(names, options)
    found = [
        f"the {what} from column {column!r}"
        for what, column, given in (
            ("dates", columns.date, options.date_col),
            ("businesses", columns.business, options.business_col),
        )
        if column and not given
    ]
    if found:
        note(f"{file_name}: read {' and '.join(found)}, found by name (--date-col / --business-col choose others)")
    source = (options.source or Path(file_name).stem)[:50]
    rating_scale, label_reading, dayfirst = readings(path, encoding, columns, options, note)

    summary = ImportSummary(file_name=file_name, text_col=columns.text, rating_col=columns.rating)
    counts, reasons = summary.counts, summary.reasons
    batch: list[tuple[ReviewIn, str | None]] = []
    names: dict[str, str] = {}  # the batch's business names, the last non-empty one per business

    def flush() -> None:
        if not batch:
            return
        results = reviews_import(items=[item for item, _ in batch])
        if names:
            business_names_upsert(names=names)
            names.clear()
        labels = {}
        for (_, label), result in zip(batch, results, strict=True):
            counts["imported" if result.created else "already present"] += 1
            if label:
                labels[result.review_id] = label
        if labels:
            counts["labelled"] += review_bulk_label(labels=labels, user_id=None)
        if on_batch is not None:
            on_batch(len(batch))
        batch.clear()
        if on_progress is not None:
            on_progress(summary)

    for row in rows:
        counts["rows"] += 1
        if "__error__" in row:
            counts["invalid"] += 1
            reasons[row["__error__"].split(":", 1)[1].strip()] += 1
            continue
        text = row.get(columns.text)
        if text is None or is_blank_text(str(text)):
            counts["skipped (no text)"] += 1
            continue
        if not isinstance(text, str):  # a JSON number, list or object: not a review's text
            counts["invalid"] += 1
            reasons[f"text is a JSON {type(text).__name__}, not a string"] += 1
            continue
        try:
            label = None
            if columns.label:
                try:
                    label = label_reading.label(row.get(columns.label))
                except ValueError as exc:
                    # Keep the review, as for a rating: its text is worth having without the label.
                    counts["label ignored"] += 1
                    reasons[f"label ignored: {exc}"] += 1
            review_date = None
            if columns.date and str(row.get(columns.date) or "").strip():
                try:
                    review_date = parse_date(str(row[columns.date]), dayfirst=dayfirst)
                except (ValueError, OverflowError):
                    # One reason for every such row, with the first value as its example: a file of Unix times
                    # listed each row as its own reason, and the ten shown said nothing of the rest.
                    reason = DATE_IGNORED if columns.date_by_name else DATE_NOT_A_DATE
                    summary.examples.setdefault(reason, str(row[columns.date])[:30])
                    reasons[reason] += 1
                    if columns.date_by_name:  # nobody asked for this column: keep the review, undated
                        counts["date ignored"] += 1
                    else:
                        counts["invalid"] += 1
                        continue
            rating = None
            if columns.rating:
                try:
                    value = parse_rating_value(row.get(columns.rating))
                    rating = None if value is None else rating_scale.to_stars(value)
                except ValueError as exc:
                    # Keep the text, which is worth having without its stars.
                    counts["rating ignored"] += 1
                    reasons[f"rating ignored: {exc}"] += 1
            item = ReviewIn(
                text=str(text),
                source=source,
                rating=rating,
                business=str(row.get(columns.business) or "")[:200] if columns.business else None,
                author=str(row.get(columns.author) or "")[:200] if columns.author else None,
                # A row whose id cell is blank is identified by its content, as without --id-col: a
                # re-import must not store it again. An id over 200 characters is an invalid row (as in
                # the API): cut short, two ids sharing a prefix would pass for the same review.
                external_id=(str(row.get(columns.id) or "").strip() if columns.id else "")
                or content_id(text, row, (columns.business, columns.author, columns.date)),
                review_date=review_date,
            )
        except ValidationError as exc:
            counts["invalid"] += 1
            error = exc.errors()[0]
            reasons[f"{'.'.join(map(str, error['loc']))}: {error['msg']}"] += 1
            continue
        except ValueError as exc:
            counts["invalid"] += 1
            reasons[str(exc)] += 1
            continue
        batch.append((item, label))
        if columns.business_name and item.business:
            name = business_name_cell(row.get(columns.business_name))
            if name:
                names[item.business] = name
        if len(batch) >= options.batch_size:
            flush()
    flush()
    analyze_after_bulk_load(connection, ["reviews_review", "reviews_prediction"], counts["imported"])
    # The dashboard rollups take the imported days in now: an import of reviews dated years ago would
    # otherwise wait for a refresh (their days are read live meanwhile, but each such read costs more).
    events.import_ended()
    return summary
