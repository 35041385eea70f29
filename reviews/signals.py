from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from project.auth import forget_cached_token, forget_cached_tokens_of_user


@receiver(post_migrate)
def create_roles_and_baseline(sender, app_config=None, **kwargs) -> None:
    # post_migrate fires once per app with models (after all migrations ran); do the work once.
    if app_config is None or app_config.label != "reviews":
        return
    from reviews.roles import ensure_role_groups
    from training.registry import model_version_ensure_baseline

    ensure_role_groups()
    model_version_ensure_baseline()


@receiver(post_delete, sender=Token)
def forget_deleted_token(sender, instance: Token, **kwargs) -> None:
    # By now the row is gone, so the user's remaining tokens no longer include this one.
    forget_cached_token(instance.key)


@receiver(post_save, sender=get_user_model())
def forget_tokens_of_changed_user(sender, instance, **kwargs) -> None:
    forget_cached_tokens_of_user(instance.pk)


@receiver(m2m_changed, sender=get_user_model().groups.through)
@receiver(m2m_changed, sender=get_user_model().user_permissions.through)
def forget_tokens_after_role_change(sender, instance, action, pk_set=None, **kwargs) -> None:
    if isinstance(instance, get_user_model()):
        forget_cached_tokens_of_user(instance.pk)
        return
    # From the other side (group.user_set.remove(user)) pk_set names the users;
    # for clear() it is None, so read the members before they go.
    user_ids = pk_set or (instance.user_set.values_list("pk", flat=True) if action == "pre_clear" else ())
    for user_id in user_ids:
        forget_cached_tokens_of_user(user_id)
