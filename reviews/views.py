"""Staff pages for reviews: the labelling queue (+ its JSON actions), bulk labelling, agreement, the explorer."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from project.spreadsheet import spreadsheet_safe
from project.views import (
    can,
    check_range,
    clean_choice,
    clean_decimal,
    clean_int,
    clean_text,
    json_body,
    json_permission_required,
    parse_date,
    permission_required,
    show_problems,
)
from reviews import forms, labelling
from reviews.aspects import review_set_staff_aspects
from reviews.import_jobs import UploadRefused, import_job_create, import_jobs_in_progress, recent_import_jobs
from reviews.labelling import Order, QueueFilters
from reviews.models import LabelEvent, Review, Sentiment
from reviews.selectors import (
    ORDERINGS,
    ReviewFilters,
    business_choices,
    business_names,
    review_aspects,
    review_get,
    review_iter_batches,
    review_list,
)
from reviews.services import review_bulk_label
from training.datasets import in_evaluation_bucket

LABEL_CHOICES = Sentiment.choices
BULK_LIMIT = 10_000
QUEUE_BUFFER = 3


def _sources() -> list[str]:
    return list(Review.objects.order_by("source").values_list("source", flat=True).distinct()[:100])


def _with_business_names(page) -> None:
    """Give each review of a page its business's display name (business_label; the id where none is
    known), with one query for the page."""
    page.object_list = list(page.object_list)
    names = business_names(review.business for review in page.object_list)
    for review in page.object_list:
        review.business_label = names.get(review.business, review.business)


def queue_filters(data, problems: list[str] | None = None) -> QueueFilters:
    filters = QueueFilters(
        order=clean_choice(data.get("order"), Order.CHOICES) or Order.UNCERTAIN,
        source=clean_text(data.get("source"), 50),
        business=clean_text(data.get("business")),
        predicted_label=clean_choice(data.get("predicted_label"), LABEL_CHOICES),
        date_from=parse_date(data.get("date_from"), field="date_from", problems=problems),
        date_to=parse_date(data.get("date_to"), end=True, field="date_to", problems=problems),
    )
    check_range(filters.date_from, filters.date_to, problems, "date")
    return filters


def _mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


MAX_ID = 2**63 - 1  # a larger number is no id, and SQLite cannot even bind it


def _ids(values, limit: int = 500) -> list[int]:
    if not isinstance(values, (list, tuple)):  # from a JSON body: anything may come
        return []
    result = []
    for value in values[:limit]:
        # Whole numbers only, as JSON integers or digit strings: int() would read 1.9 and true as review 1.
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
            number = int(value)
        else:
            continue
        if 0 < number <= MAX_ID:
            result.append(number)
    return result


_DIGITS = re.compile(r"[0-9]{1,19}")


# --- Labelling ------------------------------------------------------------------------


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
            "sources": _sources(),
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
    exclude = _ids(request.GET.get("exclude", "").split(",") if request.GET.get("exclude") else [])
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
    review_ids = _ids([data.get("review_id")])
    if label is None or not review_ids:
        return JsonResponse({"status": "invalid", "detail": "review_id and a valid label are needed"}, status=400)
    status = labelling.review_vote(review_id=review_ids[0], label=label, user_id=request.user.pk)
    filters = queue_filters(_mapping(data.get("filters")))
    exclude = _ids(data.get("exclude"))
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
    released = labelling.queue_release(user_id=request.user.pk, review_ids=_ids([data.get("review_id")]))
    filters = queue_filters(_mapping(data.get("filters")))
    exclude = _ids(data.get("exclude"))
    want = min(max(clean_int(data.get("want"), 0), 0), 10)
    return JsonResponse(
        {"status": "skipped", "released": released, "items": _queue_payload(request, filters, exclude, want)}
    )


@json_permission_required("reviews.label_review")
@require_POST
def labelling_undo(request: HttpRequest) -> JsonResponse:
    review_ids = _ids([json_body(request).get("review_id")])
    if not review_ids or not labelling.review_unvote(review_id=review_ids[0], user_id=request.user.pk):
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
            "released": labelling.queue_release(user_id=request.user.pk, review_ids=_ids(data.get("review_ids"))),
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
        review_ids = _ids([request.POST.get("review_id")])
        if label and review_ids:
            try:
                labelling.disagreement_resolve(review_id=review_ids[0], label=label, user_id=request.user.pk)
            except labelling.NoOpenDisagreement as exc:
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
            "pairs": labelling.agreement_by_pair(),
            "disagreements": labelling.disagreements(),
            "labels": LABEL_CHOICES,
            "double_share": labelling.double_label_share(),
        },
    )


# --- Bulk labelling -------------------------------------------------------------------


def review_filters(data, problems: list[str] | None = None) -> ReviewFilters:
    """The explorer's, bulk labelling's and the export's filters. A malformed value is left out and, when
    `problems` is given, reported there: the pages show it, and bulk labelling refuses to act on it."""

    def decimal(field: str):
        return clean_decimal(data.get(field), Decimal(0), Decimal(5), field=field, problems=problems)

    labelled = {"yes": True, "no": False}.get(data.get("labelled") or "")
    filters = ReviewFilters(
        predicted_label=clean_choice(data.get("predicted_label"), LABEL_CHOICES),
        human_label=clean_choice(data.get("human_label"), LABEL_CHOICES),
        labelled=labelled,
        source=clean_text(data.get("source"), 50),
        business=clean_text(data.get("business")),
        rating_min=decimal("rating_min"),
        rating_max=decimal("rating_max"),
        date_from=parse_date(data.get("date_from"), field="date_from", problems=problems),
        date_to=parse_date(data.get("date_to"), end=True, field="date_to", problems=problems),
        q=clean_text(data.get("q")),
    )
    check_range(filters.rating_min, filters.rating_max, problems, "rating")
    check_range(filters.date_from, filters.date_to, problems, "date")
    return filters


def selection_fingerprint(ids: list[int]) -> str:
    """What the confirmation page showed, so the confirmed POST acts on that and nothing else."""
    return hashlib.sha256(",".join(map(str, sorted(ids))).encode()).hexdigest()[:32]


FILTER_KEYS = (
    "q",
    "predicted_label",
    "human_label",
    "labelled",
    "source",
    "business",
    "rating_min",
    "rating_max",
    "date_from",
    "date_to",
)


def _filter_query(data) -> str:
    return urlencode({key: data.get(key) for key in FILTER_KEYS if data.get(key)})


@permission_required("reviews.label_review")
@require_http_methods(["GET", "POST"])
def bulk_page(request: HttpRequest) -> HttpResponse:
    """GET: filtered list with suggestions. POST without `confirmed`: the confirmation
    (with the count). POST with `confirmed`: apply through review_bulk_label."""
    data = request.POST if request.method == "POST" else request.GET
    if request.method == "GET" and "labelled" not in data:
        data = data.copy()
        data["labelled"] = "no"
    problems: list[str] = []
    filters = review_filters(data, problems)
    matching = review_list(filters=filters, ordering="newest")
    if request.method == "POST" and problems:
        # Never label by a filter that was partly left out: the page shows what is wrong.
        return redirect(f"{reverse('labelling-bulk')}?{_filter_query(data)}")
    if request.method == "POST":
        label = clean_choice(request.POST.get("label"), LABEL_CHOICES)
        everything = request.POST.get("scope") == "all"
        if everything:
            ids = list(matching.values_list("id", flat=True)[: BULK_LIMIT + 1])
        else:
            ids = list(
                Review.objects.filter(pk__in=_ids(request.POST.getlist("review_ids"), BULK_LIMIT)).values_list(
                    "id", flat=True
                )
            )
        back = f"{reverse('labelling-bulk')}?{_filter_query(data)}"
        if label is None or not ids:
            messages.error(request, "Select at least one review and a label.")
            return redirect(back)
        if len(ids) > BULK_LIMIT:
            messages.error(request, f"More than {BULK_LIMIT:,} reviews match; narrow the filter first.")
            return redirect(back)
        changed_since = (
            everything
            and request.POST.get("confirmed") == "yes"
            and request.POST.get("selection") != selection_fingerprint(ids)
        )
        if changed_since:
            messages.error(
                request,
                "The reviews matching the filter changed since you confirmed (labelled or added by someone else); "
                f"{len(ids):,} match now. Nothing was labelled: confirm again.",
            )
        if request.POST.get("confirmed") != "yes" or changed_since:
            return render(
                request,
                "reviews/bulk_confirm.html",
                {
                    "count": len(ids),
                    "label": label,
                    "ids": ids,
                    "selection": selection_fingerprint(ids),
                    "everything": everything,
                    "filter_items": [(key, data.get(key)) for key in FILTER_KEYS if data.get(key)],
                    "back": back,
                },
                status=409 if changed_since else 200,
            )
        changed = review_bulk_label(labels={pk: label for pk in ids}, user_id=request.user.pk)
        messages.success(
            request, f"Labelled {changed} review{'s' if changed != 1 else ''} as {label} ({len(ids)} selected)."
        )
        return redirect(back)
    page = Paginator(matching, 50).get_page(request.GET.get("page"))
    _with_business_names(page)
    status = show_problems(request, problems)
    return render(
        request,
        "reviews/bulk.html",
        {
            "page": page,
            "total": page.paginator.count,
            "form": data,
            "labels": LABEL_CHOICES,
            "sources": _sources(),
            "businesses": business_choices(),
            "query": _filter_query(data),
            "filter_items": [(key, data.get(key)) for key in FILTER_KEYS if data.get(key)],
            "bulk_limit": BULK_LIMIT,
        },
        status=status,
    )


# --- Explorer -------------------------------------------------------------------------

SORTS = [
    ("newest", "Newest"),
    ("oldest", "Oldest"),
    ("-rating", "Highest rating"),
    ("rating", "Lowest rating"),
    ("confidence", "Least confident"),
    ("-confidence", "Most confident"),
]


@permission_required("reviews.view_review")
@require_GET
def explore_page(request: HttpRequest) -> HttpResponse:
    sort = clean_choice(request.GET.get("sort"), SORTS) or "newest"
    assert sort in ORDERINGS
    problems: list[str] = []
    page = Paginator(review_list(filters=review_filters(request.GET, problems), ordering=sort), 25).get_page(
        request.GET.get("page")
    )
    _with_business_names(page)
    query = _filter_query(request.GET)
    status = show_problems(request, problems)
    return render(
        request,
        "reviews/explore.html",
        {
            "page": page,
            "form": request.GET,
            "sort": sort,
            "sorts": SORTS,
            "labels": LABEL_CHOICES,
            "sources": _sources(),
            "businesses": business_choices(),
            "query": query,
            "sort_query": urlencode({"sort": sort}),
        },
        status=status,
    )


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
            "suggestions": suggestions,
            "has_staff_aspects": any(row.source == "staff" for row in aspects),
            "aspect_formset": formset if can_edit else None,
            "aspects_version": forms.staff_aspects_version(aspects),
            "aspect_permission": ASPECT_EDIT_PERMISSION,
            "can_label": can(request.user, "reviews.label_review"),
        },
        status=status,
    )


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
    outcome = labelling.review_label_shown(review=review, label=label, shown=shown, user_id=request.user.pk)
    if outcome == labelling.PageLabel.CHANGED_SINCE:
        review.refresh_from_db()
        messages.error(
            request,
            f"Nothing was saved: review #{review.pk} was labelled {review.human_label or '(removed)'} by someone "
            "else since you opened the page. Choose again if it still needs changing.",
        )
    elif outcome == labelling.PageLabel.UNCHANGED:
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


EXPORT_FIELDS = [
    "id",
    "text",
    "source",
    "rating",
    "business",
    "author",
    "external_id",
    "review_date",
    "created_at",
    "predicted_label",
    "predicted_confidence",
    "human_label",
    "human_labelled_at",
]


def _csv_lines(filters: ReviewFilters):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_FIELDS)
    yield buffer.getvalue()
    for batch in review_iter_batches(filters=filters):
        buffer.seek(0)
        buffer.truncate()
        for review in batch:
            writer.writerow(
                [
                    review.pk,
                    spreadsheet_safe(review.text),
                    spreadsheet_safe(review.source),
                    review.rating if review.rating is not None else "",
                    spreadsheet_safe(review.business),
                    spreadsheet_safe(review.author),
                    spreadsheet_safe(review.external_id),
                    review.review_date.isoformat() if review.review_date else "",
                    review.created_at.isoformat(),
                    review.predicted_label or "",
                    review.predicted_confidence if review.predicted_confidence is not None else "",
                    review.human_label or "",
                    review.human_labelled_at.isoformat() if review.human_labelled_at else "",
                ]
            )
        yield buffer.getvalue()


async def _csv_lines_async(lines: Iterator[str]) -> AsyncIterator[str]:
    """The CSV chunks for an ASGI server: each chunk's queries run in a thread (sync_to_async, the
    request's thread), one batch at a time, so the stream still never holds all reviews in memory."""
    next_chunk = sync_to_async(next, thread_sensitive=True)
    while (chunk := await next_chunk(lines, None)) is not None:
        yield chunk


