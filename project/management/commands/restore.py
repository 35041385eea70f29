"""Restore a backup made by `manage.py backup` (project/backup/)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from project.backup.common import BackupError
from project.backup.restoring import backup_restore, rollups_rebuild


class Command(BaseCommand):
    help = (
        "Load a backup (a folder or s3://bucket/prefix/revsent-backup-...) into a freshly migrated database in "
        "one transaction, keeping primary keys, and put its model files back. Refuses a database that holds "
        "data unless --force, and a backup made at other migrations."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", help="The backup's folder (or its manifest.json) or its s3:// URI")
        parser.add_argument(
            "--force", action="store_true", help="Replace whatever the backed-up tables hold now (deleted first)"
        )
        parser.add_argument(
            "--skip-rollups", action="store_true", help="Do not rebuild the dashboard and aspect rollups"
        )

    def handle(self, *args, **options):
        def log(message: str) -> None:
            print(message, file=sys.stderr)

        try:
            result = backup_restore(source=options["source"], force=options["force"], log=log)
        except BackupError as error:
            raise CommandError(str(error)) from error
        if not options["skip_rollups"]:
            try:
                rollups_rebuild(log)
            except Exception as error:  # the data is restored; rollups can be rebuilt later
                log(f"warning: rollups not rebuilt ({error}); run manage.py rebuild_rollups")
        rows = sum(result.counts.values())
        self.stdout.write(
            f"Restored {result.name}: {rows} rows in {len(result.counts)} tables, {result.artifacts} model files"
        )
