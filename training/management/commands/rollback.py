from django.core.management.base import BaseCommand, CommandError

from training.services import DeploymentError, model_version_rollback


class Command(BaseCommand):
    help = "Redeploy the previous champion (recorded as a rollback)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reason", default="")

    def handle(self, *args, reason: str, **options) -> None:
        try:
            version = model_version_rollback(reason=reason)
        except DeploymentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Rolled back to {version.name}")
