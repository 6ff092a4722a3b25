from django.core.management.base import BaseCommand

from setup_portal.accounts.actions import do_bootstrap_first_admin


class Command(BaseCommand):
    help = "Create the roles, and the first admin when no user exists (prints its password once)."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, username, **options):
        created = do_bootstrap_first_admin(username)
        if created is None:
            self.stdout.write("Users already exist; no first admin created.")
            return
        user, password = created
        self.stdout.write(f"First admin created. Username: {user.get_username()}  Password: {password}")
        self.stdout.write("This password is shown once; change it after signing in.")
