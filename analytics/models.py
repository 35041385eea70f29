from __future__ import annotations

from django.db import models


class DailyReviewRollup(models.Model):
    """Review counts per local day (TIME_ZONE) and dashboard dimension, so the unscoped charts
    read ~50k rows instead of every review. Built by analytics.rollups; never edited by hand."""

    day = models.DateField()
    source = models.CharField(max_length=50)
    rating = models.DecimalField(max_digits=2, decimal_places=1, null=True)
    predicted_label = models.CharField(max_length=8, null=True)
    human_label = models.CharField(max_length=8, null=True)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"]), models.Index(fields=["source", "day"])]


class MonthlyBusinessRollup(models.Model):
    """Review counts per local month, business, source and prediction: the by-business chart
    (a daily grain would be almost as large as the reviews table)."""

    month = models.DateField(help_text="First day of the month, in TIME_ZONE")
    business = models.CharField(max_length=200)
    source = models.CharField(max_length=50)
    predicted_label = models.CharField(max_length=8, null=True)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month"])]


class RollupState(models.Model):
    """One row: which days the rollups hold. Days before `covered_until` (in `time_zone`) are
    complete as of the last rebuild; the charts read later days from the reviews table."""

    covered_until = models.DateField(null=True)
    time_zone = models.CharField(max_length=64, default="")
    built_at = models.DateTimeField(null=True)
    full_built_at = models.DateTimeField(null=True)


class RollupDirtyDay(models.Model):
    """A local day (TIME_ZONE) whose reviews changed since the dashboard rollups last built it.

    Written in the transaction that changed the reviews (a backdated create or import, a label, a
    re-scoring, a delete); the charts read such days from the reviews table until a refresh rebuilds
    them, so the dashboard equals the reviews table at once. Tokens as in AspectRollupDirtyDay."""

    day = models.DateField(unique=True)
    token = models.CharField(max_length=32)


class DailyAspectRollup(models.Model):
    """Aspect mentions (and suggestions) per local day (TIME_ZONE), category, polarity, source and
    rating: the constructive-feedback report without a business filter reads ~400 rows a day
    instead of ~6,000 ReviewAspect rows. Built by analytics.aspect_rollups; never edited by hand."""

    day = models.DateField()
    category = models.CharField(max_length=50)
    polarity = models.CharField(max_length=10, help_text="positive, negative, neutral, conflict; or suggestion")
    is_suggestion = models.BooleanField()
    source = models.CharField(max_length=50)
    rating = models.DecimalField(max_digits=2, decimal_places=1, null=True)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"]), models.Index(fields=["source", "day"])]


class DailyAspectRatingRollup(models.Model):
    """DailyAspectRollup summed over sources (about a quarter of its rows): the report with no source or
    business filter -- the Insights page's default, or a rating filter -- reads this."""

    day = models.DateField()
    category = models.CharField(max_length=50)
    polarity = models.CharField(max_length=10, help_text="positive, negative, neutral, conflict; or suggestion")
    is_suggestion = models.BooleanField()
    rating = models.DecimalField(max_digits=2, decimal_places=1, null=True)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"])]


class DailyAspectReviewRollup(models.Model):
    """Reviews with at least one aspect mention per local day, source and rating (the report's
    distinct-review count: a review has one effective date, so the days add up)."""

    day = models.DateField()
    source = models.CharField(max_length=50)
    rating = models.DecimalField(max_digits=2, decimal_places=1, null=True)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"])]


class MonthlyBusinessAspectRollup(models.Model):
    """DailyAspectRollup by local month and business, for the report's business filter (a daily grain
    by business would be ~70% as large as ReviewAspect itself)."""

    month = models.DateField(help_text="First day of the month, in TIME_ZONE")
    business = models.CharField(max_length=200)
    category = models.CharField(max_length=50)
    polarity = models.CharField(max_length=10, help_text="positive, negative, neutral, conflict; or suggestion")
    is_suggestion = models.BooleanField()
    source = models.CharField(max_length=50)
    rating = models.DecimalField(max_digits=2, decimal_places=1, null=True)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["business", "month"]), models.Index(fields=["month"])]


class MonthlyBusinessAspectReviewRollup(models.Model):
    """DailyAspectReviewRollup by local month and business."""

    month = models.DateField(help_text="First day of the month, in TIME_ZONE")
    business = models.CharField(max_length=200)
    source = models.CharField(max_length=50)
    rating = models.DecimalField(max_digits=2, decimal_places=1, null=True)
    n = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["business", "month"]), models.Index(fields=["month"])]


class AspectRollupState(models.Model):
    """One row: which days the aspect rollups hold (as RollupState for the dashboard's). Days before
    `covered_until` (in `time_zone`) are complete, except days marked in AspectRollupDirtyDay."""

    covered_until = models.DateField(null=True)
    time_zone = models.CharField(max_length=64, default="")
    built_at = models.DateTimeField(null=True)
    full_built_at = models.DateTimeField(null=True)


class AspectRollupDirtyDay(models.Model):
    """A local day (TIME_ZONE) whose aspect rows changed since the aspect rollups last built it.

    Written in the transaction that changed the rows (extraction, staff corrections, moved or deleted
    reviews); the report reads such days from ReviewAspect until a refresh rebuilds them. Each write
    sets a new `token`, and a refresh deletes only the (day, token) it read before rebuilding, so a
    change committed during a refresh keeps its mark."""

    day = models.DateField(unique=True)
    token = models.CharField(max_length=32)
