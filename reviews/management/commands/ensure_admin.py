import secrets
import shlex
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


def python_command() -> str:
    """How to call this project's Python from its folder: `.venv/bin/python` under `make run`, else `python`."""
    executable = Path(sys.executable)
    try:
        return shlex.quote(str(executable.relative_to(settings.BASE_DIR)))
    except ValueError:
        return "python"


class Command(BaseCommand):
    help = (
        "Create an admin user if no superuser exists yet and print its password, this once. The login address "
        "is printed by `make run` once the server answers (manage.py wait_ready)."
    )

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
        self.stdout.write(
            "The password is shown only this once. To set another: "
            f"{python_command()} manage.py changepassword {shlex.quote(username)}"
        )
