# EnvironmentMetadata now belongs to the dataverse app (its migration 0001 takes over the table,
# which keeps its name and rows); the api app only forgets it.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0005_environment_metadata'),
        ('dataverse', '0001_environment_metadata'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='EnvironmentMetadata')],
            database_operations=[],
        ),
    ]
