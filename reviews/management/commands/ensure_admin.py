import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin user if no superuser exists yet, and print how to log in."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        credentials = self.style.SUCCESS(f"username {username!r}, password {password!r}")
        self.stdout.write(f"Created the first admin user: {credentials}")
        self.stdout.write("Log in at http://127.0.0.1:8000/accounts/login/ (change the password in the admin).")
