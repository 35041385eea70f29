"""The aspect rollups hold the SemEval-2014 category strings that reviews 0014 renamed to the product themes:
empty them and mark them unbuilt, so the report reads the aspect rows until the next refresh rebuilds every table
(analytics.rollup_engine.RollupFamily.refresh: no coverage means a full rebuild)."""

from django.db import migrations

ROLLUPS = (
    "DailyAspectRollup",
    "DailyAspectRatingRollup",
    "DailyAspectReviewRollup",
    "MonthlyBusinessAspectRollup",
    "MonthlyBusinessAspectReviewRollup",
)


def rollups_unbuilt(apps, schema_editor):
    for name in ROLLUPS:
        apps.get_model("analytics", name).objects.all().delete()
    apps.get_model("analytics", "AspectRollupState").objects.update(covered_until=None)


class Migration(migrations.Migration):
    dependencies = [
        ("analytics", "0006_monitoring_and_alerts_move_to_training"),
        ("reviews", "0014_aspect_categories_to_themes"),
    ]

    operations = [migrations.RunPython(rollups_unbuilt, migrations.RunPython.noop, elidable=True)]
