import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from setup_portal.accounts.actions import do_bootstrap_first_admin

# Development only: a reserved domain (RFC 2606) that never receives mail, so a reset link
# sent there reaches nobody.
DEVELOPMENT_EMAIL_DOMAIN = "example.com"


class Command(BaseCommand):
    help = "Create the roles, and the first admin when no user exists (prints its password once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--email", default=os.environ.get("ADMIN_EMAIL", "").strip(),
                            help="the first admin's e-mail address, where password resets go "
                                 "(default: ADMIN_EMAIL; required with DEBUG off)")

    def handle(self, username, email, **options):
        placeholder = not email
        if placeholder:
            if not settings.DEBUG and not get_user_model().objects.exists():
                raise CommandError("Give the first admin's e-mail address, where password resets go: "
                                   "--email you@your-company.com, or ADMIN_EMAIL in the environment.")
            email = f"{username}@{DEVELOPMENT_EMAIL_DOMAIN}"
        try:
            created = do_bootstrap_first_admin(username, email=email)
        except ValidationError:
            raise CommandError(f"{email!r} is not an e-mail address.") from None
        if created is None:
            self.stdout.write("Users already exist; no first admin created.")
            return
        user, password = created
        self.stdout.write(f"First admin created. Username: {user.get_username()}  Password: {password}")
        self.stdout.write("This password is shown once; change it after signing in.")
        if placeholder:
            self.stdout.write(f"E-mail: {email} is a placeholder that receives no mail; set ADMIN_EMAIL "
                              "before the first run, or change it at /accounts/email/ after signing in.")
        else:
            self.stdout.write(f"E-mail: {email} (password resets go there).")
