"""Importing a file of reviews: what `manage.py import_reviews` and the staff Imports page both run.

Idempotent by (source, external id): importing the same file twice adds nothing. Rows without text
are skipped; rows with invalid values are counted with their reasons and the rest imported. A rating
or label that cannot be read is dropped and its review kept. Ratings and labels are read on the
file's own scale (reviews/scales.py). Reviews are predicted and stored in batches
(reviews.importing.reviews_import). A business name column names the business column's ids
(reviews.models.Business): the last non-empty name of a business wins, an empty cell erases nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dateutil import parser as date_parser
from django.conf import settings
from django.db import connection
from pydantic import ValidationError

from reviews import events
from reviews.files import WINDOWS_1252, read_rows
from reviews.files import file_encoding as detect_file_encoding
from reviews.importing import reviews_import
from reviews.scales import (
    LabelReading,
    RatingScale,
    detect_label_reading,
    detect_rating_scale,
    parse_label_map,
    parse_rating_value,
)
from reviews.schemas import ReviewIn, is_blank_text
from reviews.services import business_names_upsert, review_bulk_label
from reviews.sql import analyze_after_bulk_load

BATCH_SIZE = 1000
TEXT_COLUMNS = ("text", "review", "review_text", "content", "body", "comment")
RATING_COLUMNS = ("rating", "stars", "score", "star_rating")
# Found by name too, so an export from Yelp or Google is dated and grouped by business without options.
# Not "time": a bare "15:54" would read as today. A cell of a date column found by name that is not a
# date leaves its review undated (counted "date ignored") instead of refusing the row.
DATE_COLUMNS = ("date", "review_date", "reviewed_at", "date_time", "datetime", "timestamp", "created_at")
BUSINESS_COLUMNS = ("business_id", "business", "restaurant", "restaurant_id")
DATE_IGNORED = "date ignored: not a date"
MAX_DISTINCT_LABELS = 1_000  # a label column with more distinct values is not labels: stop collecting
DATE_NOT_A_DATE = "date is not a date"
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


class ImportRefused(ValueError):
    """The file cannot be imported as asked (a column that is not in it, no text column, a bad label map).
    Nothing was imported."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """Which columns hold what (None: found by name or absent), and how to read ratings and labels."""

    text_col: str | None = None
    rating_col: str | None = None
    source: str | None = None  # default: the file's name
    date_col: str | None = None
    business_col: str | None = None
    author_col: str | None = None
    id_col: str | None = None
    label_col: str | None = None
    rating_scale: int | None = None  # default: learnt from the file
    label_map: str | None = None  # "0=negative,1=positive"; default: learnt from the file
    batch_size: int = BATCH_SIZE
    business_name_col: str | None = None  # display names of the business column's ids


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


def pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], option: str) -> str | None:
    if wanted:
        if wanted not in columns:
            raise ImportRefused(f"Column {wanted!r} ({option}) is not in the file; columns: {', '.join(columns)}")
        return wanted
    lowered = {column.lower(): column for column in columns}
    return next((lowered[name] for name in candidates if name in lowered), None)


def content_id(text, row: dict, columns: tuple[str | None, ...]) -> str:
    """Without an id column, the content identifies the review, so a re-import still adds nothing."""
    parts = [str(text).strip()] + [str(row.get(column) or "") for column in columns if column]
    return "sha1:" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


_EPOCH = re.compile(r"\d{9,10}|\d{12,13}")  # seconds (1973-2286) or milliseconds since 1970
_NUMERIC_DATE = re.compile(r"\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}\b")


def parse_date(raw: str, *, dayfirst: bool = False) -> datetime:
    """ISO dates (most exports) the fast way; Unix times in seconds or milliseconds (Amazon's unixReviewTime);
    anything else ("Nov 20, 2026", "20/11/2026") through dateutil, day first when the file writes dates so
    (file_dayfirst). dateutil fills missing parts from today; here a month without its day ("Mar 2019") is the
    1st of that month and a bare year its 1 January, and a date without a year ("March", "Tuesday") is refused."""
    text = raw.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    if _EPOCH.fullmatch(text):
        seconds = int(text) / (1000 if len(text) > 10 else 1)
        return datetime.fromtimestamp(seconds, tz=UTC)
    one = date_parser.parse(text, default=datetime(2001, 1, 1), dayfirst=dayfirst)
    other = date_parser.parse(text, default=datetime(2002, 2, 2), dayfirst=dayfirst)
    if one.year != other.year:
        raise ValueError(f"date {raw[:30]!r} has no year")
    return one.replace(month=one.month if one.month == other.month else 1, day=one.day if one.day == other.day else 1)


def file_dayfirst(values: list[str]) -> bool:
    """Whether a file writes numeric dates day first (14/03/2014): decided once for the whole file, by the dates
    whose first number cannot be a month, against those whose second cannot be. Row by row, 03/04/2015 in a
    day-first file was read as 4 March."""
    day_first = month_first = 0
    for value in values:
        match = _NUMERIC_DATE.match(value)
        if match:
            first, second = int(match.group(1)), int(match.group(2))
            day_first += first > 12
            month_first += second > 12
    return day_first > month_first


@dataclass(frozen=True, slots=True)
class Columns:
    text: str
    rating: str | None
    date: str | None
    business: str | None
    author: str | None
    id: str | None
    label: str | None
    business_name: str | None = None
    date_by_name: bool = False  # the date column was found by its name, not named by --date-col


def file_columns(columns: list[str], options: ImportOptions) -> Columns:
    """The columns to read, by the options' names or else by their usual names; ImportRefused when one is missing."""
    if not columns:
        raise ImportRefused("The file is empty: no header row or first JSON object naming its columns")
    text_col = pick_column(columns, options.text_col, TEXT_COLUMNS, "--text-col")
    if text_col is None:
        raise ImportRefused(f"No text column found; pass --text-col (columns: {', '.join(columns)})")
    business = pick_column(columns, options.business_col, BUSINESS_COLUMNS, "--business-col")
    business_name = pick_column(columns, options.business_name_col, (), "--business-name-col")
    if business_name and not business:
        raise ImportRefused("--business-name-col names the ids of a business column: pass --business-col too")
    return Columns(
        text=text_col,
        rating=pick_column(columns, options.rating_col, RATING_COLUMNS, "--rating-col"),
        date=pick_column(columns, options.date_col, DATE_COLUMNS, "--date-col"),
        date_by_name=not options.date_col,
        business=business,
        author=pick_column(columns, options.author_col, (), "--author-col"),
        id=pick_column(columns, options.id_col, (), "--id-col"),
        label=pick_column(columns, options.label_col, (), "--label-col"),
        business_name=business_name,
    )


def business_name_cell(value) -> str:
    """A name cell as a display name: "" for an empty cell and for what is no name (a JSON list or object,
    text PostgreSQL refuses), so it never erases a stored name; cut to the column's 200 characters."""
    if value is None or isinstance(value, dict | list):
        return ""
    text = str(value).replace("\x00", "").strip()[:200].strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        return ""
    return "" if is_blank_text(text) else text


def readings(
    path: Path,
    encoding: str,
    columns: Columns,
    options: ImportOptions,
    note: Callable[[str], None],
) -> tuple[RatingScale, LabelReading, bool]:
    """The file's rating scale, label meanings and date order: from the options, else from a first pass over the file.

    A row alone cannot say whether 7 is out of range or a 1-10 rating, or whether "0" is negative
    or neutral (reviews/scales.py); the whole column can.
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
                if isinstance(raw, str) and _NUMERIC_DATE.match(raw):
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
    Raises UnreadableFile (reviews.files) or ImportRefused before any row is stored. `file_name` names the
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
