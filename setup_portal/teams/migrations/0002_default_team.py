"""Put the installation into one "Default team": the old Admin group's users become its admins
(and portal administrators, so they still manage users), the Team lead group's users its team
leads. Setups and instances join it in their own apps' migrations."""

from django.db import migrations

DEFAULT_TEAM_NAME = "Default team"


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Team = apps.get_model("teams", "Team")
    Membership = apps.get_model("teams", "Membership")
    team, _ = Team.objects.get_or_create(name=DEFAULT_TEAM_NAME)
    admins = Group.objects.filter(name="Admin").first()
    leads = Group.objects.filter(name="Team lead").first()
    admin_ids = set(admins.user_set.values_list("pk", flat=True)) if admins else set()
    lead_ids = set(leads.user_set.values_list("pk", flat=True)) if leads else set()
    # Someone in both groups was an admin first (roles.role_label's order).
    Membership.objects.bulk_create([Membership(user_id=pk, team=team, role="admin") for pk in admin_ids]
                                   + [Membership(user_id=pk, team=team, role="teamlead")
                                      for pk in lead_ids - admin_ids])
    if admin_ids:
        portal, _ = Group.objects.get_or_create(name="Portal administrator")
        portal.user_set.add(*admin_ids)


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
