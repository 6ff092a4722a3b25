import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("wizard", "0003_setup_team")]

    operations = [
        migrations.AlterField(
            model_name="setup",
            name="team",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="setups",
                                    to="teams.team"),
        ),
    ]
