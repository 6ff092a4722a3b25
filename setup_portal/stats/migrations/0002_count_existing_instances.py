"""Count the instances that exist already, so the dashboard's counters start right."""

from django.db import migrations


def count_instances(apps, schema_editor):
    from setup_portal.stats import counters

    counters.apply(counters.recount(apps.get_model("instances", "Instance").objects.all()))


class Migration(migrations.Migration):
    dependencies = [("stats", "0001_initial")]

    operations = [migrations.RunPython(count_instances, migrations.RunPython.noop)]
