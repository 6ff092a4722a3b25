"""`python manage.py create_api_key USERNAME [--name N] [--expires-days D]`: a new key on stdout, alone.

Only the key is printed (scripts capture it: `KEY=$(python manage.py create_api_key alice)`);
what it is, and when it expires, goes to stderr.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from setup_portal.api.keys.actions import DEFAULT_DAYS, MAX_DAYS, ApiKeyError, do_create_api_key


class Command(BaseCommand):
    help = "Create a personal API key for a user and print it (only the key, on stdout)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="Command line", help="what the key is for (default: Command line)")
        parser.add_argument("--expires-days", type=int, default=DEFAULT_DAYS,
                            help=f"days until it expires, 1 to {MAX_DAYS} (default: {DEFAULT_DAYS})")

    def handle(self, *args, username: str, name: str, expires_days: int, **options):
        User = get_user_model()
        try:
            owner = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(f"No user is called {username!r}.") from None
        try:
            new = do_create_api_key(owner, name, expires_days=expires_days, acting_user=None)
        except ApiKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(new.key)
        self.stderr.write(f"API key {new.api_key.name!r} for {owner.get_username()}, "
                          f"expires {new.api_key.expires_at:%Y-%m-%d %H:%M} UTC. It is shown only this once.")
