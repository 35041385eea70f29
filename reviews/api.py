"""The reviews API: ingest, list, label, predict, export."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from enum import Enum
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from starlette.concurrency import run_in_threadpool

from project.auth import Principal, require
from project.coalesce import Coalescer
from project.db import releases_db_connection
from project.errors import error_responses
from project.routing import DjangoAPIRouter
from project.spreadsheet import spreadsheet_safe
from reviews import aspects as aspect_services
from reviews import selectors, services
from reviews.filters import ReviewFilters
from reviews.models import Review, ReviewAspect
from reviews.schemas import (
    BulkItemResult,
    BulkReviewsIn,
    BulkReviewsOut,
    Label,
    LabelIn,
    PredictIn,
    PredictionOut,
    PredictOut,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    TermWeight,
    parse_date_filter,
)
from training.ml.predictor import LabelScores
from training.models import ModelVersion
from training.registry import deployed_model_if_fresh

router = DjangoAPIRouter(prefix="/reviews", tags=["reviews"])

ReviewId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Review id")]
AUTH_ERRORS = (401, 403)


class Ordering(str, Enum):
    newest = "newest"
    oldest = "oldest"
    created = "created"
    rating = "rating"
    rating_desc = "-rating"
    confidence = "confidence"
    confidence_desc = "-confidence"
    id = "id"
    id_desc = "-id"


class ExportFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"


def review_out(
    review: Review, *, model_version: str | None = None, business_names: Mapping[str, str] | None = None
) -> ReviewOut:
    """`model_version`: the predicting model's name when the caller knows it (saves a query).
    `business_names`: the known display names of the caller's reviews' businesses (one query for a page);
    without it, this review's is looked up when it has a business."""
    if business_names is None:
        business_names = selectors.business_names_known([review.business]) if review.business else {}
    prediction = None
    if review.predicted_label:
        if model_version is None and review.predicted_by_id and review.predicted_by:
            model_version = review.predicted_by.name
        prediction = PredictionOut(
            label=review.predicted_label,
            confidence=review.predicted_confidence,
            scores=review.predicted_scores,
            model_version=model_version,
        )
    return ReviewOut(
        id=review.pk,
        text=review.text,
        source=review.source,
        rating=float(review.rating) if review.rating is not None else None,
        business=review.business,
        business_name=business_names.get(review.business),
        author=review.author,
        external_id=review.external_id,
        review_date=review.review_date,
        created_at=review.created_at,
        effective_date=review.effective_at,
        prediction=prediction,
        human_label=review.human_label,
        human_labelled_by=review.human_labelled_by.get_username() if review.human_labelled_by else None,
        human_labelled_at=review.human_labelled_at,
    )


def prediction_out(result: LabelScores, model_version: str) -> PredictionOut:
    return PredictionOut(
        label=result.label, confidence=result.confidence, scores=result.scores, model_version=model_version
    )


def _get_or_404(review_id: int) -> Review:
    review = selectors.review_get(review_id=review_id)
    if review is None:
        raise HTTPException(status_code=404, detail=f"Review {review_id} does not exist")
    return review


