from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from reviews import events
from reviews.aspects import review_aspects_forget, review_aspects_sync_filters
from reviews.models import Business, ImportJob, LabelEvent, Prediction, Review, Sentiment
from reviews.schemas import REVIEW_DATE_MAX_AHEAD
from reviews.services import review_label, review_unlabel


def _label_action(label: str):
    def action(modeladmin, request, queryset):
        for review in queryset:
            review_label(review=review, label=label, user_id=request.user.pk)
        modeladmin.message_user(request, f"Labelled {queryset.count()} reviews as {label}", messages.SUCCESS)

    action.__name__ = f"label_as_{label}"
    action.short_description = f"Label selected reviews as {label}"
    action.allowed_permissions = ("label",)
    return action


class PredictionInline(admin.TabularInline):
    model = Prediction
    extra = 0
    can_delete = False
    readonly_fields = ("model_version", "label", "confidence", "scores", "is_ingest", "created_at")


class LabelEventInline(admin.TabularInline):
    model = LabelEvent
    extra = 0
    can_delete = False
    readonly_fields = ("label", "previous_label", "user", "created_at")


READONLY_FIELDS = (
    "created_at",
    "effective_at",
    "predicted_label",
    "predicted_confidence",
    "predicted_scores",
    "predicted_by",
    "predicted_at",
    "human_labelled_by",
    "human_labelled_at",
)


class ReviewAdminForm(forms.ModelForm):
    class Meta:
        model = Review
        # What staff may edit: every editable field but what the platform computes (predictions, who labelled
        # and when, the dates it derives), which the admin shows read-only.
        fields = [
            field.name
            for field in Review._meta.concrete_fields
            if field.editable and not field.primary_key and field.name not in READONLY_FIELDS
        ]

    def clean_review_date(self):
        value = self.cleaned_data.get("review_date")
        if value is not None and value > timezone.now() + REVIEW_DATE_MAX_AHEAD:
            raise ValidationError("This date is in the future (more than one day ahead of the server's clock).")
        return value


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "short_text",
        "source",
        "business",
        "rating",
        "predicted_label",
        "predicted_confidence",
        "human_label",
        "effective_at",
    )
    list_filter = ("source", "predicted_label", "human_label", "rating", ("effective_at", admin.DateFieldListFilter))
    search_fields = ("text", "business", "author", "external_id")
    date_hierarchy = "effective_at"
    readonly_fields = READONLY_FIELDS
    form = ReviewAdminForm
    actions = [_label_action(label) for label in Sentiment.values]
    inlines = [PredictionInline, LabelEventInline]
    list_per_page = 50

    def has_add_permission(self, request) -> bool:
        # Reviews arrive through the API or import_reviews, which predict their sentiment and queue their
        # aspects; one saved here would have neither.
        return False

    def save_model(self, request, obj, form, change) -> None:
        new_label = obj.human_label
        label_changed = "human_label" in form.changed_data
        if label_changed:
            # A label goes through the labelling service: who and when, the label history, the queue's votes.
            obj.human_label = form.initial.get("human_label")
        moved = change and {"source", "rating", "review_date"} & set(form.changed_data)
        if moved:
            events.reviews_leaving([obj.pk])  # the day it leaves
        super().save_model(request, obj, form, change)
        if moved:
            events.reviews_leaving([obj.pk])  # the day it lands on
        if label_changed:
            if new_label:
                review_label(review=obj, label=new_label, user_id=request.user.pk)
            else:
                review_unlabel(review=obj, user_id=request.user.pk)
        # The aspect rows carry copies of these columns for the report; the admin runs this in the
        # change view's transaction, so the review and its copies change together.
        if change and {"source", "business", "rating", "review_date"} & set(form.changed_data):
            review_aspects_sync_filters(review_ids=[obj.pk])

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            review_aspects_forget(review_ids=[obj.pk])
            events.reviews_leaving([obj.pk])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            ids = list(queryset.values_list("pk", flat=True))
            review_aspects_forget(review_ids=ids)
            events.reviews_leaving(ids)
            super().delete_queryset(request, queryset)

    @admin.display(description="Text")
    def short_text(self, review: Review) -> str:
        return review.text[:80] + ("…" if len(review.text) > 80 else "")

    def has_label_permission(self, request) -> bool:
        return request.user.has_perm("reviews.label_review")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Imports, read only: uploads from the staff Imports page (run by a worker) and `manage.py import_reviews`
    runs (origin "command", with the OS user in run_by)."""

    list_display = (
        "id", "file_name", "origin", "status", "rows_done", "requested_by", "run_by", "created_at", "finished_at",
    )  # fmt: skip
    list_filter = ("status", "origin")
    exclude = ("content",)  # the file itself, up to IMPORT_MAX_UPLOAD_BYTES: not for a form
    readonly_fields = (
        "file_name", "size_bytes", "origin", "status", "options", "rows_done", "summary", "error", "requested_by",
        "run_by", "created_at", "started_at", "finished_at",
    )  # fmt: skip

    def get_queryset(self, request):
        return super().get_queryset(request).defer("content")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Business)
class BusinessAdmin(admin.ModelAdmin):
    """Display names of the businesses reviews name by id (Review.business). Imports and the API fill them
    in; a name corrected here stays until an import or API call sends another."""

    list_display = ("key", "name", "updated_at")
    list_editable = ("name",)
    search_fields = ("key", "name")
    readonly_fields = ("updated_at",)
    list_per_page = 100

    def get_readonly_fields(self, request, obj=None):
        # The key is the id the reviews hold: changing it would name another business (or none).
        return ("key", *self.readonly_fields) if obj is not None else self.readonly_fields
