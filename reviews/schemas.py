"""Request and response shapes of the reviews API (also used by the import command)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal

from django.utils import timezone
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from project.queryparams import DATE_FILTER_MESSAGE, parse_date
from reviews.models import MAX_TEXT_LENGTH


class Label(str, Enum):
    positive = "positive"
    neutral = "neutral"
    negative = "negative"


def _clean_string(value: str) -> str:
    # PostgreSQL refuses NUL characters and lone surrogates; reject them here with a
    # message rather than fail deep in the database driver.
    value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("contains characters that are not valid Unicode text") from exc
    return value.strip()


def is_blank_text(value: str) -> bool:
    """Nothing a person can read: empty, whitespace, or only invisible characters (zero-width spaces, joiners,
    direction marks: Unicode "format" and control characters), which str.strip() keeps."""
    return all(char.isspace() or unicodedata.category(char) in ("Cf", "Cc") for char in value)


def _required_text(value: str) -> str:
    value = _clean_string(value)
    if is_blank_text(value):
        raise ValueError("must not be empty, only whitespace or only invisible characters")
    return value


ReviewText = Annotated[str, Field(max_length=MAX_TEXT_LENGTH), AfterValidator(_required_text)]
# The length is checked before cleaning, as for the text: a constraint after an AfterValidator gets
# pydantic's generic "Value should have at most 200 items" instead of a message about characters.
ShortString = Annotated[str, Field(max_length=200), AfterValidator(_clean_string)]


def validate_rating(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if value < 1 or value > 5:
        raise ValueError("must be between 1 and 5")
    if (value * 2) % 1 != 0:
        raise ValueError("must be a whole or half star (1, 1.5, ... 5)")
    return value


def _date_only_to_datetime(value):
    """Accept a bare date ("2026-11-20", or ISO's basic "20261120") wherever a date-time is expected: midnight.
    Numbers are refused: pydantic would read 20261120 as seconds since 1970 (a date in August 1970)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError("must be an ISO 8601 date or date-time string, not a number")
    if isinstance(value, str) and value.strip().isdigit():
        text = value.strip()
        if len(text) != 8:
            raise ValueError("must be an ISO 8601 date or date-time string, not a number")
        value = f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return dt.datetime.combine(dt.date.fromisoformat(value.strip()), dt.time())
        except ValueError:
            return value
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return dt.datetime.combine(value, dt.time())
    return value


FlexibleDateTime = Annotated[dt.datetime, BeforeValidator(_date_only_to_datetime)]


def parse_date_filter(value: str | None, *, field: str) -> dt.date | dt.datetime | None:
    """project.queryparams.parse_date for the API: a malformed value is a 422 naming the field."""
    try:
        return parse_date(value)
    except ValueError:
        raise RequestValidationError(
            [{"loc": ("query", field), "msg": DATE_FILTER_MESSAGE, "type": "value_error"}]
        ) from None


def aware_datetime(value: dt.datetime | dt.date | None) -> dt.datetime | None:
    """Dates become midnight, naive times are read in the configured TIME_ZONE; the result is in UTC.

    UTC because PostgreSQL refuses UTC offsets beyond 15:59, which ISO 8601 (and pydantic) allow up
    to 23:59: "2026-05-15T04:11:00-22:06" is a valid instant that PostgreSQL cannot read as written.
    """
    if value is None:
        return None
    if not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by the offset
        raise ValueError("date-time out of range") from None


# How far ahead of the server's clock a review date may be: time zones and clock skew, not more.
REVIEW_DATE_MAX_AHEAD = dt.timedelta(days=1)


class ReviewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "Great food but the service could be faster.",
                    "source": "google",
                    "rating": 4,
                    "business": "g-place-8841",
                    "business_name": "Trattoria Roma",
                    "author": "Maria",
                    "external_id": "g-12345",
                    "review_date": "2026-11-20",
                }
            ]
        },
    )

    text: ReviewText = Field(description="The review, 1-20,000 characters")
    source: Annotated[str, Field(max_length=50), AfterValidator(_required_text)] = Field(
        default="api", description="Where it came from: google, yelp, tripadvisor, website, ..."
    )
    rating: Annotated[Decimal | None, AfterValidator(validate_rating)] = Field(
        default=None, ge=1, le=5, description="Stars, 1-5, half stars allowed", examples=[4.5]
    )
    business: ShortString | None = Field(
        default=None, description="The business reviewed: the source's id for it, or its name (filters use it)"
    )
    business_name: ShortString | None = Field(
        default=None,
        description="The business's display name, shown instead of `business` on the pages and in the reviews' "
        "output; the latest non-empty name sent for a business is kept. Needs `business`",
    )
    author: ShortString | None = None
    external_id: ShortString | None = Field(
        default=None, description="The source's own id; unique per source, so re-imports do not duplicate"
    )
    review_date: FlexibleDateTime | None = Field(
        default=None,
        description="When the customer wrote it (date or date-time; naive = server time zone); "
        "at most one day in the future",
    )

    @field_validator("review_date", mode="after")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        value = aware_datetime(value)
        if value is not None and value > timezone.now() + REVIEW_DATE_MAX_AHEAD:
            # A future date would sit on top of every "latest" view and trend until that day came.
            raise ValueError("is in the future (more than one day ahead of the server's clock)")
        return value

    @model_validator(mode="after")
    def _empty_external_id_is_none(self) -> ReviewIn:
        if self.external_id == "":
            self.external_id = None
        if self.business_name == "":  # an empty name never erases one
            self.business_name = None
        if self.business_name is not None and not self.business:
            raise ValueError("business_name needs business (the id it names)")
        return self


