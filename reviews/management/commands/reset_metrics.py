from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Empty PROMETHEUS_MULTIPROC_DIR. Run it only while no web or Celery process runs (`make run` does, "
        "before starting them): a running process keeps writing to the files it opened, deleted or not."
    )

    def handle(self, *args, **options) -> None:
        folder = settings.PROMETHEUS_MULTIPROC_DIR
        removed = 0
        for path in folder.glob("*.db"):
            path.unlink(missing_ok=True)
            removed += 1
        self.stdout.write(f"Removed {removed} metrics files from {folder}")
