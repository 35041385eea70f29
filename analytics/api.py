"""The analytics API: dashboard aggregates and constructive feedback."""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import Enum
from typing import Annotated

from fastapi import Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from analytics import aspect_report, filters, selectors
from project.auth import Principal, require
from project.db_router import reads_from_replica
from project.errors import error_responses
from project.routing import DjangoAPIRouter

router = DjangoAPIRouter(prefix="/analytics", tags=["analytics"])


async def scope_filters(
    business: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=50)] = None,
    date_from: Annotated[str | None, Query(max_length=40, description="Effective date from (inclusive)")] = None,
    date_to: Annotated[str | None, Query(max_length=40, description="Effective date to (inclusive)")] = None,
) -> selectors.ScopeFilters:
    try:
        return filters.parse_scope(business=business, source=source, date_from=date_from, date_to=date_to)
    except filters.FilterError as error:
        raise RequestValidationError(
            [{"loc": ("query", error.field), "msg": error.message, "type": "value_error"}]
        ) from None


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


class Quote(BaseModel):
    review_id: int
    sentence: str
    polarity: str
    confidence: float
    effective_date: dt.datetime


class AspectStats(BaseModel):
    category: str
    mentions: int = Field(description="Mentions in the period")
    positive: int
    negative: int
    neutral: int
    conflict: int
    positive_share: float
    negative_share: float
    previous_mentions: int = Field(description="Mentions in the previous period of equal length")
    previous_positive_share: float
    previous_negative_share: float
    mentions_change: int
    positive_share_change: float | None
    negative_share_change: float | None
    negative_p_value: float | None = Field(description="Two-proportion z-test of the negative share vs previous")
    issue_score: float
    strength_score: float
    quotes: list[Quote] = Field(description="Up to 3: most confident, distinct reviews, newest first")


class RankedAspect(BaseModel):
    category: str
    score: float
    mentions: int
    positive_share: float
    negative_share: float
    negative_share_change: float | None
    quotes: list[Quote]


class EmergingIssue(BaseModel):
    category: str
    mentions: int
    negative_share: float
    previous_negative_share: float
    p_value: float


class SuggestionGroup(BaseModel):
    text: str = Field(description="One wording of the group (the newest)")
    count: int


class AspectSuggestions(BaseModel):
    category: str = Field(description='The aspect the suggestions talk about ("general" if none)')
    count: int
    groups: list[SuggestionGroup] = Field(description="Near-duplicates grouped by normalised text, largest first")


class ReportPeriod(BaseModel):
    date_from: dt.datetime
    date_to: dt.datetime
    previous_from: dt.datetime
    previous_to: dt.datetime


class ConstructiveFeedbackOut(BaseModel):
    analysed_reviews: int
    model_version: str | None
    businesses: list[BusinessFeedback]
    period: ReportPeriod
    aspect_model: str = Field(description='Aspect model that extracted the stored aspects ("cold-start" if none)')
    aspect_reviews: int = Field(description="Reviews with at least one aspect mention in the period")
    aspects: list[AspectStats]
    issues_to_fix: list[RankedAspect]
    strengths: list[RankedAspect]
    emerging_issues: list[EmergingIssue]
    suggestions: list[AspectSuggestions]


class ReportFormat(str, Enum):
    json = "json"
    csv = "csv"


@router.get(
    "/dashboard",
    response_model=DashboardOut,
    summary="Totals, label distribution, sources, ratings, daily trend and the deployed model",
    responses=error_responses(401, 403, 422),
)
@reads_from_replica
def dashboard(
    scope: Scope,
    trend_days: Annotated[int, Query(ge=1, le=3660)] = 90,
    principal: Principal = require("reviews.view_review"),
) -> DashboardOut:
    return DashboardOut.model_validate(selectors.dashboard(filters=scope, trend_days=trend_days))


@router.get(
    "/constructive-feedback",
    response_model=ConstructiveFeedbackOut,
    summary="What to fix and what to keep: per-aspect sentiment and trend, issues, strengths, suggestions",
    description="Aspect figures come from the stored review aspects (extracted after ingest). "
    "The period is date_from..date_to (default: the last 90 days); changes compare with the equally long "
    "period before it. `format=csv` exports the per-aspect table. `businesses` lists mixed reviews and "
    "suggestions of the newest `limit` reviews (v1).",
    responses={**error_responses(401, 403, 422), 200: {"content": {"text/csv": {}}}},
)
@reads_from_replica
def constructive_feedback(
    scope: Scope,
    limit: Annotated[int, Query(ge=1, le=5000, description="Newest reviews to analyse")] = 500,
    per_business: Annotated[int, Query(ge=1, le=100)] = 5,
    rating_min: Annotated[float | None, Query(ge=1, le=5)] = None,
    rating_max: Annotated[float | None, Query(ge=1, le=5)] = None,
    report_format: Annotated[
        ReportFormat, Query(alias="format", description="csv: the per-aspect table as CSV")
    ] = ReportFormat.json,
    principal: Principal = require("reviews.view_review"),
):
    from training.aspects import current_aspect_champion

    scope = dataclasses.replace(scope, rating_min=rating_min, rating_max=rating_max)
    report = aspect_report.aspect_report(
        filters=filters.aspect_filters(scope, rating_min=rating_min, rating_max=rating_max)
    )
    if report_format is ReportFormat.csv:
        return Response(
            filters.report_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filters.CSV_FILENAME}"'},
        )
    champion = current_aspect_champion()
    return ConstructiveFeedbackOut.model_validate(
        {
            **selectors.constructive_feedback(filters=scope, limit=limit, per_business=per_business),
            **report,
            "aspect_model": champion.name if champion else "cold-start",
        }
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
@reads_from_replica
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
