"""The two roles, as Django groups with real permissions (API tokens act with them)."""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

LABELLER = "labeller"
MANAGER = "manager"

LABELLER_PERMISSIONS = (
    "reviews.view_review",
    "reviews.predict_review",
    "reviews.label_review",
    "reviews.export_review",
    "training.view_trainingjob",
    "training.view_modelversion",
)
MANAGER_PERMISSIONS = LABELLER_PERMISSIONS + (
    "reviews.add_review",
    "reviews.change_review",
    "reviews.delete_review",
    "training.start_trainingjob",
    "training.promote_modelversion",
    "training.rollback_modelversion",
)
ROLE_PERMISSIONS = {LABELLER: LABELLER_PERMISSIONS, MANAGER: MANAGER_PERMISSIONS}


def ensure_role_groups() -> None:
    """Create or refresh both groups; idempotent (runs after every migrate and flush)."""
    for app_label in ("reviews", "training"):
        create_permissions(apps.get_app_config(app_label), verbosity=0)
    for group_name, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        wanted = []
        for dotted in codenames:
            app_label, codename = dotted.split(".")
            wanted.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
