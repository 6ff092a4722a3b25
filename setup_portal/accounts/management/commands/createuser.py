from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from setup_portal.accounts.actions import do_create_user, validate_new_password
from setup_portal.accounts.roles import ROLE_BY_KEY


class Command(BaseCommand):
    help = "Create a portal user with a role and print the generated password."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=sorted(ROLE_BY_KEY), required=True)
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Use this password instead of a generated one.")

    def handle(self, username, role, email, password, **options):
        if get_user_model().objects.filter(username=username).exists():
            raise CommandError(f"A user named {username!r} already exists.")
        if password:
            try:
                validate_new_password(password, username=username, email=email)
            except ValidationError as exc:
                raise CommandError("The password is refused: " + " ".join(exc.messages)) from None
        user, password = do_create_user(username, role=role, email=email, password=password)
        self.stdout.write(f"Created {ROLE_BY_KEY[role]} {user.get_username()} with password: {password}")
