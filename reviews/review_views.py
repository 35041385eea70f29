"""The review page: one review with its predictions, labels and aspects; staff label it and correct its
aspects and suggestions here (through the services the API uses)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from project.views import can, clean_choice, permission_required
from reviews import forms, votes
from reviews.aspects import (
    SUGGESTION_THEMES,
    StaffSuggestion,
    category_name,
    review_sentences,
    review_set_staff_aspects,
    review_set_staff_suggestions,
)
from reviews.models import LabelEvent, Review
from reviews.selectors import mixed_verdicts, review_aspects, review_get
from reviews.views import LABEL_CHOICES
from training.ml.holdout import in_evaluation_bucket

# Correcting aspects takes the permission POST /api/reviews/{id}/aspects takes (labellers and up).
ASPECT_EDIT_PERMISSION = "reviews.label_review"


def _review_or_404(review_id: int) -> Review:
    review = review_get(review_id=review_id)
    if review is None:
        raise Http404("No such review")
    return review


def _render_review(request: HttpRequest, review: Review, *, formset=None, status: int = 200) -> HttpResponse:
    predictions = list(review.predictions.select_related("model_version").order_by("-id"))
    aspects, suggestions = review_aspects(review_id=review.pk)
    can_edit = can(request.user, ASPECT_EDIT_PERMISSION)
    if can_edit and formset is None:
        formset = forms.aspect_formset(review=review, aspects=aspects)
    return render(
        request,
        "reviews/review.html",
        {
            "review": review,
            "ingest": next((p for p in predictions if p.is_ingest), None),
            "predictions": predictions,
            "events": LabelEvent.objects.filter(review=review).select_related("user").order_by("-id"),
            "votes": review.votes.select_related("user").order_by("ordinal"),
            "evaluation": in_evaluation_bucket(review.pk),
            "back": request.GET.get("back", ""),
            "aspects": aspects,
            "mixed": mixed_verdicts([review.pk]).get(review.pk),
            "suggestions": suggestions,
            "has_staff_aspects": any(row.source == "staff" for row in aspects),
            "aspect_formset": formset if can_edit else None,
            "aspects_version": forms.staff_aspects_version(aspects),
            "aspect_permission": ASPECT_EDIT_PERMISSION,
            "suggestion_rows": _suggestion_rows(review, suggestions) if can_edit else [],
            "has_staff_suggestions": any(row.source == "staff" for row in suggestions),
            "suggestion_themes": sorted({row.category for row in aspects} | set(SUGGESTION_THEMES)),
            "can_label": can(request.user, "reviews.label_review"),
        },
        status=status,
    )


def _suggestion_rows(review: Review, suggestions) -> list[dict]:
    """Each sentence of the review with whether it is stored as a suggestion, and of which theme."""
    stored = {row.sentence: row.category for row in suggestions}
    return [
        {"sentence": sentence, "is_suggestion": sentence in stored, "category": stored.get(sentence, "general")}
        for sentence in review_sentences(review)
    ]


@permission_required("reviews.view_review")
@require_GET
def review_page(request: HttpRequest, review_id: int) -> HttpResponse:
    return _render_review(request, _review_or_404(review_id))


@permission_required("reviews.label_review")
@require_POST
def review_label_save(request: HttpRequest, review_id: int) -> HttpResponse:
    """The review page's label buttons (keys 1-3). An unlabelled review gets a vote through the service the
    labelling page uses, so double labelling and agreement count it alike; a labelled one is relabelled as the
    API does (kept in its history), but only if its label is still the one the page showed."""
    review = _review_or_404(review_id)
    back = reverse("review", args=[review.pk]) + "#labels-title"
    label = clean_choice(request.POST.get("label"), LABEL_CHOICES)
    if label is None:
        messages.error(request, "Nothing was saved: choose positive, neutral or negative.")
        return redirect(back)
    shown = request.POST.get("shown") or None
    outcome = votes.review_label_shown(review=review, label=label, shown=shown, user_id=request.user.pk)
    if outcome == votes.PageLabel.CHANGED_SINCE:
        review.refresh_from_db()
        messages.error(
            request,
            f"Nothing was saved: review #{review.pk} was labelled {review.human_label or '(removed)'} by someone "
            "else since you opened the page. Choose again if it still needs changing.",
        )
    elif outcome == votes.PageLabel.UNCHANGED:
        messages.info(request, f"Review #{review.pk} is already labelled {label}.")
    else:
        messages.success(request, f"Labelled review #{review.pk} {label}" + (f" (it was {shown})." if shown else "."))
    return redirect(back)


@permission_required(ASPECT_EDIT_PERMISSION)
@require_POST
def review_aspects_save(request: HttpRequest, review_id: int) -> HttpResponse:
    """Replace the review's staff aspects through the service the API uses, so the correction
    also becomes the review's training annotation for the aspect model."""
    review = _review_or_404(review_id)
    aspects, _ = review_aspects(review_id=review.pk)
    if request.POST.get("aspects_version") != forms.staff_aspects_version(aspects):
        messages.error(
            request,
            "Nothing was saved: this review's staff aspects changed since you opened the page (someone else saved "
            "theirs). The rows below are the stored ones; make your correction again.",
        )
        return _render_review(request, review, status=409)
    formset = forms.aspect_formset(review=review, aspects=aspects, data=request.POST)
    if not formset.is_valid():
        problems = forms.formset_errors(formset) or ["the form was incomplete"]
        messages.error(request, "Nothing was saved. " + "; ".join(problems))
        return _render_review(request, review, formset=formset, status=400)
    rows = review_set_staff_aspects(review=review, aspects=forms.staff_aspects(formset))
    messages.success(
        request,
        f"Saved {len(rows)} staff aspect{'s' if len(rows) != 1 else ''} on review #{review.pk}; "
        "the aspect model will train on them.",
    )
    return redirect(reverse("review", args=[review.pk]) + "#aspects")


@permission_required(ASPECT_EDIT_PERMISSION)
@require_POST
def review_suggestions_save(request: HttpRequest, review_id: int) -> HttpResponse:
    """Replace the review's suggestions through the service the API uses; every sentence shown becomes a
    training annotation for the suggestion detector (ticked: a suggestion, not ticked: not one)."""
    review = _review_or_404(review_id)
    sentences = review_sentences(review)
    ticked = {value for value in request.POST.getlist("suggestion") if value.isdigit()}
    chosen, problems = [], []
    for index, sentence in enumerate(sentences):
        if str(index) not in ticked:
            continue
        try:
            theme = category_name(request.POST.get(f"theme-{index}") or "general")
        except ValueError as exc:
            problems.append(f"sentence {index + 1}: the theme {exc}")
            continue
        chosen.append(StaffSuggestion(sentence=sentence, category=theme))
    if problems:
        messages.error(request, "Nothing was saved. " + "; ".join(problems))
        return _render_review(request, review, status=400)
    review_set_staff_suggestions(review=review, suggestions=chosen, sentences=sentences)
    messages.success(
        request,
        f"Saved {len(chosen)} suggestion{'s' if len(chosen) != 1 else ''} on review #{review.pk}; "
        "the suggestion detector will train on this review's sentences.",
    )
    return redirect(reverse("review", args=[review.pk]) + "#aspects")
