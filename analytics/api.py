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
    sentence: str = Field(description="The sentence, tidied (no leading punctuation) and trimmed to 160 characters")
    polarity: str
    confidence: float
    effective_date: dt.datetime
    business: str = Field("", description="The review's business (quotes are spread over businesses)")


VERDICT_DESCRIPTION = (
    '"issue", "strength", "mixed", "too few" or "general": the 95% Wilson interval of the negative share among '
    "positive + negative mentions lies above one half (issue), below it (strength), or straddles it (mixed); "
    'fewer than 5 such mentions: "too few"; general-like categories are never ranked'
)


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
    verdict: str = Field(description=VERDICT_DESCRIPTION)
    net_negative_low: float | None = Field(description="Wilson 95% interval of negative / (positive + negative)")
    net_negative_high: float | None
    quotes: list[Quote] = Field(
        description="Up to 3, newest first: distinct wordings from distinct reviews, spread over businesses, "
        "no profanity; criticism for an issue, praise for a strength, both otherwise"
    )


class RankedAspect(BaseModel):
    category: str
    score: float
    mentions: int
    positive_share: float
    negative_share: float
    negative_share_change: float | None
    verdict: str = Field(description=VERDICT_DESCRIPTION)
    net_negative_low: float | None
    net_negative_high: float | None
    quotes: list[Quote]


class EmergingIssue(BaseModel):
    category: str
    mentions: int
    negative_share: float
    previous_negative_share: float
    p_value: float


class SuggestionGroup(BaseModel):
    text: str = Field(description="The group's most frequent wording, profanity masked")
    count: int = Field(description="Suggestion sentences in the group")
    theme: str = Field(description='The theme it asks about ("general" for general-like categories)')
    reviews: int = Field(description="Distinct reviews asking it")
    score: float = Field(
        description="Reviews asking, each weighted by recency (half-life 30 days) and rating (1 star: 2, 5 stars: 1)"
    )
    latest: dt.datetime = Field(description="Effective date of the newest review asking it")
    mean_rating: float | None
    masked: bool = Field(description="Profanity in the wording was masked")


class AspectSuggestions(BaseModel):
    category: str = Field(description='The aspect the suggestions talk about ("general" if none)')
    count: int
    groups: list[SuggestionGroup] = Field(
        description="Clean requests (no fragments, questions, advice to other customers, reported speech or "
        "narrative) grouped by meaning, highest score first"
    )


class PeerTheme(BaseModel):
    category: str
    mentions: int
    negative_share: float | None
    positive_share: float | None
    peers_mentions: int = Field(description="The other businesses' mentions of this theme")
    peers_negative_share: float | None = Field(description="Of the other businesses' mentions together")
    peers_positive_share: float | None


class BusinessPeers(BaseModel):
    business: str
    business_name: str = Field("", description="Display name (the key when none is known)")
    mentions: int
    themes: list[PeerTheme]


class ReportPeriod(BaseModel):
    date_from: dt.datetime
    date_to: dt.datetime
    previous_from: dt.datetime
    previous_to: dt.datetime


class ConstructiveFeedbackOut(BaseModel):
    date_from: str = Field(description="The period's first day: as given, or 90 days before date_to")
    date_to: str = Field(description="The period's last day: as given, or the newest review's day in scope")
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
    top_suggestions: list[SuggestionGroup] = Field(description="The 10 best suggestion groups across themes")
    peers: list[BusinessPeers] = Field(
        description="With a business filter, that business (without one, with compare_businesses=true, the 10 "
        "busiest): each theme's "
        "negative and positive share next to the other businesses' in the same scope"
    )


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