async def review_filters(
    predicted_label: Annotated[Label | None, Query(description="Current predicted label")] = None,
    human_label: Annotated[Label | None, Query(description="Human label")] = None,
    labelled: Annotated[bool | None, Query(description="true: only human-labelled; false: only unlabelled")] = None,
    source: Annotated[str | None, Query(max_length=50)] = None,
    business: Annotated[str | None, Query(max_length=200)] = None,
    rating_min: Annotated[Decimal | None, Query(ge=0, le=5)] = None,
    rating_max: Annotated[Decimal | None, Query(ge=0, le=5)] = None,
    date_from: Annotated[
        str | None, Query(max_length=40, description="Effective date from, inclusive (YYYY-MM-DD or ISO date-time)")
    ] = None,
    date_to: Annotated[
        str | None, Query(max_length=40, description="Effective date to, inclusive (a bare date covers the whole day)")
    ] = None,
    confidence_min: Annotated[float | None, Query(ge=0, le=1)] = None,
    confidence_max: Annotated[float | None, Query(ge=0, le=1)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text search in text, business, author")] = None,
) -> ReviewFilters:
    return ReviewFilters(
        predicted_label=predicted_label.value if predicted_label else None,
        human_label=human_label.value if human_label else None,
        labelled=labelled,
        source=source.replace("\x00", "") if source else None,
        business=business.replace("\x00", "") if business else None,
        rating_min=rating_min,
        rating_max=rating_max,
        date_from=parse_date_filter(date_from, field="date_from"),
        date_to=parse_date_filter(date_to, field="date_to"),
        confidence_min=confidence_min,
        confidence_max=confidence_max,
        q=q.replace("\x00", "") if q else None,
    )


Filters = Annotated[ReviewFilters, Depends(review_filters)]


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewOut,
    summary="Create a review (predicted on arrival)",
    responses={
        200: {"model": ReviewOut, "description": "A review with this source and external_id already exists"},
        **error_responses(*AUTH_ERRORS, 422),
    },
)
async def create_review(
    body: ReviewIn, response: Response, principal: Principal = require("reviews.add_review")
) -> ReviewOut:
    # Concurrent requests' reviews are stored together (one prediction call, one statement, one
    # commit: project/coalesce.py); each request answers only once its own row has committed.
    review, created = await _single_creates.submit(body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return review


def _create_many(items: list[ReviewIn]) -> list[tuple[ReviewOut, bool] | Exception]:
    # The answers are built here, on the ORM thread: a stored review's answer may need queries.
    outcomes = services.review_create_many(items=items)
    # A name sent with the review is the business's name now (the latest non-empty one wins); the other
    # businesses' names take one query for the whole batch, none when no review names a business.
    sent = {item.business: item.business_name for item in items if item.business and item.business_name}
    stored = [o.review.business for o in outcomes if not isinstance(o, Exception) and o.review.business]
    names = {**selectors.business_names_known(key for key in stored if key not in sent), **sent}
    return [
        outcome
        if isinstance(outcome, Exception)
        else (
            review_out(outcome.review, model_version=outcome.model_version, business_names=names),
            outcome.created,
        )
        for outcome in outcomes
    ]


# One batch at a time per process, the next gathering while it commits. Measured with bench/api.py
# (16 connections, 2 workers): 1 in flight 922-1,076 req/s, p99 38-43 ms; 2: 763-815, p99 49-55;
# 3: 893, p99 46-50; one request per call as before: 378-648 req/s, p99 70-97 ms.
_single_creates: Coalescer[ReviewIn, tuple[ReviewOut, bool]] = Coalescer(
    releases_db_connection(_create_many), max_batch=64, max_in_flight=1
)


@router.post(
    "/bulk",
    response_model=BulkReviewsOut,
    summary="Create up to 1,000 reviews, predicted in one batch",
    description="Each item is validated on its own: invalid items are reported in `results` with their "
    "errors and do not stop the valid ones.",
    responses=error_responses(*AUTH_ERRORS, 422),
)
def create_reviews_bulk(body: BulkReviewsIn, principal: Principal = require("reviews.add_review")) -> BulkReviewsOut:
    valid: list[tuple[int, ReviewIn]] = []
    results: list[BulkItemResult | None] = [None] * len(body.reviews)
    for index, raw in enumerate(body.reviews):
        try:
            valid.append((index, ReviewIn.model_validate(raw)))
        except ValidationError as exc:
            errors = [
                {"field": ".".join(str(part) for part in error["loc"]) or "item", "message": error["msg"]}
                for error in exc.errors()
            ]
            results[index] = BulkItemResult(index=index, status="invalid", errors=errors)
    created = services.review_bulk_create(items=[item for _, item in valid])
    version_names = dict(
        ModelVersion.objects.filter(pk__in={o.review.predicted_by_id for o in created}).values_list("pk", "name")
    )
    for (index, _), outcome in zip(valid, created):
        review = outcome.review
        results[index] = BulkItemResult(
            index=index,
            status="created" if outcome.created else "exists",
            id=review.pk,
            prediction=PredictionOut(
                label=review.predicted_label,
                confidence=review.predicted_confidence,
                scores=review.predicted_scores,
                model_version=version_names.get(review.predicted_by_id),
            )
            if review.predicted_label
            else None,
        )
    final = [result for result in results if result is not None]
    return BulkReviewsOut(
        created=sum(1 for r in final if r.status == "created"),
        existing=sum(1 for r in final if r.status == "exists"),
        invalid=sum(1 for r in final if r.status == "invalid"),
        results=final,
    )


@router.get(
    "/",
    response_model=ReviewPage,
    summary="List reviews with filters, ordering and pagination",
    description="A filter value that matches nothing gives an empty page; only malformed values are 422.",
    responses=error_responses(*AUTH_ERRORS, 422),
)
def list_reviews(
    filters: Filters,
    ordering: Ordering = Ordering.newest,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    principal: Principal = require("reviews.view_review"),
) -> ReviewPage:
    reviews = selectors.review_list(filters=filters, ordering=ordering.value)
    total = reviews.count()
    offset = (page - 1) * page_size
    page_reviews = list(reviews[offset : offset + page_size]) if offset < total else []
    names = selectors.business_names_known(review.business for review in page_reviews)
    results = [review_out(review, business_names=names) for review in page_reviews]
    return ReviewPage(total=total, page=page, page_size=page_size, pages=math.ceil(total / page_size), results=results)


@router.post(
    "/predict",
    response_model=PredictionOut | PredictOut,
    summary="Predict sentiment without storing anything",
    description='`{"text": ...}` returns one prediction; `{"texts": [...]}` (up to 1,000) returns '
    "`{model_version, predictions}` in input order.",
    responses=error_responses(*AUTH_ERRORS, 422),
)
async def predict(
    body: PredictIn,
    explain: Annotated[bool, Query(description="Add the words that pushed each score most")] = False,
    principal: Principal = require("reviews.predict_review"),
) -> PredictionOut | PredictOut:
    texts = [body.text] if body.text is not None else body.texts
    deployed = deployed_model_if_fresh()
    if deployed is not None and len(texts) == 1 and not explain and not services.uses_prediction_cache(deployed.model):
        # The hot path: one text, the model in memory, no cache to ask. Scoring (~0.2 ms of
        # numpy) costs less than the hop to a worker thread, so it runs right here.
        return prediction_out(services.predict_with(deployed, texts).results[0], deployed.name)
    return await run_in_threadpool(_predict_in_thread, body, texts, explain)


@releases_db_connection
def _predict_in_thread(body: PredictIn, texts: list[str], explain: bool) -> PredictionOut | PredictOut:
    batch = services.predict_texts(texts)
    predictions = [prediction_out(result, batch.model_version) for result in batch.results]
    if explain:
        for prediction, terms in zip(predictions, services.explain_texts(texts)):
            prediction.explanation = [TermWeight(term=term, weight=weight) for term, weight in terms]
    if body.text is not None:
        return predictions[0]
    return PredictOut(model_version=batch.model_version, predictions=predictions)


_EXPORT_FIELDS = [
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
]


def _export_row(review: Review) -> dict:
    scores = review.predicted_scores or {}
    return {
        "id": review.pk,
        "text": review.text,
        "source": review.source,
        "rating": float(review.rating) if review.rating is not None else None,
        "business": review.business,
        "author": review.author,
        "external_id": review.external_id,
        "review_date": review.review_date.isoformat() if review.review_date else None,
        "created_at": review.created_at.isoformat(),
        "effective_date": review.effective_at.isoformat() if review.effective_at else None,
        "predicted_label": review.predicted_label,
        "predicted_confidence": review.predicted_confidence,
        "score_positive": scores.get("positive"),
        "score_neutral": scores.get("neutral"),
        "score_negative": scores.get("negative"),
        "model_version": review.predicted_by.name if review.predicted_by else None,
        "human_label": review.human_label,
    }


@releases_db_connection
def _export_batch(filters: ReviewFilters, after_id: int, size: int = 1000) -> list[dict]:
    # One complete query per chunk, released in the thread that ran it: Starlette
    # pulls each chunk of a sync iterator on whichever pool thread is free.
    batch = selectors.review_list(filters=filters, ordering="id").filter(id__gt=after_id)[:size]
    return [_export_row(review) for review in batch]


def _export_lines(filters: ReviewFilters, export_format: ExportFormat) -> Iterator[str]:
    if export_format is ExportFormat.csv:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=_EXPORT_FIELDS)
        writer.writeheader()
        yield buffer.getvalue()
    after_id = 0
    while rows := _export_batch(filters, after_id):
        after_id = rows[-1]["id"]
        if export_format is ExportFormat.csv:
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=_EXPORT_FIELDS)
            writer.writerows({key: spreadsheet_safe(value) for key, value in row.items()} for row in rows)
            yield buffer.getvalue()
        else:
            yield "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


