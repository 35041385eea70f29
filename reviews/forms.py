"""Staff page forms: the review page's aspect editor (one row per staff aspect, saved through reviews.aspects)
and the Imports page's upload."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from django import forms
from django.utils.text import Truncator

from reviews.aspects import StaffAspect
from reviews.imports.columns import ImportOptions
from reviews.models import Review, ReviewAspect
from training.ml.aspect_data import POLARITIES, THEMES
from training.ml.text import split_sentences

# The product themes extraction stores (cold start and trained alike), so staff rows in them train the
# themes model as "themes" annotations.
ASPECT_CATEGORIES = THEMES
MAX_ASPECTS = 100  # as POST /api/reviews/{id}/aspects
BLANK_ROWS = 2
WHOLE_REVIEW = ""


class StaffAspectForm(forms.Form):
    category = forms.ChoiceField()
    polarity = forms.ChoiceField(choices=[("", "—"), *((p, p) for p in POLARITIES)])
    sentence = forms.ChoiceField(required=False)

    def __init__(self, *args, categories: Sequence[str], sentences: Sequence[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = [("", "—"), *((c, c) for c in categories)]
        self.fields["sentence"].choices = [
            (WHOLE_REVIEW, "(whole review)"),
            *((s, Truncator(s).chars(90)) for s in sentences),
        ]


class StaffAspectBaseFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        # The page always sends its rows plus blank ones. Fewer rows than it was given (a negative or
        # truncated count) would save as "remove every aspect": refuse that as an incomplete form.
        if self.total_form_count() < max(self.initial_form_count(), 0) or self.total_form_count() < 0:
            raise forms.ValidationError("The form was incomplete (fewer rows than the page had); reload the page.")


StaffAspectFormSet = forms.formset_factory(
    StaffAspectForm,
    formset=StaffAspectBaseFormSet,
    extra=BLANK_ROWS,
    can_delete=True,
    can_delete_extra=False,
    max_num=MAX_ASPECTS,
    validate_max=True,
)


def _unique(values) -> list:
    return list(dict.fromkeys(values))


def aspect_formset(*, review: Review, aspects: Sequence[ReviewAspect], data=None) -> forms.BaseFormSet:
    """Rows start from the review's staff aspects; without any, from the model's, so that saving
    records a complete annotation of the review (the service replaces all staff aspects at once).
    Categories are the taxonomy plus any already on the review (set through the API), so a
    re-save keeps them; sentences are the review's own plus any already stored."""
    staff = [row for row in aspects if row.source == ReviewAspect.Source.STAFF]
    start = staff or aspects
    rows = _unique((row.category, row.polarity, row.sentence) for row in start)
    initial = [{"category": c, "polarity": p, "sentence": s} for c, p, s in rows]
    return StaffAspectFormSet(
        data,
        initial=initial,
        prefix="aspects",
        form_kwargs={
            "categories": _unique([*ASPECT_CATEGORIES, *(row.category for row in aspects)]),
            "sentences": _unique([*split_sentences(review.text), *(row.sentence for row in aspects if row.sentence)]),
        },
    )


def staff_aspects_version(aspects: Sequence[ReviewAspect]) -> str:
    """The review's staff aspects as the editor saw them: saving checks it, so a second editor's older form
    does not silently replace what the first saved (the service replaces all staff rows, with new ids)."""
    rows = sorted((row.pk, row.category, row.polarity, row.sentence) for row in aspects if row.source == "staff")
    return hashlib.sha256(repr(rows).encode()).hexdigest()[:32]


def staff_aspects(formset: forms.BaseFormSet) -> list[StaffAspect]:
    """The rows to store, from a valid formset: blank and removed rows left out."""
    removed = set(map(id, formset.deleted_forms))
    return [
        StaffAspect(form.cleaned_data["category"], form.cleaned_data["polarity"], form.cleaned_data["sentence"])
        for form in formset.forms
        if id(form) not in removed and form.cleaned_data.get("category")
    ]


def formset_errors(formset: forms.BaseFormSet) -> list[str]:
    """Every problem as one line a person can act on ("Row 2, polarity: …")."""
    problems = [str(error) for error in formset.non_form_errors()]
    for number, form in enumerate(formset.forms, start=1):
        for field, errors in form.errors.items():
            problems.extend(f"Row {number}, {field}: {error}" for error in errors)
    return problems


def _column(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(required=False, max_length=200, label=label, help_text=help_text)


class ImportUploadForm(forms.Form):
    """The staff Imports page: a review file and, where the usual column names do not fit, which column is which."""

    OPTIONAL = (
        "text_col", "rating_col", "source", "date_col", "business_col", "business_name_col", "author_col", "id_col",
        "label_col",
    )  # fmt: skip

    file = forms.FileField(help_text="CSV (comma, semicolon, tab or pipe separated), TSV, JSON lines or a JSON array")
    source = forms.CharField(required=False, max_length=50, help_text="Default: the file's name")
    text_col = _column("Text column", "Default: text, review, content, body or comment")
    rating_col = _column("Rating column", "Default: rating, stars or score")
    rating_scale = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", "learnt from the file"), ("5", "0-5 stars"), ("10", "0-10"), ("100", "0-100")],
    )
    date_col = _column("Date column", "Default: date, review_date, reviewed_at, timestamp or created_at")
    business_col = _column(
        "Business column", "The business's id (or name). Default: business_id, business or restaurant"
    )
    business_name_col = _column(
        "Business name column", "Display names of the business column's ids; the last non-empty one wins"
    )
    author_col = _column("Author column")
    id_col = _column("Id column", "Default: the content identifies a review")
    label_col = _column("Label column", "Human labels")
    label_map = forms.CharField(
        required=False, max_length=500, help_text='Default: learnt from the file; e.g. "0=negative,1=positive"'
    )

    def import_options(self) -> ImportOptions:
        data = self.cleaned_data
        return ImportOptions(
            **{name: data.get(name) or None for name in self.OPTIONAL},
            rating_scale=data.get("rating_scale"),
            label_map=data.get("label_map") or None,
        )
