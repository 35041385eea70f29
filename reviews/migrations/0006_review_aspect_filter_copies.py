"""Copy the review's filter columns onto ReviewAspect and index them for the aspect report.

The columns are added nullable, filled from the reviews, then review_effective_at becomes NOT NULL.
"""

from django.db import migrations, models

COPIES = [
    ("review_effective_at", "effective_at"),
    ("review_source", "source"),
    ("review_business", "business"),
    ("review_rating", "rating"),
]


def fill_copies(apps, schema_editor):
    quote = schema_editor.quote_name
    aspect, review = quote("reviews_reviewaspect"), quote("reviews_review")
    if schema_editor.connection.vendor == "postgresql":
        assignments = ", ".join(f"{quote(copy)} = r.{quote(column)}" for copy, column in COPIES)
        sql = f"UPDATE {aspect} SET {assignments} FROM {review} r WHERE r.id = {aspect}.review_id"
    else:
        # Portable (SQLite, others): one correlated subquery per column.
        assignments = ", ".join(
            f"{quote(copy)} = (SELECT r.{quote(column)} FROM {review} r WHERE r.id = {aspect}.review_id)"
            for copy, column in COPIES
        )
        sql = f"UPDATE {aspect} SET {assignments}"
    schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0005_review_aspect"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewaspect",
            name="review_effective_at",
            field=models.DateTimeField(null=True, help_text="Copy of the review's effective_at"),
        ),
        migrations.AddField(
            model_name="reviewaspect",
            name="review_source",
            field=models.CharField(default="", help_text="Copy of the review's source", max_length=50),
        ),
        migrations.AddField(
            model_name="reviewaspect",
            name="review_business",
            field=models.CharField(blank=True, default="", help_text="Copy of the review's business", max_length=200),
        ),
        migrations.AddField(
            model_name="reviewaspect",
            name="review_rating",
            field=models.DecimalField(
                blank=True, decimal_places=1, help_text="Copy of the review's rating", max_digits=2, null=True
            ),
        ),
        migrations.RunPython(fill_copies, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="reviewaspect",
            name="review_effective_at",
            field=models.DateTimeField(help_text="Copy of the review's effective_at"),
        ),
        migrations.AddIndex(
            model_name="reviewaspect",
            index=models.Index(
                fields=["is_suggestion", "review_effective_at"],
                include=["category", "polarity", "review_source", "review_business", "review_rating", "review_id"],
                name="aspect_report_time_cov",
            ),
        ),
        migrations.AddIndex(
            model_name="reviewaspect",
            index=models.Index(
                fields=["review_source", "is_suggestion", "review_effective_at"],
                include=["category", "polarity", "review_business", "review_rating", "review_id"],
                name="aspect_report_source_cov",
            ),
        ),
        migrations.AddIndex(
            model_name="reviewaspect",
            index=models.Index(
                fields=["review_business", "is_suggestion", "review_effective_at"],
                include=["category", "polarity", "review_source", "review_rating", "review_id"],
                name="aspect_report_business_cov",
            ),
        ),
        migrations.AddIndex(
            model_name="reviewaspect",
            index=models.Index(
                fields=["category", "is_suggestion", "-confidence", "-review_effective_at", "-id"],
                name="aspect_quotes",
            ),
        ),
    ]