class TermWeight(BaseModel):
    term: str = Field(examples=["delicious"])
    weight: float = Field(description="Push towards the predicted label (negative: against it)", examples=[0.82])


class PredictionOut(BaseModel):
    label: Label
    confidence: float = Field(examples=[0.87])
    scores: dict[Literal["positive", "neutral", "negative"], float] = Field(
        examples=[{"positive": 0.87, "neutral": 0.09, "negative": 0.04}]
    )
    model_version: str | None = Field(examples=["baseline-lexicon"])
    explanation: list[TermWeight] | None = Field(
        default=None, description="With explain=true: the words that pushed the score most"
    )


class ReviewOut(BaseModel):
    id: int
    text: str
    source: str
    rating: float | None
    business: str
    business_name: str | None = Field(description="The business's display name; null when none is known")
    author: str
    external_id: str | None
    review_date: dt.datetime | None
    created_at: dt.datetime
    effective_date: dt.datetime = Field(description="review_date when known, else created_at")
    prediction: PredictionOut | None
    human_label: Label | None
    human_labelled_by: str | None
    human_labelled_at: dt.datetime | None


class ReviewPage(BaseModel):
    total: int = Field(description="Reviews matching the filters")
    page: int
    page_size: int
    pages: int
    results: list[ReviewOut]


class BulkReviewsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Items are validated one by one so a bad item (even one that is not an object) does not reject
    # the good ones.
    reviews: list[Any] = Field(
        min_length=1,
        max_length=1000,
        description="Up to 1,000 reviews, each shaped like the body of POST /api/reviews/ (an item that is not "
        "is reported invalid in `results`)",
    )


class BulkItemResult(BaseModel):
    index: int
    status: Literal["created", "exists", "invalid"]
    id: int | None = None
    prediction: PredictionOut | None = None
    errors: list[dict] | None = None


class BulkReviewsOut(BaseModel):
    created: int
    existing: int
    invalid: int
    results: list[BulkItemResult]


class LabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"label": "positive"}]})
    label: Label


class PredictIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "The pasta was superb."}, {"texts": ["Loved it", "Too slow"]}]},
    )
    text: ReviewText | None = None
    texts: list[ReviewText] | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictIn:
        if (self.text is None) == (self.texts is None):
            raise ValueError("send exactly one of 'text' or 'texts'")
        return self


class PredictOut(BaseModel):
    model_version: str
    predictions: list[PredictionOut]
