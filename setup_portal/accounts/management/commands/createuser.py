from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from setup_portal.accounts.actions import do_create_team, do_create_user, validate_new_password
from setup_portal.teams.models import DEFAULT_TEAM_NAME, Membership, Team


class Command(BaseCommand):
    help = ("Create a portal user with a role in a team (and/or a portal administrator) and print the "
            "password. The team must exist (matched ignoring case) unless --create-team is given; without "
            f"--team the role is in the “{DEFAULT_TEAM_NAME}”, created when missing.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=sorted(Membership.Role.values),
                            help="the role in the team; required unless --portal-admin is given")
        parser.add_argument("--team", help=f"the team's name (default: {DEFAULT_TEAM_NAME})")
        parser.add_argument("--create-team", action="store_true", help="create the team when it does not exist")
        parser.add_argument("--portal-admin", action="store_true",
                            help="also a portal administrator: manages users, teams and memberships")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Use this password instead of a generated one.")

    def handle(self, username, role, team, create_team, portal_admin, email, password, **options):
        if not role and not portal_admin:
            raise CommandError("Give --role admin or --role teamlead (with --team), or --portal-admin, or both.")
        if team is not None and not role:
            raise CommandError("--team needs --role: the role the user gets in that team.")
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise CommandError(f"A user named {username!r} already exists.")
        if password:
            try:
                validate_new_password(password, username=username, email=email)
            except ValidationError as exc:
                raise CommandError("The password is refused: " + " ".join(exc.messages)) from None
        chosen = self._team(team, create=create_team) if role else None
        user, password = do_create_user(username, role=role, team=chosen, email=email, password=password,
                                        portal_admin=portal_admin)
        what = [f"{Membership.Role(role).label} of {chosen.name}"] if role else []
        what += ["portal administrator"] if portal_admin else []
        self.stdout.write(f"Created {user.get_username()} ({', '.join(what)}) with password: {password}")

    def _team(self, name: str | None, *, create: bool) -> Team:
        if name is None:
            return Team.objects.default()
        name = " ".join(name.split())
        found = Team.objects.filter(name__iexact=name).first()
        if found is not None:
            return found
        if not create:
            known = ", ".join(f"“{t}”" for t in Team.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"No team named “{name}” (teams: {known}). Check the name, or add --create-team "
                               "to create it.")
        try:
            team = do_create_team(name, acting_user=None)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"Created team “{team.name}”.")
        return team
