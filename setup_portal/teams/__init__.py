"""Teams: every setup and instance belongs to one team; people belong to teams with a role.

The model API (see models.py):
- `Team(name, created_at)`; `Team.objects.default()` is the "Default team" (created on demand)
  that migrated data and `teams.roles.set_role` use.
- `Membership(user, team, role)` with `role` one of `Membership.Role.ADMIN` ("admin") and
  `Membership.Role.TEAM_LEAD` ("teamlead"); one membership per (user, team).
- `roles_of(user) -> dict[team_id, role]`: a user's memberships, cached on the user object
  (so once per request); `forget_roles(user)` drops the cache after a change.
- `default_team_id()`: where `Setup.save()` / `Instance.save()` put a row saved without a team
  (an instance without a team takes its setup's). bulk_create must pass `team` itself.

Portal administrators (manage users, teams and memberships; see everything) are not a team
role: they are the "Portal administrator" group (superusers count), known by
`teams.roles` (`is_portal_admin`, `set_portal_admin`).

Who may do what is decided in `teams.permissions` only (team_ids, can_view_instance, ...: rules
that read team_id / owner_id); each app keeps its queries next to its models (instances.access,
wizard.access, audit.access).
"""
