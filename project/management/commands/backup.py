"""Back up reviews, labels, predictions, aspects, model metadata and model files (project/backup/)."""

from __future__ import annotations

import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from project.backup.common import BackupError
from project.backup.writing import backup_create


class Command(BaseCommand):
    help = (
        "Write a timestamped backup (manifest with counts, migrations and checksums; gzipped JSON lines per "
        "model; the model files) into a folder or to s3://bucket/prefix. Prints where it went on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--to",
            default=str(settings.VAR_DIR / "backups"),
            help="A local folder or s3://bucket/prefix (default: VAR_DIR/backups)",
        )

    def handle(self, *args, **options):
        def log(message: str) -> None:
            print(message, file=sys.stderr)

        try:
            location = backup_create(target=options["to"], log=log)
        except BackupError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(location)
