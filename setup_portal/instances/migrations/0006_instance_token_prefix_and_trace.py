from django.db import migrations, models


class Migration(migrations.Migration):
    """The instance API looks instance tokens up by prefix; trace logging has an end time."""

    dependencies = [
        ("instances", "0005_review_resubmitted"),
    ]

    operations = [
        migrations.AlterField(
            model_name="instance",
            name="token_prefix",
            field=models.CharField(blank=True, db_index=True, max_length=12),
        ),
        migrations.AddField(
            model_name="instance",
            name="trace_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