@permission_required("reviews.export_review")
@require_GET
def export_csv(request: HttpRequest) -> HttpResponse:
    problems: list[str] = []
    filters = review_filters(request.GET, problems)
    if problems:  # an export by a filter that was partly left out would hold reviews nobody asked for
        return HttpResponse("\n".join(problems) + "\n", status=400, content_type="text/plain; charset=utf-8")
    lines = _csv_lines(filters)
    # Under ASGI Django streams an async iterator; a sync one it would pull on a thread with a warning.
    content = _csv_lines_async(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="reviews.csv"'
    return response


@permission_required("reviews.add_review")
@require_http_methods(["GET", "POST"])
def imports_page(request: HttpRequest) -> HttpResponse:
    """Upload a review file; a worker imports it (reviews.import_jobs) while this page shows its progress. The
    list shows `manage.py import_reviews` runs too."""
    form = forms.ImportUploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                job = import_job_create(
                    upload=form.cleaned_data["file"], options=form.import_options(), requested_by_id=request.user.pk
                )
            except UploadRefused as exc:
                form.add_error("file", str(exc))
            else:
                messages.success(request, f"Import #{job.pk} of {job.file_name} queued.")
                return redirect("imports")
        status = 400
    jobs = recent_import_jobs()
    context = {
        "form": form,
        "jobs": jobs,
        "active": import_jobs_in_progress(jobs),
        "max_bytes": settings.IMPORT_MAX_UPLOAD_BYTES,
    }
    return render(request, "reviews/imports.html", context, status=status)
