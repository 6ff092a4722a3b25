"""The teams migration on a database from before teams: everything lands in the Default team, so a
one-team installation looks as it did (admins still manage users)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Runs in a child process on a fresh SQLite file: migrate to just before teams, write old data
# with the historical models, migrate to the end, and print what the real models say.
SCRIPT = r'''
import json
import django
django.setup()
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("auth", "0012_alter_user_first_name_max_length"), ("wizard", "0002_certificate_credentials"),
          ("instances", "0008_next_certificate"), ("audit", "0001_initial")]
executor = MigrationExecutor(connection)
executor.migrate(BEFORE)
old = executor.loader.project_state(BEFORE).apps
User, Group = old.get_model("auth", "User"), old.get_model("auth", "Group")
Setup, Instance = old.get_model("wizard", "Setup"), old.get_model("instances", "Instance")
AuditEvent = old.get_model("audit", "AuditEvent")
admins, leads = Group.objects.create(name="Admin"), Group.objects.create(name="Team lead")
ann = User.objects.create(username="ann")
ann.groups.add(admins)
tom = User.objects.create(username="tom")
tom.groups.add(leads)
both = User.objects.create(username="bea")
both.groups.add(admins, leads)
User.objects.create(username="nora")
setup = Setup.objects.create(owner=ann, status="completed")
inst = Instance.objects.create(name="old-crm", owner=ann, setup=setup, dynamics_url="https://old.crm4.dynamics.com",
                               tenant="contoso.onmicrosoft.com", auth_type="oauth2")
AuditEvent.objects.create(actor_label="ann", verb="instance.created", target_type="instance",
                          target_id=str(inst.pk), target_label="old-crm")
AuditEvent.objects.create(actor_label="ann", verb="user.created", target_type="user", target_id=str(tom.pk))

executor = MigrationExecutor(connection)
executor.migrate(executor.loader.graph.leaf_nodes())

from django.contrib.auth import get_user_model
from setup_portal.teams import roles
from setup_portal.audit.models import AuditEvent
from setup_portal.instances.models import Instance
from setup_portal.teams.models import Membership, Team
from setup_portal.wizard.models import Setup

users = {u.username: u for u in get_user_model().objects.all()}
print(json.dumps({
    "teams": list(Team.objects.values_list("name", flat=True)),
    "memberships": sorted([m.user.username, m.team.name, m.role] for m in Membership.objects.all()),
    "portal_admins": sorted(n for n, u in users.items() if roles.is_portal_admin(u)),
    "roles": {n: roles.role_label(u) for n, u in users.items()},
    "setup_team": Setup.objects.get().team.name,
    "instance_team": Instance.objects.get().team.name,
    "audit": sorted([e.verb, e.team.name if e.team_id else None] for e in AuditEvent.objects.all()),
}))
'''


def test_old_data_lands_in_the_default_team(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="config.settings")
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, check=True, timeout=180,
                          capture_output=True, text=True)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["teams"] == ["Default team"]
    assert found["memberships"] == [["ann", "Default team", "admin"], ["bea", "Default team", "admin"],
                                    ["tom", "Default team", "teamlead"]]
    assert found["portal_admins"] == ["ann", "bea"]  # the admins still manage users
    assert found["roles"] == {"ann": "Admin", "bea": "Admin", "tom": "Team lead", "nora": "No role"}
    assert found["setup_team"] == found["instance_team"] == "Default team"
    assert found["audit"] == [["instance.created", "Default team"], ["user.created", None]]
