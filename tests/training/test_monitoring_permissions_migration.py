"""Grants on MonitoringSnapshot, AlertChannel and Alert survive their move from analytics to training."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as global_apps
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db

BEFORE = [("training", "0004_alter_modelversion_kind_aspectannotation"), ("analytics", "0005_rollup_dirty_days")]
move = importlib.import_module("training.migrations.0006_monitoring_and_alerts_permissions")


def _migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    ContentType.objects.clear_cache()


def _latest() -> list[tuple[str, str]]:
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def _grant_old_permissions() -> tuple[User, Group]:
    view_alert = Permission.objects.get(content_type__app_label="analytics", codename="view_alert")
    change_channel = Permission.objects.get(content_type__app_label="analytics", codename="change_alertchannel")
    view_snapshot = Permission.objects.get(content_type__app_label="analytics", codename="view_monitoringsnapshot")
    user = User.objects.create_user("ops", password="x")
    user.user_permissions.add(view_alert, view_snapshot)
    group = Group.objects.create(name="alert admins")
    group.permissions.add(change_channel)
    member = User.objects.create_user("member", password="x")
    member.groups.add(group)
    return user, group


def _assert_moved(user: User, group: Group) -> None:
    assert not ContentType.objects.filter(app_label="analytics", model__in=move.MODELS).exists()
    fresh = User.objects.get(pk=user.pk)  # a new object: permissions are cached per instance
    assert fresh.has_perm("training.view_alert")
    assert fresh.has_perm("training.view_monitoringsnapshot")
    assert not fresh.has_perm("analytics.view_alert")
    assert User.objects.get(username="member").has_perm("training.change_alertchannel")
    assert sorted(f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()) == [
        "training.change_alertchannel"
    ]


def test_migrating_forward_moves_the_analytics_permissions_and_their_grants_to_training():
    _migrate(BEFORE)  # backwards: the content types go back to analytics, as before this move
    assert ContentType.objects.filter(app_label="analytics", model="alert").exists()
    assert not ContentType.objects.filter(app_label="training", model="alert").exists()
    user, group = _grant_old_permissions()

    _migrate(_latest())

    _assert_moved(user, group)


def test_a_training_content_type_that_already_exists_is_merged_with_the_analytics_one():
    # training.alert exists (post_migrate created it); an analytics.alert left from before holds the grants.
    user_twin_holder = User.objects.create_user("already", password="x")
    user_twin_holder.user_permissions.add(
        Permission.objects.get(content_type__app_label="training", codename="view_alert")
    )
    old = ContentType.objects.create(app_label="analytics", model="alert")
    for action in ("add", "change", "delete", "view"):
        Permission.objects.create(content_type=old, codename=f"{action}_alert", name=f"Can {action} alert")
    old_channel = ContentType.objects.create(app_label="analytics", model="alertchannel")
    Permission.objects.create(content_type=old_channel, codename="change_alertchannel", name="Can change channel")
    Permission.objects.filter(content_type__app_label="training", codename="change_alertchannel").delete()
    old_snapshot = ContentType.objects.create(app_label="analytics", model="monitoringsnapshot")
    Permission.objects.create(content_type=old_snapshot, codename="view_monitoringsnapshot", name="Can view")
    user, group = _grant_old_permissions()
    user_twin_holder.user_permissions.add(Permission.objects.get(content_type=old, codename="view_alert"))

    move.forwards(global_apps, None)

    _assert_moved(user, group)
    assert User.objects.get(pk=user_twin_holder.pk).has_perm("training.view_alert")
    assert Permission.objects.filter(content_type__app_label="training", codename="view_alert").count() == 1
    assert Permission.objects.filter(content_type__app_label="training", codename="change_alertchannel").count() == 1
