# Covering indexes for the dashboard and analytics aggregates: measured by bench/dashboard.py at
# 1,000,000 reviews (scoped charts become index-only scans instead of heap scans).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0003_labelling_reservation_and_votes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="review",
            index=models.Index(
                fields=["effective_at"],
                include=("source", "business", "rating", "predicted_label", "human_label", "id"),
                name="review_dash_time_cov",
            ),
        ),
        migrations.AddIndex(
            model_name="review",
            index=models.Index(
                fields=["source", "effective_at"],
                include=("business", "rating", "predicted_label", "human_label", "id"),
                name="review_dash_source_cov",
            ),
        ),
        migrations.AddIndex(
            model_name="review",
            index=models.Index(
                fields=["business", "effective_at"],
                include=("source", "rating", "predicted_label", "human_label", "id"),
                name="review_dash_business_cov",
            ),
        ),
    ]
