"""The reviews API: ingest, list, label, export (predicting without storing: training/predict_api.py)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from decimal import Decimal
from enum import Enum
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Response, status
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from project.auth import Principal, require
from project.coalesce import Coalescer
from project.db import releases_db_connection
from project.errors import error_responses
from project.routing import DjangoAPIRouter
from reviews import exports, selectors, services
from reviews.filters import ReviewFilters
from reviews.models import Review
from reviews.schemas import (
    BulkItemResult,
    BulkReviewsIn,
    BulkReviewsOut,
    Label,
    LabelIn,
    PredictionOut,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    parse_date_filter,
)

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


def get_review_or_404(review_id: int) -> Review:
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
        Review.objects.filter(pk__in=[o.review.pk for o in created], predicted_by__isnull=False).values_list(
            "predicted_by_id", "predicted_by__name"
        )
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


@releases_db_connection
def _export_batch(filters: ReviewFilters, after_id: int) -> list[dict]:
    # Released in the thread that ran it: Starlette pulls each chunk of a sync iterator on whichever
    # pool thread is free.
    return exports.export_batch(filters, after_id)


def _export_lines(filters: ReviewFilters, export_format: ExportFormat) -> Iterator[str]:
    return exports.export_lines(filters, export_format.value, fetch=_export_batch)


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
    return review_out(get_review_or_404(review_id))


@router.delete(
    "/{review_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a review with its predictions and label history",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def delete_review(review_id: ReviewId, principal: Principal = require("reviews.delete_review")) -> Response:
    services.review_delete(review=get_review_or_404(review_id))
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
    review = services.review_label(
        review=get_review_or_404(review_id), label=body.label.value, user_id=principal.user_id
    )
    return review_out(review)


@router.delete(
    "/{review_id}/label",
    response_model=ReviewOut,
    summary="Remove a review's human label (recorded in its history)",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def unlabel_review(review_id: ReviewId, principal: Principal = require("reviews.label_review")) -> ReviewOut:
    return review_out(services.review_unlabel(review=get_review_or_404(review_id), user_id=principal.user_id))
