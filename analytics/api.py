"""The analytics API: dashboard aggregates and constructive feedback."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from analytics import selectors
from project.auth import Principal, require
from project.errors import error_responses
from project.routing import DjangoAPIRouter
from reviews.schemas import parse_date_filter

router = DjangoAPIRouter(prefix="/analytics", tags=["analytics"])


async def scope_filters(
    business: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=50)] = None,
    date_from: Annotated[str | None, Query(max_length=40, description="Effective date from (inclusive)")] = None,
    date_to: Annotated[str | None, Query(max_length=40, description="Effective date to (inclusive)")] = None,
) -> selectors.ScopeFilters:
    return selectors.ScopeFilters(
        business=business.replace("\x00", "") if business else None,
        source=source.replace("\x00", "") if source else None,
        date_from=parse_date_filter(date_from, field="date_from"),
        date_to=parse_date_filter(date_to, field="date_to", end_of_day=True),
    )


Scope = Annotated[selectors.ScopeFilters, Depends(scope_filters)]


class LabelCounts(BaseModel):
    positive: int
    neutral: int
    negative: int


class SourceCount(BaseModel):
    source: str
    count: int
    positive: int
    neutral: int
    negative: int


class RatingCount(BaseModel):
    rating: float | None
    count: int


class DayCount(BaseModel):
    date: dt.date
    count: int
    positive: int
    neutral: int
    negative: int


class DeployedModelOut(BaseModel):
    name: str
    algorithm: str
    deployed_at: dt.datetime | None
    metrics: dict


class DashboardOut(BaseModel):
    total_reviews: int
    labelled_reviews: int
    labelled_share: float = Field(description="Share of reviews with a human label, 0 to 1")
    by_predicted_label: LabelCounts
    by_human_label: LabelCounts
    by_source: list[SourceCount]
    by_rating: list[RatingCount]
    daily_trend: list[DayCount] = Field(description="Per day of effective date, newest `trend_days` days")
    model: DeployedModelOut | None


class FeedbackItem(BaseModel):
    review_id: int
    predicted_label: str | None
    mixed: bool = Field(description="The review both praises and criticises")
    praise: list[str]
    criticism: list[str]
    suggestions: list[str]


class BusinessFeedback(BaseModel):
    business: str
    reviews: int = Field(description="Reviews of this business with mixed sentiment or a suggestion")
    mixed_reviews: int
    reviews_with_suggestions: int
    items: list[FeedbackItem]


class ConstructiveFeedbackOut(BaseModel):
    analysed_reviews: int
    model_version: str | None
    businesses: list[BusinessFeedback]


@router.get(
    "/dashboard",
    response_model=DashboardOut,
    summary="Totals, label distribution, sources, ratings, daily trend and the deployed model",
    responses=error_responses(401, 403, 422),
)
def dashboard(
    scope: Scope,
    trend_days: Annotated[int, Query(ge=1, le=3660)] = 90,
    principal: Principal = require("reviews.view_review"),
) -> DashboardOut:
    return DashboardOut.model_validate(selectors.dashboard(filters=scope, trend_days=trend_days))


@router.get(
    "/constructive-feedback",
    response_model=ConstructiveFeedbackOut,
    summary="What to fix and what to keep: mixed reviews and suggestions, grouped by business",
    responses=error_responses(401, 403, 422),
)
def constructive_feedback(
    scope: Scope,
    limit: Annotated[int, Query(ge=1, le=5000, description="Newest reviews to analyse")] = 500,
    per_business: Annotated[int, Query(ge=1, le=100)] = 5,
    principal: Principal = require("reviews.view_review"),
) -> ConstructiveFeedbackOut:
    return ConstructiveFeedbackOut.model_validate(
        selectors.constructive_feedback(filters=scope, limit=limit, per_business=per_business)
    )


class MonitoringPoint(BaseModel):
    created_at: dt.datetime
    model_version: str | None
    window_days: int
    live_accuracy: dict = Field(description="all / blind: n, accuracy, 95% Wilson interval")
    rating_agreement: dict
    drift: dict = Field(description="PSI of predictions and confidence, OOV rate, negative spikes")
    alarms: list[str]
    trigger: dict = Field(description="Retraining decision (none, retrain, cooldown, busy) and why")


class MonitoringOut(BaseModel):
    thresholds: dict
    results: list[MonitoringPoint] = Field(description="Newest first")


@router.get(
    "/monitoring",
    response_model=MonitoringOut,
    summary="Monitoring time series: live accuracy, drift, retraining decisions",
    responses=error_responses(401, 403, 422),
)
def monitoring(
    limit: Annotated[int, Query(ge=1, le=1000)] = 168,
    principal: Principal = require("reviews.view_review"),
) -> MonitoringOut:
    from django.conf import settings

    from analytics.models import MonitoringSnapshot

    snapshots = MonitoringSnapshot.objects.select_related("model_version")[:limit]
    return MonitoringOut(
        thresholds={
            "accuracy": settings.MONITOR_ACCURACY_THRESHOLD,
            "min_labels": settings.MONITOR_MIN_LABELS,
            "psi": settings.MONITOR_PSI_THRESHOLD,
            "min_predictions": settings.MONITOR_MIN_PREDICTIONS,
            "cooldown_hours": settings.MONITOR_RETRAIN_COOLDOWN_HOURS,
        },
        results=[
            MonitoringPoint(
                created_at=s.created_at,
                model_version=s.model_version.name if s.model_version else None,
                window_days=s.window_days,
                live_accuracy=s.live_accuracy,
                rating_agreement=s.rating_agreement,
                drift=s.drift,
                alarms=s.alarms,
                trigger=s.trigger,
            )
            for s in snapshots
        ],
    )
