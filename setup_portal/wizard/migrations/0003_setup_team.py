"""Every setup belongs to a team: added nullable and existing rows put into the Default team.
Required in the next migration: PostgreSQL refuses ALTER TABLE while the update's deferred
foreign-key checks are pending in the same transaction."""

import django.db.models.deletion
from django.db import migrations, models


def into_default_team(apps, schema_editor):
    Team = apps.get_model("teams", "Team")
    Setup = apps.get_model("wizard", "Setup")
    team, _ = Team.objects.get_or_create(name="Default team")
    Setup.objects.filter(team__isnull=True).update(team=team)


class Migration(migrations.Migration):
    dependencies = [
        ("wizard", "0002_certificate_credentials"),
        ("teams", "0002_default_team"),
    ]

    operations = [
        migrations.AddField(
            model_name="setup",
            name="team",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="setups", to="teams.team"),
        ),
        migrations.RunPython(into_default_team, migrations.RunPython.noop),
    ]
