from django.core.management.base import BaseCommand, CommandError

from training.models import ModelVersion
from training.versions import DeploymentError, model_version_rollback


class Command(BaseCommand):
    help = "Redeploy the previous champion of a model kind (recorded as a rollback)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--reason", default="")
        parser.add_argument(
            "--kind", choices=ModelVersion.Kind.values, default=ModelVersion.Kind.SENTIMENT, help="default: sentiment"
        )

    def handle(self, *args, reason: str, kind: str, **options) -> None:
        try:
            version = model_version_rollback(kind=kind, reason=reason)
        except DeploymentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Rolled back to {version.name}")
