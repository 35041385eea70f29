"""A review file's columns and dates: which column holds what (by the options' names, else by their usual
names) and how its date cells read."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from dateutil import parser as date_parser

from reviews.schemas import is_blank_text

BATCH_SIZE = 1000
TEXT_COLUMNS = ("text", "review", "review_text", "content", "body", "comment")
RATING_COLUMNS = ("rating", "stars", "score", "star_rating")
# Found by name too, so an export from Yelp or Google is dated and grouped by business without options.
# Not "time": a bare "15:54" would read as today. A cell of a date column found by name that is not a
# date leaves its review undated (counted "date ignored") instead of refusing the row.
DATE_COLUMNS = ("date", "review_date", "reviewed_at", "date_time", "datetime", "timestamp", "created_at")
BUSINESS_COLUMNS = ("business_id", "business", "restaurant", "restaurant_id")
DATE_IGNORED = "date ignored: not a date"
DATE_NOT_A_DATE = "date is not a date"


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
NUMERIC_DATE = re.compile(r"\s*(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}\b")


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
        match = NUMERIC_DATE.match(value)
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
