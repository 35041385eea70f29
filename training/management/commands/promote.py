from django.core.management.base import BaseCommand, CommandError

from training.models import Deployment, ModelVersion
from training.versions import DeploymentError, model_version_promote


class Command(BaseCommand):
    help = "Deploy a model version by hand (recorded as a manual promotion)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("version")
        parser.add_argument("--reason", default="Promoted from the command line")

    def handle(self, *args, version: str, reason: str, **options) -> None:
        row = ModelVersion.objects.filter(name=version).first()
        if row is None:
            raise CommandError(f"No model version named {version!r}")
        try:
            model_version_promote(version=row, action=Deployment.Action.MANUAL, reason=reason)
        except DeploymentError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Deployed {row.name}")
