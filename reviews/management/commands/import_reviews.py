"""manage.py import_reviews PATH: load reviews from CSV or JSON lines, predicted in batches.

Idempotent by (source, external id): importing the same file twice adds nothing.
Rows without text are skipped; rows with invalid values are reported with reasons.
Exits 0 when some rows are invalid; non-zero only for a missing file or column.
"""

from __future__ import annotations

import hashlib
import sys
from collections import Counter
from datetime import datetime
from pathlib import Path

from dateutil import parser as date_parser
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from pydantic import ValidationError
from tqdm import tqdm

from reviews.files import WINDOWS_1252, UnreadableFile, file_encoding, read_rows
from reviews.importing import reviews_import
from reviews.scales import (
    RATING_SCALES,
    LabelReading,
    RatingScale,
    detect_label_reading,
    detect_rating_scale,
    parse_label_map,
    parse_rating_value,
)
from reviews.schemas import ReviewIn
from reviews.services import review_bulk_label
from reviews.sql import analyze_after_bulk_load

BATCH_SIZE = 1000
TEXT_COLUMNS = ("text", "review", "review_text", "content", "body", "comment")
RATING_COLUMNS = ("rating", "stars", "score", "star_rating")
MAX_DISTINCT_LABELS = 1_000  # a label column with more distinct values is not labels: stop collecting


def pick_column(columns: list[str], wanted: str | None, candidates: tuple[str, ...], option: str) -> str | None:
    if wanted:
        if wanted not in columns:
            raise CommandError(f"Column {wanted!r} ({option}) is not in the file; columns: {', '.join(columns)}")
        return wanted
    lowered = {column.lower(): column for column in columns}
    return next((lowered[name] for name in candidates if name in lowered), None)


def content_id(text, row: dict, columns: tuple[str | None, ...]) -> str:
    """Without an id column, the content identifies the review, so a re-import still adds nothing."""
    parts = [str(text).strip()] + [str(row.get(column) or "") for column in columns if column]
    return "sha1:" + hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def parse_date(raw: str) -> datetime:
    """ISO dates (most exports) the fast way; anything else ("Nov 20, 2026", "20/11/2026") through dateutil.
    dateutil fills missing parts from today; here a month without its day ("Mar 2019") is the 1st of that
    month and a bare year its 1 January, and a date without a year ("March", "Tuesday") is refused."""
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError:
        pass
    one = date_parser.parse(raw, default=datetime(2001, 1, 1))
    other = date_parser.parse(raw, default=datetime(2002, 2, 2))
    if one.year != other.year:
        raise ValueError(f"date {raw[:30]!r} has no year")
    return one.replace(month=one.month if one.month == other.month else 1, day=one.day if one.day == other.day else 1)


