# EnvironmentMetadata moved here from the api app: the table (api_environmentmetadata, made by
# api 0005) and its rows stay; only Django's idea of which app holds the model changes.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('api', '0005_environment_metadata'),
        ('instances', '0013_instance_name_unique_per_team'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='EnvironmentMetadata',
                    fields=[
                        ('instance', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='environment_metadata', serialize=False, to='instances.instance')),
                        ('definitions', models.JSONField()),
                        ('fetched_at', models.DateTimeField()),
                        ('checked_at', models.DateTimeField(blank=True, null=True)),
                    ],
                    options={'db_table': 'api_environmentmetadata'},
                ),
            ],
            database_operations=[],
        ),
    ]
