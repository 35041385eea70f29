"""The analytics API: dashboard aggregates and constructive feedback."""

from __future__ import annotations

import dataclasses
import datetime as dt
from enum import Enum
from typing import Annotated

from django.conf import settings
from django.utils import timezone
from fastapi import Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from analytics import aspect_report, charts, feedback, filters, periods, selectors
from analytics.feedback_schemas import (
    ConstructiveFeedbackOut,
)
from project.auth import Principal, require
from project.db_router import reads_from_replica
from project.errors import error_responses
from project.routing import DjangoAPIRouter
from reviews.filters import ReviewFilters
from training.aspects import current_aspect_champion
from training.models import MonitoringSnapshot

router = DjangoAPIRouter(prefix="/analytics", tags=["analytics"])


def _invalid(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "msg": message, "type": "value_error"}])


@dataclasses.dataclass(frozen=True)
class ScopeQuery:
    """The parsed scope and the date texts it was parsed from (blank: not given)."""

    filters: ReviewFilters
    date_from: str | None
    date_to: str | None

    def with_default_period(self) -> ScopeQuery:
        """With no dates given: the default window ending at the newest review in scope (analytics.periods)."""
        if self.date_from or self.date_to:
            return self
        period = periods.resolve_period({}, business=self.filters.business, source=self.filters.source)
        return _scope_query(
            business=self.filters.business,
            source=self.filters.source,
            date_from=period.date_from.isoformat(),
            date_to=period.date_to.isoformat(),
        )


def _scope_query(*, business, source, date_from, date_to) -> ScopeQuery:
    try:
        scope = filters.parse_scope(business=business, source=source, date_from=date_from, date_to=date_to)
    except filters.FilterError as error:
        raise _invalid(error.field, error.message) from None
    if scope.is_reversed:
        raise _invalid("date_from", "The date range is reversed: date_from is after date_to")
    return ScopeQuery(scope, (date_from or "").strip() or None, (date_to or "").strip() or None)


async def scope_query(
    business: Annotated[str | None, Query(max_length=200)] = None,
    source: Annotated[str | None, Query(max_length=50)] = None,
    date_from: Annotated[str | None, Query(max_length=40, description="Effective date from (inclusive)")] = None,
    date_to: Annotated[str | None, Query(max_length=40, description="Effective date to (inclusive)")] = None,
) -> ScopeQuery:
    return _scope_query(business=business, source=source, date_from=date_from, date_to=date_to)


ScopeArgs = Annotated[ScopeQuery, Depends(scope_query)]


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


class TrendPoint(BaseModel):
    period: dt.date = Field(description="First day of the bucket")
    count: int
    positive: int
    neutral: int
    negative: int


class TrendOut(BaseModel):
    bucket: str = Field(description="day, week or month")
    date_from: str | None
    date_to: str | None
    points: list[TrendPoint]


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
    trend: TrendOut = Field(
        description="Reviews per bucket over date_from..date_to, or with no dates the 90 days that end at the "
        "newest review in scope; the bucket follows the span unless `bucket` is given"
    )
    model: DeployedModelOut | None
    date_from: str | None = Field(description="The date_from the counts used (null: from the first review)")
    date_to: str | None = Field(description="The date_to the counts used (null: to the last review)")


class TrendBucket(str, Enum):
    day = "day"
    week = "week"
    month = "month"


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
    scope: ScopeArgs,
    trend_days: Annotated[int, Query(ge=1, le=3660)] = 90,
    bucket: Annotated[
        TrendBucket | None, Query(description="Bucket of `trend` (default: day, week or month by the span)")
    ] = None,
    principal: Principal = require("reviews.view_review"),
) -> DashboardOut:
    window = scope.with_default_period()
    chosen = bucket.value if bucket else periods.bucket_for(*window.filters.days())
    trend = charts.trend(window.filters, chosen)
    return DashboardOut.model_validate(
        {
            **selectors.dashboard(filters=scope.filters, trend_days=trend_days),
            "date_from": scope.date_from,
            "date_to": scope.date_to,
            "trend": {
                "bucket": chosen,
                "date_from": window.date_from,
                "date_to": window.date_to,
                "points": [
                    {"period": period, "count": trend["total"][i], **{k: trend[k][i] for k in selectors.LABELS}}
                    for i, period in enumerate(trend["periods"])
                ],
            },
        }
    )


@router.get(
    "/constructive-feedback",
    response_model=ConstructiveFeedbackOut,
    summary="What to fix and what to keep: per-aspect sentiment and trend, issues, strengths, suggestions",
    description="Aspect figures come from the stored review aspects (extracted after ingest). "
    "The period is date_from..date_to (default: the 90 days that end at the newest review in scope, "
    "reported as date_from and date_to); changes compare with the equally long "
    "period before it. `format=csv` exports the per-aspect table. `businesses` lists mixed reviews and "
    "suggestions of the newest `limit` reviews (v1).",
    responses={**error_responses(401, 403, 422), 200: {"content": {"text/csv": {}}}},
)
@reads_from_replica
def constructive_feedback(
    scope_args: ScopeArgs,
    limit: Annotated[int, Query(ge=1, le=5000, description="Newest reviews to analyse")] = 500,
    per_business: Annotated[int, Query(ge=1, le=100)] = 5,
    rating_min: Annotated[float | None, Query(ge=1, le=5)] = None,
    rating_max: Annotated[float | None, Query(ge=1, le=5)] = None,
    compare_businesses: Annotated[
        bool,
        Query(
            description="Without a business filter, also list the 10 busiest businesses against their peers "
            "(`peers`; slower on large data). With a business filter that business is always compared."
        ),
    ] = False,
    report_format: Annotated[
        ReportFormat, Query(alias="format", description="csv: the per-aspect table as CSV")
    ] = ReportFormat.json,
    principal: Principal = require("reviews.view_review"),
):
    scope_args = scope_args.with_default_period()
    scope = filters.aspect_filters(scope_args.filters, rating_min=rating_min, rating_max=rating_max)
    report = aspect_report.aspect_report(filters=scope, with_peers=True if compare_businesses else None)
    if report_format is ReportFormat.csv:
        return Response(
            filters.report_csv(report),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filters.CSV_FILENAME}"'},
        )
    champion = current_aspect_champion()
    return ConstructiveFeedbackOut.model_validate(
        {
            **feedback.feedback_by_business(filters=scope, limit=limit, per_business=per_business),
            **report,
            # The days the report covered: as given, or the default window ending at the newest review.
            "date_from": timezone.localtime(report["period"]["date_from"]).date().isoformat(),
            "date_to": timezone.localtime(report["period"]["date_to"]).date().isoformat(),
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