class Command(BaseCommand):
    help = "Import reviews from a CSV or JSONL file (idempotent by source + external id)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path")
        parser.add_argument("--text-col", help="Column with the review text (default: text/review/content…)")
        parser.add_argument(
            "--rating-col",
            help="Column with ratings (default: rating/stars/score if present); stored as 1-5 stars",
        )
        parser.add_argument(
            "--rating-scale",
            type=int,
            choices=RATING_SCALES,
            help="Highest rating of the file's scale (default: learnt from the file: 5, 10 or 100)",
        )
        parser.add_argument("--source", default=None, help="Source name for every row (default: the file's name)")
        parser.add_argument("--date-col", help="Column with when the customer wrote it")
        parser.add_argument("--business-col", help="Column with the business name or id")
        parser.add_argument("--author-col", help="Column with the author")
        parser.add_argument(
            "--id-col",
            help="Column with the source's own id (default: a hash of the content, so re-imports add nothing)",
        )
        parser.add_argument(
            "--label-col",
            help="Column with human labels: positive/neutral/negative, or numbers (0/1, -1/0/1, 0/1/2, 1/2, stars)",
        )
        parser.add_argument(
            "--label-map",
            help='What the label column\'s values mean, e.g. "0=negative,1=positive" (default: learnt from the file)',
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args, **options) -> None:
        path = Path(options["path"])
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            encoding = file_encoding(path)
            if encoding == WINDOWS_1252:
                self.stderr.write(f"{path.name} is not UTF-8: read as Windows-1252")
            columns, rows = read_rows(path, encoding)
        except UnreadableFile as exc:
            raise CommandError(str(exc)) from None
        text_col = pick_column(columns, options["text_col"], TEXT_COLUMNS, "--text-col")
        if text_col is None:
            raise CommandError(f"No text column found; pass --text-col (columns: {', '.join(columns)})")
        rating_col = pick_column(columns, options["rating_col"], RATING_COLUMNS, "--rating-col")
        date_col = pick_column(columns, options["date_col"], (), "--date-col")
        business_col = pick_column(columns, options["business_col"], (), "--business-col")
        author_col = pick_column(columns, options["author_col"], (), "--author-col")
        id_col = pick_column(columns, options["id_col"], (), "--id-col")
        label_col = pick_column(columns, options["label_col"], (), "--label-col")
        source = (options["source"] or path.stem)[:50]
        rating_scale, label_reading = self.readings(path, encoding, rating_col, label_col, options)

        counts: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        batch: list[tuple[ReviewIn, str | None]] = []
        progress = tqdm(desc=f"Importing {path.name}", unit=" rows", file=sys.stderr, mininterval=0.5)

        def flush() -> None:
            if not batch:
                return
            results = reviews_import(items=[item for item, _ in batch])
            labels = {}
            for (_, label), result in zip(batch, results, strict=True):
                counts["imported" if result.created else "already present"] += 1
                if label:
                    labels[result.review_id] = label
            if labels:
                counts["labelled"] += review_bulk_label(labels=labels, user_id=None)
            progress.update(len(batch))
            batch.clear()

        for row in rows:
            counts["rows"] += 1
            if "__error__" in row:
                counts["invalid"] += 1
                reasons[row["__error__"].split(":", 1)[1].strip()] += 1
                continue
            text = row.get(text_col)
            if text is None or not str(text).strip():
                counts["skipped (no text)"] += 1
                continue
            if not isinstance(text, str):  # a JSON number, list or object: not a review's text
                counts["invalid"] += 1
                reasons[f"text is a JSON {type(text).__name__}, not a string"] += 1
                continue
            try:
                label = None
                if label_col:
                    try:
                        label = label_reading.label(row.get(label_col))
                    except ValueError as exc:
                        # Keep the review, as for a rating: its text is worth having without the label.
                        counts["label ignored"] += 1
                        reasons[f"label ignored: {exc}"] += 1
                review_date = None
                if date_col and str(row.get(date_col) or "").strip():
                    try:
                        review_date = parse_date(str(row[date_col]))
                    except (ValueError, OverflowError):
                        raise ValueError(f"date {str(row[date_col])[:30]!r} is not a date") from None
                rating = None
                if rating_col:
                    try:
                        value = parse_rating_value(row.get(rating_col))
                        rating = None if value is None else rating_scale.to_stars(value)
                    except ValueError as exc:
                        # Keep the text, which is worth having without its stars.
                        counts["rating ignored"] += 1
                        reasons[f"rating ignored: {exc}"] += 1
                item = ReviewIn(
                    text=str(text),
                    source=source,
                    rating=rating,
                    business=str(row.get(business_col) or "")[:200] if business_col else None,
                    author=str(row.get(author_col) or "")[:200] if author_col else None,
                    # A row whose id cell is blank is identified by its content, as without --id-col: a
                    # re-import must not store it again. An id over 200 characters is an invalid row (as in
                    # the API): cut short, two ids sharing a prefix would pass for the same review.
                    external_id=(str(row.get(id_col) or "").strip() if id_col else "")
                    or content_id(text, row, (business_col, author_col, date_col)),
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
            if len(batch) >= options["batch_size"]:
                flush()
        flush()
        progress.close()
        analyze_after_bulk_load(connection, ["reviews_review", "reviews_prediction"], counts["imported"])

        summary = ", ".join(
            f"{counts[key]} {key}"
            for key in (
                "rows",
                "imported",
                "already present",
                "labelled",
                "skipped (no text)",
                "invalid",
                "rating ignored",
                "label ignored",
            )
        )
        self.stdout.write(f"{path.name}: {summary} (text column {text_col!r}, rating column {rating_col!r})")
        for reason, n in reasons.most_common(10):
            self.stdout.write(f"  {n} x {reason}")

    def readings(
        self, path: Path, encoding: str, rating_col: str | None, label_col: str | None, options: dict
    ) -> tuple[RatingScale, LabelReading]:
        """The file's rating scale and label meanings: from the options, else from a first pass over the file.

        A row alone cannot say whether 7 is out of range or a 1-10 rating, or whether "0" is negative
        or neutral (reviews/scales.py); the whole column can.
        """
        try:
            label_map = parse_label_map(options["label_map"]) if options.get("label_map") else None
        except ValueError as exc:
            raise CommandError(f"--label-map: {exc}") from None
        scale = RatingScale(options["rating_scale"]) if options.get("rating_scale") else None
        ratings, labels = [], set()
        if (rating_col and scale is None) or (label_col and label_map is None):
            _, rows = read_rows(path, encoding)
            for row in rows:
                if rating_col and scale is None:
                    try:
                        value = parse_rating_value(row.get(rating_col))
                    except ValueError:
                        value = None  # counted as "rating ignored" on the import pass
                    if value is not None:
                        ratings.append(value)
                if label_col and label_map is None and len(labels) < MAX_DISTINCT_LABELS:
                    raw = row.get(label_col)
                    if raw is not None and not isinstance(raw, dict | list) and str(raw).strip():
                        labels.add(str(raw))
        if scale is None:
            scale = detect_rating_scale(ratings)
            if ratings and scale.top != 5:
                self.stderr.write(
                    f"{path.name}: ratings up to {max(ratings)} read on {scale.describe()} (--rating-scale to change)"
                )
        if label_map is None:
            label_map = detect_label_reading(
                labels, negative_max=settings.RATING_NEGATIVE_MAX, positive_min=settings.RATING_POSITIVE_MIN
            )
            if label_map.numbers:
                self.stderr.write(f"{path.name}: labels read as {label_map.numbers} (--label-map to change)")
        return scale, label_map
