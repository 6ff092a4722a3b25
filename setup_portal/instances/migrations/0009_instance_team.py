"""Every instance belongs to a team: added nullable and existing rows put into the Default team.
Required in the next migration: PostgreSQL refuses ALTER TABLE while the update's deferred
foreign-key checks are pending in the same transaction."""

import django.db.models.deletion
from django.db import migrations, models


def into_default_team(apps, schema_editor):
    Team = apps.get_model("teams", "Team")
    Instance = apps.get_model("instances", "Instance")
    team, _ = Team.objects.get_or_create(name="Default team")
    Instance.objects.filter(team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [
        ("instances", "0008_next_certificate"),
        ("teams", "0002_default_team"),
    ]

    operations = [
        migrations.AddField(
            model_name="instance",
            name="team",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="instances", to="teams.team"),
        ),
        migrations.RunPython(into_default_team, migrations.RunPython.noop),
    ]