@router.get(
    "/export",
    summary="Export reviews matching the filters (streamed CSV or JSON lines)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The matching reviews, oldest id first",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        },
        **error_responses(*AUTH_ERRORS, 422),
    },
)
async def export_reviews(
    filters: Filters,
    format: ExportFormat = ExportFormat.csv,
    principal: Principal = require("reviews.export_review"),
) -> StreamingResponse:
    media_type = "text/csv" if format is ExportFormat.csv else "application/x-ndjson"
    return StreamingResponse(
        _export_lines(filters, format),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="reviews.{format.value}"'},
    )


@router.get(
    "/{review_id}",
    response_model=ReviewOut,
    summary="One review",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def get_review(review_id: ReviewId, principal: Principal = require("reviews.view_review")) -> ReviewOut:
    return review_out(_get_or_404(review_id))


@router.delete(
    "/{review_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a review with its predictions and label history",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def delete_review(review_id: ReviewId, principal: Principal = require("reviews.delete_review")) -> Response:
    services.review_delete(review=_get_or_404(review_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{review_id}/label",
    response_model=ReviewOut,
    summary="Label a review (relabelling is allowed and recorded)",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def label_review(
    review_id: ReviewId, body: LabelIn, principal: Principal = require("reviews.label_review")
) -> ReviewOut:
    review = services.review_label(review=_get_or_404(review_id), label=body.label.value, user_id=principal.user_id)
    return review_out(review)


@router.delete(
    "/{review_id}/label",
    response_model=ReviewOut,
    summary="Remove a review's human label (recorded in its history)",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def unlabel_review(review_id: ReviewId, principal: Principal = require("reviews.label_review")) -> ReviewOut:
    return review_out(services.review_unlabel(review=_get_or_404(review_id), user_id=principal.user_id))


class AspectPolarity(str, Enum):
    positive = "positive"
    negative = "negative"
    neutral = "neutral"
    conflict = "conflict"


# An aspect's name as the reports show it: letters (any script), digits, spaces and & / ' - ("price/value",
# "wait time/speed"); no emoji, markup or formula characters.
ASPECT_CATEGORY_NAME = re.compile(r"[^\W_][\w &/'-]*")


def _same_text(value: str) -> str:
    return " ".join(value.casefold().split())


class AspectIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    category: str = Field(
        min_length=1,
        max_length=50,
        examples=["service"],
        description="Lower-cased; letters, digits, spaces and & / ' - (the taxonomy's names, or a new aspect)",
    )
    polarity: AspectPolarity
    sentence: str = Field(
        default="", max_length=5000, description="The sentence it comes from, as in the review's text (optional)"
    )

    @field_validator("category")
    @classmethod
    def _category_name(cls, value: str) -> str:
        value = " ".join(value.lower().split())
        if not ASPECT_CATEGORY_NAME.fullmatch(value):
            raise ValueError("may hold letters, digits, spaces and & / ' - only, starting with a letter or digit")
        return value


class AspectsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "aspects": [
                        {"category": "food", "polarity": "positive"},
                        {"category": "service", "polarity": "negative", "sentence": "Service could be faster!"},
                    ]
                }
            ]
        },
    )
    aspects: list[AspectIn] = Field(max_length=100)

    @model_validator(mode="after")
    def _one_polarity_per_mention(self) -> AspectsIn:
        seen: dict[tuple[str, str], str] = {}
        for aspect in self.aspects:
            key = (aspect.category, _same_text(aspect.sentence))
            if seen.setdefault(key, aspect.polarity.value) != aspect.polarity.value:
                raise ValueError(
                    f"{aspect.category!r} has two polarities for the same sentence; send one (conflict for mixed)"
                )
        return self


class ReviewAspectOut(BaseModel):
    category: str
    polarity: str
    sentence: str
    confidence: float
    source: str = Field(description="model or staff")
    model_version: str | None = Field(description="Aspect model that made it; null for cold start or staff")


class ReviewAspectsOut(BaseModel):
    review_id: int
    aspects: list[ReviewAspectOut] = Field(description="Aspect mentions, staff ones first")
    suggestions: list[ReviewAspectOut] = Field(description="Sentences proposing a change, with their aspect")


def _aspect_out(row: ReviewAspect) -> ReviewAspectOut:
    return ReviewAspectOut(
        category=row.category,
        polarity=row.polarity,
        sentence=row.sentence,
        confidence=row.confidence,
        source=row.source,
        model_version=row.model_version.name if row.model_version else None,
    )


def review_aspects_out(review: Review) -> ReviewAspectsOut:
    aspects, suggestions = selectors.review_aspects(review_id=review.pk)
    return ReviewAspectsOut(
        review_id=review.pk,
        aspects=[_aspect_out(row) for row in aspects],
        suggestions=[_aspect_out(row) for row in suggestions],
    )


@router.get(
    "/{review_id}/aspects",
    response_model=ReviewAspectsOut,
    summary="A review's stored aspects (model and staff) and suggestions",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def get_review_aspects(review_id: ReviewId, principal: Principal = require("reviews.view_review")) -> ReviewAspectsOut:
    return review_aspects_out(_get_or_404(review_id))


@router.post(
    "/{review_id}/aspects",
    response_model=ReviewAspectsOut,
    summary="Set a review's aspects as staff (replacing earlier staff ones and the model's); the aspect model "
    "trains on them",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def set_review_aspects(
    review_id: ReviewId, body: AspectsIn, principal: Principal = require("reviews.label_review")
) -> ReviewAspectsOut:
    review = _get_or_404(review_id)
    text = _same_text(review.text)
    for index, aspect in enumerate(body.aspects):
        # Shown as a quote in the reports and kept as a training sentence: it must be the review's own words.
        if aspect.sentence and _same_text(aspect.sentence) not in text:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "aspects", index, "sentence"),
                        "msg": "is not part of the review's text",
                        "type": "value_error",
                    }
                ]
            )
    aspect_services.review_set_staff_aspects(
        review=review,
        aspects=[
            aspect_services.StaffAspect(category=a.category, polarity=a.polarity.value, sentence=a.sentence)
            for a in body.aspects
        ],
    )
    return review_aspects_out(review)
