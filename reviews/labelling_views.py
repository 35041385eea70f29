"""The labelling queue's staff page and its JSON actions (next, label, skip, undo, release, progress), and the
agreement page where a lead resolves double-labelling disagreements."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from project.views import (
    check_range,
    clean_choice,
    clean_ids,
    clean_int,
    clean_text,
    json_body,
    json_permission_required,
    parse_date,
    permission_required,
    show_problems,
)
from reviews import labelling, votes
from reviews.labelling import Order, QueueFilters
from reviews.models import Review, Sentiment
from reviews.selectors import (
    business_choices,
    review_sources,
)

LABEL_CHOICES = Sentiment.choices
QUEUE_BUFFER = 3


def queue_filters(data, problems: list[str] | None = None) -> QueueFilters:
    filters = QueueFilters(
        order=clean_choice(data.get("order"), Order.CHOICES) or Order.UNCERTAIN,
        source=clean_text(data.get("source"), 50),
        business=clean_text(data.get("business")),
        predicted_label=clean_choice(data.get("predicted_label"), LABEL_CHOICES),
        date_from=parse_date(data.get("date_from"), field="date_from", problems=problems),
        date_to=parse_date(data.get("date_to"), field="date_to", problems=problems),
    )
    check_range(filters.start, filters.last, problems, "date")
    return filters


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


@permission_required("reviews.label_review")
@require_GET
def labelling_page(request: HttpRequest) -> HttpResponse:
    problems: list[str] = []
    filters = queue_filters(request.GET, problems)
    status = show_problems(request, problems)
    return render(
        request,
        "reviews/labelling.html",
        {
            "filters": filters,
            "form": request.GET,
            "orders": Order.CHOICES,
            "labels": LABEL_CHOICES,
            "sources": review_sources(),
            "businesses": business_choices(),
            "progress": labelling.labelling_progress(user_id=request.user.pk),
            "query": urlencode(filters.as_query()),
            "double_share": labelling.double_label_share(),
        },
        status=status,
    )


def _queue_payload(request: HttpRequest, filters: QueueFilters, exclude: list[int], want: int) -> list[dict]:
    if want <= 0:
        return []
    reviews = labelling.queue_claim(user_id=request.user.pk, filters=filters, exclude=exclude, count=want)
    return [item.as_json() for item in labelling.queue_items(reviews, user_id=request.user.pk)]


@json_permission_required("reviews.label_review")
@require_GET
def labelling_next(request: HttpRequest) -> JsonResponse:
    problems: list[str] = []
    filters = queue_filters(request.GET, problems)
    if problems:
        return JsonResponse({"status": "invalid", "detail": " ".join(problems)}, status=400)
    exclude = clean_ids(request.GET.get("exclude", "").split(",") if request.GET.get("exclude") else [])
    want = min(max(clean_int(request.GET.get("count", QUEUE_BUFFER) or 0, QUEUE_BUFFER), 0), 10)
    return JsonResponse({"status": "ok", "items": _queue_payload(request, filters, exclude, want)})


@json_permission_required("reviews.label_review")
@require_POST
def labelling_label(request: HttpRequest) -> JsonResponse:
    """Save one label and top the client's buffer up, in one round trip.

    Expected conflicts (someone else labelled it first, the review was deleted)
    answer 200 with a status: the page moves on either way."""
    data = json_body(request)
    label = clean_choice(data.get("label"), LABEL_CHOICES)
    review_ids = clean_ids([data.get("review_id")])
    if label is None or not review_ids:
        return JsonResponse({"status": "invalid", "detail": "review_id and a valid label are needed"}, status=400)
    status = votes.review_vote(review_id=review_ids[0], label=label, user_id=request.user.pk)
    filters = queue_filters(_mapping(data.get("filters")))
    exclude = clean_ids(data.get("exclude"))
    want = min(max(clean_int(data.get("want"), 0), 0), 10)
    # Keep the reservations the page still holds alive while the labeller works.
    labelling.queue_extend(user_id=request.user.pk, review_ids=exclude)
    return JsonResponse(
        {"status": status, "review_id": review_ids[0], "items": _queue_payload(request, filters, exclude, want)}
    )


@json_permission_required("reviews.label_review")
@require_POST
def labelling_skip(request: HttpRequest) -> JsonResponse:
    data = json_body(request)
    released = labelling.queue_release(user_id=request.user.pk, review_ids=clean_ids([data.get("review_id")]))
    filters = queue_filters(_mapping(data.get("filters")))
    exclude = clean_ids(data.get("exclude"))
    want = min(max(clean_int(data.get("want"), 0), 0), 10)
    return JsonResponse(
        {"status": "skipped", "released": released, "items": _queue_payload(request, filters, exclude, want)}
    )


@json_permission_required("reviews.label_review")
@require_POST
def labelling_undo(request: HttpRequest) -> JsonResponse:
    review_ids = clean_ids([json_body(request).get("review_id")])
    if not review_ids or not votes.review_unvote(review_id=review_ids[0], user_id=request.user.pk):
        return JsonResponse({"status": "cannot_undo", "items": []})
    review = Review.objects.filter(pk=review_ids[0]).first()
    items = labelling.queue_items([review], user_id=request.user.pk) if review else []
    return JsonResponse({"status": "undone", "items": [item.as_json() for item in items]})


@json_permission_required("reviews.label_review")
@require_POST
def labelling_release(request: HttpRequest) -> JsonResponse:
    """The page is closing: give back what it held (sent with navigator.sendBeacon)."""
    data = json_body(request)
    return JsonResponse(
        {
            "status": "released",
            "released": labelling.queue_release(user_id=request.user.pk, review_ids=clean_ids(data.get("review_ids"))),
        }
    )


@json_permission_required("reviews.label_review")
@require_GET
def labelling_progress(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok", **labelling.labelling_progress(user_id=request.user.pk).as_json()})


@permission_required("reviews.label_review")
@require_http_methods(["GET", "POST"])
def agreement_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        label = clean_choice(request.POST.get("label"), LABEL_CHOICES)
        review_ids = clean_ids([request.POST.get("review_id")])
        if label and review_ids:
            try:
                votes.disagreement_resolve(review_id=review_ids[0], label=label, user_id=request.user.pk)
            except votes.NoOpenDisagreement as exc:
                messages.error(request, f"{exc}; nothing was changed.")
            else:
                messages.success(request, f"Review #{review_ids[0]} settled as {label}.")
        else:
            messages.error(request, "Choose a label for a review in the list.")
        return redirect("labelling-agreement")
    return render(
        request,
        "reviews/agreement.html",
        {
            "pairs": votes.agreement_by_pair(),
            "disagreements": votes.disagreements(),
            "labels": LABEL_CHOICES,
            "double_share": labelling.double_label_share(),
        },
    )


# --- Bulk labelling -------------------------------------------------------------------
