"""The review aspects API: GET /api/reviews/{id}/aspects (the model's and staff's mentions and suggestions),
POST /api/reviews/{id}/aspects and POST /api/reviews/{id}/suggestions (staff corrections, reviews.aspects)."""

from __future__ import annotations

from enum import Enum

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from project.auth import Principal, require
from project.errors import error_responses
from project.routing import DjangoAPIRouter
from reviews import aspects as aspect_services
from reviews import selectors
from reviews.api import AUTH_ERRORS, ReviewId, get_review_or_404
from reviews.aspects import category_name
from reviews.models import Review, ReviewAspect

router = DjangoAPIRouter(prefix="/reviews", tags=["reviews"])


class AspectPolarity(str, Enum):
    positive = "positive"
    negative = "negative"
    neutral = "neutral"
    conflict = "conflict"


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
        return category_name(value)


class SuggestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    sentence: str = Field(min_length=1, max_length=5000, description="One of the review's sentences, as in its text")
    category: str = Field(default="general", min_length=1, max_length=50, description="The theme it is about")

    @field_validator("category")
    @classmethod
    def _category_name(cls, value: str) -> str:
        return category_name(value)


class SuggestionsIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"suggestions": [{"sentence": "Please add more staff on Fridays.", "category": "service"}]}]
        },
    )
    suggestions: list[SuggestionIn] = Field(
        max_length=100, description="Every suggestion of the review (an empty list: the review has none)"
    )


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
    sentences: list[str] = Field(
        description="The review's sentences as the models read them (what POST .../suggestions may list)"
    )


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
        sentences=aspect_services.review_sentences(review),
    )


@router.get(
    "/{review_id}/aspects",
    response_model=ReviewAspectsOut,
    summary="A review's stored aspects (model and staff) and suggestions",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def get_review_aspects(review_id: ReviewId, principal: Principal = require("reviews.view_review")) -> ReviewAspectsOut:
    return review_aspects_out(get_review_or_404(review_id))


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
    review = get_review_or_404(review_id)
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


@router.post(
    "/{review_id}/suggestions",
    response_model=ReviewAspectsOut,
    summary="Set a review's suggestions as staff (replacing the model's); each of the review's sentences becomes a "
    "training annotation for the suggestion detector: a suggestion when listed, not one otherwise",
    responses=error_responses(*AUTH_ERRORS, 404, 422),
)
def set_review_suggestions(
    review_id: ReviewId, body: SuggestionsIn, principal: Principal = require("reviews.label_review")
) -> ReviewAspectsOut:
    review = get_review_or_404(review_id)
    sentences = aspect_services.review_sentences(review)
    by_text = {_same_text(sentence): sentence for sentence in sentences}
    chosen = []
    for index, suggestion in enumerate(body.suggestions):
        sentence = by_text.get(_same_text(suggestion.sentence))
        if sentence is None:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "suggestions", index, "sentence"),
                        "msg": "is not one of the review's sentences (GET /api/reviews/{id}/aspects lists them)",
                        "type": "value_error",
                    }
                ]
            )
        chosen.append(aspect_services.StaffSuggestion(sentence=sentence, category=suggestion.category))
    aspect_services.review_set_staff_suggestions(review=review, suggestions=chosen, sentences=sentences)
    return review_aspects_out(review)
