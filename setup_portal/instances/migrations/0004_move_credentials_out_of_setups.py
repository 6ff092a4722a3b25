"""Credentials live on the instance only: erase the copies that instances created earlier left behind.

Before this, creating an instance copied the client secret and password from its setup and the
token cache from the sign-in; deleting an instance erased only its own copies. The setups of
instances keep their hints; the sign-ins keep who signed in and when.
"""

from django.db import migrations
from django.db.models import Q


def erase_copies(apps, schema_editor):
    Instance = apps.get_model("instances", "Instance")
    Setup = apps.get_model("wizard", "Setup")
    Authorization = apps.get_model("azure", "Authorization")
    AuthFlow = apps.get_model("azure", "AuthFlow")

    with_instance = Instance.objects.exclude(setup=None).values("setup_id")
    Setup.objects.filter(pk__in=with_instance).update(client_secret="", password="")
    made_instances = Q(instance__isnull=False) | Q(setup_id__in=with_instance)
    Authorization.objects.filter(made_instances).exclude(token_cache="").update(token_cache="")
    deleted = Instance.objects.filter(status="deleted")
    AuthFlow.objects.filter(Q(instance__in=deleted) | Q(setup_id__in=deleted.exclude(setup=None).values("setup_id"))
                            ).update(flow="")


class Migration(migrations.Migration):
    dependencies = [
        ("instances", "0003_dashboard_covering_indexes"),
        ("wizard", "0001_initial"),
        ("azure", "0001_initial"),
    ]

    operations = [migrations.RunPython(erase_copies, migrations.RunPython.noop)]
