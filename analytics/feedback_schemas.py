"""The constructive-feedback report's response schemas (GET /api/analytics/constructive-feedback)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


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
