from django.core.management.base import BaseCommand

from training import tracking
from training.registry import model_version_ensure_baseline
from training.versions import model_version_register_in_mlflow


class Command(BaseCommand):
    help = "Create the MLflow tracking store and register the baseline (run once at start-up, by one process)."

    def handle(self, *args, **options) -> None:
        tracking.safely("initialise the tracking store", tracking.ensure_store)
        model_version_register_in_mlflow(version=model_version_ensure_baseline())
        self.stdout.write("MLflow store ready")
