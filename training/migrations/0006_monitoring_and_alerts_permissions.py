"""Permissions follow MonitoringSnapshot, AlertChannel and Alert from the analytics app to training.

A permission belongs to its model's content type, so without this every existing grant (analytics.view_alert
and the like, to users or groups) would be left on a stale analytics content type. The analytics content
types are relabelled `training`, which carries their permissions and every grant with them. Where a training
content type for the model already exists (post_migrate ran with the new code before this migration did),
the two are merged: grants move to the training permission of the same codename, then the analytics
duplicates are deleted. Reversible: backwards it moves them to analytics the same way.
"""

from django.conf import settings
from django.db import migrations

MODELS = ("monitoringsnapshot", "alertchannel", "alert")


def _move(apps, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    user_grants = User.user_permissions.through
    group_grants = Group.permissions.through
    for model in MODELS:
        old = ContentType.objects.filter(app_label=source, model=model).first()
        if old is None:
            continue
        new = ContentType.objects.filter(app_label=target, model=model).first()
        if new is None:
            old.app_label = target
            old.save(update_fields=["app_label"])
            continue
        for permission in Permission.objects.filter(content_type=old):
            twin = Permission.objects.filter(content_type=new, codename=permission.codename).first()
            if twin is None:
                permission.content_type = new
                permission.save(update_fields=["content_type"])
                continue
            for grants, owner in ((user_grants, "user_id"), (group_grants, "group_id")):
                holders = set(grants.objects.filter(permission=twin).values_list(owner, flat=True))
                for grant in grants.objects.filter(permission=permission):
                    if getattr(grant, owner) not in holders:
                        grants.objects.create(**{owner: getattr(grant, owner)}, permission=twin)
                grants.objects.filter(permission=permission).delete()
            permission.delete()
        if apps.is_installed("django.contrib.admin"):
            apps.get_model("admin", "LogEntry").objects.filter(content_type=old).update(content_type=new)
        old.delete()
    _forget_cached_content_types()


def _forget_cached_content_types() -> None:
    # The process-wide cache may still map these models to the old rows.
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


def forwards(apps, schema_editor):
    _move(apps, "analytics", "training")


def backwards(apps, schema_editor):
    _move(apps, "training", "analytics")


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0005_monitoring_and_alerts'),
        ('analytics', '0006_monitoring_and_alerts_move_to_training'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('auth', '0012_alter_user_first_name_max_length'),
        ('admin', '0003_logentry_add_action_flag_choices'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
