"""Staff pages for reviews: bulk labelling, the explorer, a review's page, the CSV export and imports (the
labelling queue: reviews/labelling_views.py)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from project.views import (
    check_range,
    clean_choice,
    clean_decimal,
    clean_ids,
    clean_text,
    parse_date,
    permission_required,
    show_problems,
)
from reviews import exports, forms
from reviews.filters import ReviewFilters
from reviews.imports.jobs import UploadRefused, import_job_create, import_jobs_in_progress, recent_import_jobs
from reviews.models import Review, Sentiment
from reviews.selectors import (
    ORDERINGS,
    business_choices,
    business_names,
    mixed_verdicts,
    review_list,
    review_sources,
)
from reviews.services import review_bulk_label

LABEL_CHOICES = Sentiment.choices
BULK_LIMIT = 10_000


def _with_business_names(page) -> None:
    """Give each review of a page its business's display name (business_label; the id where none is
    known) and its mixed verdict (`mixed`, None unless its aspects both praise and fault), one query each."""
    page.object_list = list(page.object_list)
    names = business_names(review.business for review in page.object_list)
    mixed = mixed_verdicts(review.pk for review in page.object_list)
    for review in page.object_list:
        review.business_label = names.get(review.business, review.business)
        review.mixed = mixed.get(review.pk)


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
        date_to=parse_date(data.get("date_to"), field="date_to", problems=problems),
        q=clean_text(data.get("q")),
    )
    check_range(filters.rating_min, filters.rating_max, problems, "rating")
    check_range(filters.start, filters.last, problems, "date")
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
                Review.objects.filter(pk__in=clean_ids(request.POST.getlist("review_ids"), BULK_LIMIT)).values_list(
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
            "sources": review_sources(),
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
            "sources": review_sources(),
            "businesses": business_choices(),
            "query": query,
            "sort_query": urlencode({"sort": sort}),
        },
        status=status,
    )


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
    lines = exports.export_lines(filters, "csv")
    # Under ASGI Django streams an async iterator; a sync one it would pull on a thread with a warning.
    content = _csv_lines_async(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="reviews.csv"'
    return response


@permission_required("reviews.add_review")
@require_http_methods(["GET", "POST"])
def imports_page(request: HttpRequest) -> HttpResponse:
    """Upload a review file; a worker imports it (reviews.imports.jobs) while this page shows its progress. The
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
