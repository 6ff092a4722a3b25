from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def _create_roles(sender, apps=None, using="default", **kwargs) -> None:
    # Inside the handler: roles imports auth models, which cannot load before the app registry.
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    from setup_portal.teams.roles import ensure_roles

    # Permissions of apps migrated after this one do not exist yet: make them first.
    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=using)
    ensure_roles()


def _create_cache_table(sender, using="default", **kwargs) -> None:
    """The database cache (the default, see settings) needs its table; `createcachetable`
    is idempotent, so every migrate makes sure of it and no run or test needs another command."""
    call_command("createcachetable", database=using, verbosity=0)


class AccountsConfig(AppConfig):
    name = "setup_portal.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        post_migrate.connect(_create_roles, sender=self)
        post_migrate.connect(_create_cache_table, sender=self)
