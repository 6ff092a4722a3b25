from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_roles(sender, apps=None, using="default", **kwargs) -> None:
    # Permissions of apps migrated after this one do not exist yet: make them first.
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from .roles import ensure_roles

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    ensure_roles()


class AccountsConfig(AppConfig):
    name = "setup_portal.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        post_migrate.connect(_create_roles, sender=self)
