"""Stored aspect rows move from the SemEval-2014 categories the product served before to the product themes
(training/ml/aspect_data.THEMES): food -> food quality, service -> service and staff, price -> price and value,
ambience -> ambience and noise, anecdotes/miscellaneous -> general. Model rows and staff rows alike, so the report
never shows both taxonomies; analytics 0007 then rebuilds the aspect rollups from these rows. The next trained
aspect model's promotion re-extracts the model rows with the themes model (speed and waiting, cleanliness, ...).

Irreversible in meaning (general also holds the suggestion rows' "general"), so the reverse is a no-op."""

from django.db import migrations

OLD_TO_THEME = {
    "food": "food quality",
    "service": "service and staff",
    "price": "price and value",
    "ambience": "ambience and noise",
    "anecdotes/miscellaneous": "general",
}


def categories_to_themes(apps, schema_editor):
    ReviewAspect = apps.get_model("reviews", "ReviewAspect")
    for old, theme in OLD_TO_THEME.items():
        ReviewAspect.objects.filter(category=old).update(category=theme)


class Migration(migrations.Migration):
    dependencies = [("reviews", "0013_drop_review_effective_at_index")]

    operations = [migrations.RunPython(categories_to_themes, migrations.RunPython.noop, elidable=True)]
