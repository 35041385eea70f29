"""Staff corrections are authoritative: drop the model's aspect mentions of reviews staff corrected.

Until now the report counted both a corrected review's staff rows and the model rows they corrected.
The model's suggestion rows stay (staff do not edit suggestions). The aspect rollups are created empty
by analytics 0003 and first built after this, so they need no marks here.
"""

from django.db import migrations


def drop_corrected_model_mentions(apps, schema_editor):
    ReviewAspect = apps.get_model("reviews", "ReviewAspect")
    AspectAnnotation = apps.get_model("training", "AspectAnnotation")
    corrected = set(ReviewAspect.objects.filter(source="staff").values_list("review_id", flat=True).distinct())
    corrected |= set(
        AspectAnnotation.objects.filter(source="staff", review__isnull=False).values_list("review_id", flat=True)
    )
    ids = sorted(corrected)
    for start in range(0, len(ids), 500):
        ReviewAspect.objects.filter(review_id__in=ids[start : start + 500], source="model", is_suggestion=False).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("reviews", "0006_review_aspect_filter_copies"),
        ("training", "0004_alter_modelversion_kind_aspectannotation"),
        ("analytics", "0003_aspect_rollups"),
    ]

    operations = [migrations.RunPython(drop_corrected_model_mentions, migrations.RunPython.noop, elidable=True)]
