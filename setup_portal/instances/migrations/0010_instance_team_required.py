import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("instances", "0009_instance_team")]

    operations = [
        migrations.AlterField(
            model_name="instance",
            name="team",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="instances",
                                    to="teams.team"),
        ),
    ]
